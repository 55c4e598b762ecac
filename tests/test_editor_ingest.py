"""Editors add media with their own login (issue 28): ingest over TCP as an editor, from the CLI and in-process,
into staging tables moved into place by mediatag.ingest_staged; viewers, Query logins, editors without write
access and paths outside the media roots are refused; staged rows stay private to their login; a crash mid-batch
loses nothing and a rerun resumes; two editors ingest at once; and the rows equal the superuser's ingest of the
same files. Ingest as a job (mediatag.queue_ingest, run by the service's worker) is tested here too; the UI's
upload in tests/test_ui_ingest.py and tests/browser/test_ui_ingest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mediatag.db import connect
from mediatag.ingest import IngestOptions, IngestRefused, ingest
from mediatag.ingest import pipeline as pipeline_module

from .conftest import make_login, unique
from .mediafactory import COCO, video_with_cuts, write_srt

STAGING = ("ingest_stage_asset", "ingest_stage_shot", "ingest_stage_keyframe", "ingest_stage_segment")


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Path:
    """A media root with real photos and a real video with subtitles, set as a media root by the operator."""
    root = tmp_path_factory.mktemp("library")
    photos = root / "photos"
    photos.mkdir()
    for src in sorted((COCO / "images").glob("*.jpg"))[:10]:
        shutil.copy(src, photos / src.name)
    clips = root / "clips"
    clips.mkdir()
    video_with_cuts(clips / "clip.mp4", ("testsrc", "red"), seconds=2.0)
    write_srt(clips / "clip.srt", [(200, 1500, "A test pattern on screen."), (2100, 3800, "Now all red.")])
    (root / "keyframes").mkdir()
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.add_media_root(%s)", (str(root),))
    return root


def _opts(library: Path, **kw) -> IngestOptions:
    return IngestOptions(progress=False, asr="off", media_dir=library / "keyframes", **kw)


def _as(url: str, dataset: str, paths: list[Path], opts: IngestOptions):
    with connect(url, setup=False) as c:
        return ingest(c, dataset, paths, opts)


def _contents(conn: psycopg.Connection, dataset: str) -> dict[str, list[tuple]]:
    """Everything an ingest wrote for a dataset, by content (ids and the dataset's folder name left out)."""
    d, slug = conn.execute("SELECT id, slug FROM mediatag.dataset WHERE name = %s", (dataset,)).fetchone()
    q = {
        "assets": """SELECT kind, path, sha256, size_bytes, duration_ms, width, height, tech::text, metadata::text,
                            status, error FROM mediatag.asset WHERE dataset_id = %s ORDER BY sha256""",
        "shots": """SELECT a.sha256, s.shot_index, s.start_ms, s.end_ms FROM mediatag.shot s
                    JOIN mediatag.asset a ON a.id = s.asset_id WHERE a.dataset_id = %s ORDER BY 1, 2""",
        "keyframes": """SELECT a.sha256, s.shot_index, k.keyframe_index, k.time_ms, k.image_path, k.width, k.height,
                               k.embedding::text FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id
                        LEFT JOIN mediatag.shot s ON s.id = k.shot_id WHERE k.dataset_id = %s ORDER BY 1, 3""",
        "segments": """SELECT a.sha256, t.segment_index, t.start_ms, t.end_ms, t.text, t.source, t.language,
                              t.embedding::text FROM mediatag.transcript_segment t
                       JOIN mediatag.asset a ON a.id = t.asset_id WHERE t.dataset_id = %s ORDER BY 1, 2""",
    }
    out = {k: conn.execute(sql, (d,)).fetchall() for k, sql in q.items()}
    # Video keyframes are written under the dataset's own folder: the same files under another name.
    out["keyframes"] = [(*r[:4], r[4].replace(f"/{slug}/", "/<slug>/"), *r[5:]) for r in out["keyframes"]]
    return out


def _staged(conn: psycopg.Connection) -> int:
    return sum(conn.execute(f"SELECT count(*) FROM mediatag.{t}").fetchone()[0] for t in STAGING)


def test_editor_ingest_equals_the_superuser_path(db_url, logins, library):
    paths = [library / "photos", library / "clips"]
    mine, operators = unique("ed_lib"), unique("op_lib")
    summary = _as(logins["editor"], mine, paths, _opts(library))
    assert (summary.images, summary.videos, summary.errors) == (10, 1, []), summary.render()
    assert summary.transcript_segments == 2 and summary.shots == 2
    _as(db_url, operators, paths, _opts(library))
    with psycopg.connect(db_url) as c:
        ed, op = _contents(c, mine), _contents(c, operators)
        assert len(ed["assets"]) == 11 and len(ed["keyframes"]) >= 12 and len(ed["segments"]) == 2
        assert ed == op
        started_by = c.execute(
            "SELECT r.started_by, r.finished_at IS NOT NULL FROM mediatag.ingest_run r"
            " WHERE r.dataset_id = mediatag.dataset_id(%s)",
            (mine,),
        ).fetchall()
        assert started_by == [(psycopg.conninfo.conninfo_to_dict(logins["editor"])["user"], True)]
        assert _staged(c) == 0
        # The dataset is searchable: its HNSW index was built by build_indexes for the editor.
        d = c.execute("SELECT mediatag.dataset_id(%s)", (mine,)).fetchone()[0]
        assert c.execute("SELECT mediatag._index_valid(%s)", (f"keyframe_hnsw_ds{d}",)).fetchone()[0] is True


def _cli(url: str, library: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEDIATAG_DATABASE_URL": url, "MEDIATAG_MEDIA_DIR": str(library / "keyframes")}
    return subprocess.run(
        [sys.executable, "-m", "mediatag.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_cli_ingest_as_editor_viewer_and_query(db_url, logins, library):
    name = unique("cli_ed")
    done = _cli(logins["editor"], library, "ingest", name, str(library / "photos"), "--asr", "off", "-q")
    assert done.returncode == 0, done.stderr
    assert "10 new assets (10 images" in done.stdout
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT images FROM mediatag.dataset_summary(%s)", (name,)).fetchone()[0] == 10
    for role in ("viewer", "query"):
        refused = _cli(logins[role], library, "ingest", unique("cli_no"), str(library / "photos"), "-q")
        assert refused.returncode == 2
        assert "refused" in refused.stderr and "needs the mediatag_editor role" in refused.stderr, refused.stderr


@pytest.mark.parametrize("role", ["viewer", "query"])
def test_readers_may_not_ingest(logins, library, db_url, role):
    name = unique("no_ing")
    with pytest.raises(IngestRefused, match="needs the mediatag_editor role"):
        _as(logins[role], name, [library / "photos"], _opts(library))
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM mediatag.dataset WHERE name = %s", (name,)).fetchone()[0] == 0


def test_editor_without_write_access_is_refused(db_url, logins, library):
    name = unique("closed")
    _as(db_url, name, [library / "photos" / p for p in sorted(os.listdir(library / "photos"))[:1]], _opts(library))
    editor = psycopg.conninfo.conninfo_to_dict(logins["editor"])["user"]
    other = make_login(db_url, f"mt_other_{uuid.uuid4().hex[:6]}", "editor")
    with psycopg.connect(db_url, autocommit=True) as c:
        other_login = psycopg.conninfo.conninfo_to_dict(other)["user"]
        c.execute("SELECT mediatag.grant_dataset_access(%s, %s, level => 'editor')", (name, other_login))
        c.execute("SELECT mediatag.grant_dataset_access(%s, %s, level => 'viewer')", (name, editor))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f'needs editor access to dataset "{name}"'):
        _as(logins["editor"], name, [library / "photos"], _opts(library))
    with psycopg.connect(logins["editor"]) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("SELECT mediatag.queue_ingest(%s, %s)", (name, [str(library / "photos")]))
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT images FROM mediatag.dataset_summary(%s)", (name,)).fetchone()[0] == 1


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder with a photo, under no media root (not under pytest's folders: other tests make those roots)."""
    with tempfile.TemporaryDirectory(prefix="mediatag-outside-") as d:
        shutil.copy(COCO / "images" / sorted(os.listdir(COCO / "images"))[20], Path(d) / "secret.jpg")
        yield Path(d)


def test_paths_outside_the_media_roots_are_refused(logins, library, outside, db_url):
    name = unique("outside")
    for path in (outside, library / "photos" / ".." / "photos"):  # ".." is refused even where it leads back in
        with pytest.raises(IngestRefused, match="outside the media roots") as e:
            _as(logins["editor"], name, [path], _opts(library))
        assert "the media roots are" in (e.value.hint or "")
    # A symlink inside a root that leads out: that file is refused, the rest goes in.
    linked = library / "linked"
    linked.mkdir(exist_ok=True)
    shutil.copy(library / "photos" / sorted(os.listdir(library / "photos"))[0], linked / "fine.jpg")
    (linked / "escape.jpg").symlink_to(outside / "secret.jpg")
    summary = _as(logins["editor"], name, [linked], _opts(library))
    assert summary.images == 1
    assert [Path(p).name for p, _ in summary.errors] == ["secret.jpg"]
    assert "outside the media roots" in summary.errors[0][1]
    with psycopg.connect(db_url) as c:
        paths = [r[0] for r in c.execute("SELECT path FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)",
                                         (name,))]  # fmt: skip
        assert paths == [str((linked / "fine.jpg").resolve())]
    # The database refuses it too, whatever a client claims: the move checks every staged path.
    with psycopg.connect(logins["editor"]) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="outside"):
            c.execute("SELECT mediatag.start_ingest(%s, %s)", (name, [str(outside / "secret.jpg")]))


def test_staged_rows_stay_private(db_url, logins, library):
    name = unique("private")
    _as(logins["editor"], name, [library / "photos" / sorted(os.listdir(library / "photos"))[0]], _opts(library))
    other_url = make_login(db_url, f"mt_other_{uuid.uuid4().hex[:6]}", "editor")
    other = psycopg.conninfo.conninfo_to_dict(other_url)["user"]
    with psycopg.connect(logins["editor"]) as a, psycopg.connect(other_url) as b:
        run = a.execute("SELECT mediatag.start_ingest(%s, %s)", (name, [str(library / "photos")])).fetchone()[0]
        a.commit()
        forged = str(library / "photos" / "forged.jpg")
        # B slips a row into A's run, claiming to be A: the trigger stamps it as B's.
        b.execute(
            "INSERT INTO mediatag.ingest_stage_asset (ingest_run_id, staged_by, item, kind, path, sha256)"
            " VALUES (%s, %s, 0, 'image', %s, repeat('a', 64))",
            (run, psycopg.conninfo.conninfo_to_dict(logins["editor"])["user"], forged),
        )
        b.commit()
        for statement in (
            "SELECT * FROM mediatag.ingest_stage_asset",
            "UPDATE mediatag.ingest_stage_asset SET path = '/etc/passwd'",
            "DELETE FROM mediatag.ingest_stage_keyframe",
            f"SELECT * FROM mediatag.ingest_staged({run})",
            f"SELECT mediatag.finish_ingest({run})",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                b.execute(statement)
            b.rollback()
        with psycopg.connect(db_url) as c:
            assert c.execute("SELECT staged_by FROM mediatag.ingest_stage_asset WHERE ingest_run_id = %s",
                             (run,)).fetchall() == [(other,)]  # fmt: skip
        assert a.execute("SELECT * FROM mediatag.ingest_staged(%s)", (run,)).fetchall() == []
        a.commit()
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM mediatag.asset WHERE path = %s", (forged,)).fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM mediatag.ingest_stage_asset WHERE ingest_run_id = %s",
                         (run,)).fetchone()[0] == 0  # fmt: skip


def test_crash_mid_batch_leaves_nothing_half_moved(db_url, logins, library, monkeypatch):
    name = unique("crash")
    photos = sorted((library / "photos").iterdir())[:5]
    real_move, calls = pipeline_module.move_batch, []

    def crash_on_second(conn, *args):
        calls.append(1)
        stored = real_move(conn, *args)  # staged and moved ...
        if len(calls) == 2:
            raise RuntimeError("the ingester died before its batch committed")  # ... but never committed
        return stored

    monkeypatch.setattr(pipeline_module, "move_batch", crash_on_second)
    with pytest.raises(RuntimeError, match="died"):
        _as(logins["editor"], name, photos, _opts(library, batch_files=2))
    with psycopg.connect(db_url) as c:
        count = "SELECT count(*) FROM mediatag.{} WHERE dataset_id = mediatag.dataset_id(%s)"
        assert c.execute(count.format("asset"), (name,)).fetchone()[0] == 2  # the first batch only
        assert c.execute(count.format("keyframe"), (name,)).fetchone()[0] == 2
        assert _staged(c) == 0
    monkeypatch.setattr(pipeline_module, "move_batch", real_move)
    summary = _as(logins["editor"], name, photos, _opts(library, batch_files=2))
    assert (summary.ingested, summary.skipped_known) == (3, 2)
    with psycopg.connect(db_url) as c:
        assert c.execute(count.format("asset"), (name,)).fetchone()[0] == 5
        assert c.execute(count.format("keyframe"), (name,)).fetchone()[0] == 5
        assert _staged(c) == 0


def test_two_editors_ingest_at_once(db_url, library):
    name = unique("together")
    photos = sorted((library / "photos").iterdir())
    urls = [make_login(db_url, f"mt_ed{i}_{uuid.uuid4().hex[:6]}", "editor") for i in (1, 2)]
    shares = [photos[:6], photos[3:]]  # three files in both
    results: list = [None, None]

    def run(i: int) -> None:
        try:
            results[i] = _as(urls[i], name, shares[i], _opts(library, batch_files=2))
        except Exception as e:  # noqa: BLE001 — reported below
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r.ingested for r in results) == 10
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT a.path, count(k.id) FROM mediatag.asset a JOIN mediatag.keyframe k ON k.asset_id = a.id"
            " WHERE a.dataset_id = mediatag.dataset_id(%s) GROUP BY 1",
            (name,),
        ).fetchall()
        assert sorted(Path(p).name for p, _ in rows) == sorted(p.name for p in photos)
        assert {n for _, n in rows} == {1}
        assert _staged(c) == 0


def test_queued_ingest_runs_as_a_job(db_url, logins, library, outside):
    from mediatag.ingest import queue

    name = unique("queued")
    with psycopg.connect(logins["viewer"]) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("SELECT mediatag.queue_ingest(%s, %s)", (name, [str(library / "photos")]))
    with psycopg.connect(logins["editor"]) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="outside"):
            c.execute("SELECT mediatag.queue_ingest(%s, %s)", (name, [str(outside)]))
        c.rollback()
        job = c.execute("SELECT mediatag.queue_ingest(%s, %s)", (name, [str(library / "photos")])).fetchone()[0]
        c.commit()
        assert c.execute("SELECT state FROM mediatag.ingest_jobs(%s)", (name,)).fetchall() == [("queued",)]
    assert queue.run_pending(db_url) >= 1
    with psycopg.connect(logins["editor"]) as c:
        row = c.execute(
            "SELECT job_id, state, files, files_done, ingested, errors FROM mediatag.ingest_jobs(%s)", (name,)
        ).fetchone()
        assert row == (job, "done", 10, 10, 10, 0)
        assert c.execute("SELECT images FROM mediatag.dataset_summary(%s)", (name,)).fetchone()[0] == 10
