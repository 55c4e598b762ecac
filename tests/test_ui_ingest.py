"""Adding media from a dataset's page, in-process through Datasette's client as real logins (issue 28): an editor
uploads real images and a video (multipart, with the CSRF token) or names a folder under the media roots; the
work is an ingest job the service's worker runs, and its progress shows on the page. Viewers get no forms and
their POSTs are refused; bad files, oversized uploads and folders outside the media roots are refused and store
nothing. The same in headless Chromium: tests/browser/test_ui_ingest.py."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest, queue

from .conftest import unique
from .mediafactory import COCO, video_with_cuts
from .test_ui_api import UI, Person


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Path:
    """A media root holding the UI's upload folder and a folder of photos to ingest by name."""
    r = tmp_path_factory.mktemp("ui_media_root")
    (r / "uploads").mkdir()
    (r / "shelf").mkdir()
    for src in sorted((COCO / "images").glob("*.jpg"))[30:33]:
        shutil.copy(src, r / "shelf" / src.name)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.add_media_root(%s)", (str(r),))
    return r


@pytest.fixture(scope="module")
def ui(db_url: str, logins: dict[str, str], root: Path, tmp_path_factory) -> Iterator[UI]:
    from datasette_mediatag.app import login_url_for, make_datasette

    ds = make_datasette(
        login_url_for(db_url),
        thumb_dir=str(tmp_path_factory.mktemp("thumbs")),
        upload_dir=str(root / "uploads"),
        allowed_hosts=["localhost"],
    )
    u = UI(ds)
    yield u
    u.close()


@pytest.fixture(scope="module")
def people(ui: UI, logins: dict[str, str]) -> dict[str, Person]:
    return {role: ui.log_in(logins[role]) for role in ("editor", "viewer")}


@pytest.fixture(scope="module")
def dataset(db_url: str) -> str:
    """A dataset with one photo, made by the operator."""
    name = unique("ui_add")
    with connect(db_url) as c:
        ingest(c, name, [sorted((COCO / "images").glob("*.jpg"))[0]], IngestOptions(progress=False))
    return name


def _upload(person: Person, dataset: str, files: list[tuple[str, bytes, str]]):
    parts = [("files", (name, data, ctype)) for name, data, ctype in files]
    return person.ui.anonymous(
        "POST",
        "/mediatag/dataset/upload",
        params={"name": dataset},
        data={"csrftoken": person.token},
        files=parts,
        cookies=person.cookies,
    )


def _messages(person: Person, r) -> list[str]:
    """The messages a POST's redirect carries (Datasette keeps them in a signed cookie)."""
    return [m for m, _ in person.ui.ds.unsign(r.cookies["ds_messages"], "messages")]


def _uploaded(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "uploads").rglob("*") if p.is_file())


def _assets(db_url: str, dataset: str) -> list[str]:
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT path FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY path", (dataset,)
        )
        return [Path(r[0]).name for r in rows]


def test_viewer_sees_no_forms_and_is_refused(people, dataset, root):
    viewer = people["viewer"]
    page = viewer.get("/mediatag/dataset", name=dataset)
    assert page.status_code == 200 and "Dataset " in page.text
    assert 'id="upload-media"' not in page.text and 'id="ingest-folder"' not in page.text
    photo = sorted((COCO / "images").glob("*.jpg"))[5]
    r = _upload(viewer, dataset, [("p.jpg", photo.read_bytes(), "image/jpeg")])
    assert r.status_code == 403 and "needs the mediatag_editor role" in r.text
    r = viewer.ui.anonymous(
        "POST",
        "/mediatag/dataset/ingest-folder",
        params={"name": dataset},
        data={"csrftoken": viewer.token, "folder": str(root / "shelf")},
        cookies=viewer.cookies,
    )
    assert r.status_code == 403 and "needs the mediatag_editor role" in r.text
    assert _uploaded(root) == []


def test_editor_uploads_images_and_a_video(people, dataset, root, db_url, tmp_path):
    editor = people["editor"]
    page = editor.get("/mediatag/dataset", name=dataset)
    assert 'id="upload-media"' in page.text and str(root) in page.text
    photos = sorted((COCO / "images").glob("*.jpg"))[10:12]
    video = video_with_cuts(tmp_path / "clip.mp4", ("red", "blue"), seconds=1.0)
    files = [
        ("../../etc/evil name!.JPG", photos[0].read_bytes(), "image/jpeg"),
        ("holiday photo.jpg", photos[1].read_bytes(), "image/jpeg"),
        ("clip.mp4", video.read_bytes(), "video/mp4"),
    ]
    r = _upload(editor, dataset, files)
    assert r.status_code == 302, r.text
    assert any(m.startswith("Uploaded 3 files; ingest job ") for m in _messages(editor, r))
    stored = _uploaded(root)
    assert len(stored) == 3
    assert all(n.replace("-", "").replace("_", "").replace(".", "").isalnum() for n in stored), stored
    assert any(n.startswith("evil_name-") and n.endswith(".jpg") for n in stored), stored
    page = editor.get("/mediatag/dataset", name=dataset)
    assert 'data-state="queued"' in page.text
    assert queue.run_pending(db_url) >= 1
    page = editor.get("/mediatag/dataset", name=dataset)
    assert 'data-state="done"' in page.text and "3 of 3" in page.text
    assert set(stored) <= set(_assets(db_url, dataset))
    with psycopg.connect(db_url) as c:
        kinds = c.execute(
            "SELECT kind, count(*) FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)"
            " GROUP BY 1 ORDER BY 1",
            (dataset,),
        ).fetchall()
    assert kinds == [("image", 3), ("video", 1)]


def test_bad_uploads_store_nothing(people, dataset, root, monkeypatch):
    from datasette_mediatag import media_uploads

    editor = people["editor"]
    before = _uploaded(root)
    photo = sorted((COCO / "images").glob("*.jpg"))[13].read_bytes()
    r = _upload(editor, dataset, [("ok.jpg", photo, "image/jpeg"), ("notes.txt", b"not media", "text/plain")])
    assert r.status_code == 400 and "notes.txt is not an image or video file" in r.text
    r = _upload(editor, dataset, [("broken.jpg", photo[:500], "image/jpeg")])
    assert r.status_code == 400 and "broken.jpg is not a readable image" in r.text
    monkeypatch.setattr(media_uploads, "MAX_MEDIA_REQUEST", 64 << 10)
    r = _upload(editor, dataset, [("big.jpg", photo, "image/jpeg")])
    assert r.status_code == 413 and "at most 0.0625 MiB" in r.text
    assert _uploaded(root) == before


def test_editor_ingests_a_folder_and_outside_paths_are_refused(people, dataset, root, db_url):
    editor = people["editor"]

    def post(folder: str):
        return editor.ui.anonymous(
            "POST",
            "/mediatag/dataset/ingest-folder",
            params={"name": dataset},
            data={"csrftoken": editor.token, "folder": folder},
            cookies=editor.cookies,
        )

    with tempfile.TemporaryDirectory() as elsewhere:
        r = post(elsewhere)
        assert r.status_code == 302
        assert any("lie outside" in m and elsewhere in m for m in _messages(editor, r)), _messages(editor, r)
    with psycopg.connect(db_url) as c:
        queued = c.execute("SELECT count(*) FROM mediatag.ingest_jobs(%s) WHERE state = 'queued'", (dataset,))
        assert queued.fetchone()[0] == 0
    r = post(str(root / "shelf"))
    assert r.status_code == 302 and any(m.startswith("Ingest job ") for m in _messages(editor, r))
    assert queue.run_pending(db_url) >= 1
    assert {p.name for p in (root / "shelf").iterdir()} <= set(_assets(db_url, dataset))
