"""Adding media from a dataset's page in headless Chromium (issue 28): an editor uploads a real photo and a real
video, the ingest job runs in the service's worker, and its progress shows on the page; a viewer sees no forms
and its POSTs are refused."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import expect

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest, queue

from ..conftest import unique
from ..mediafactory import COCO, video_with_cuts
from .conftest import assert_controls_labeled, post_form, screenshot

# A multipart POST from the page itself, with the page's CSRF token first and one small file.
POST_UPLOAD = """async (url) => {
    const fd = new FormData();
    fd.append('csrftoken', document.querySelector('meta[name=csrftoken]').content);
    fd.append('files', new Blob([new Uint8Array([1, 2, 3])], {type: 'image/jpeg'}), 'x.jpg');
    const r = await fetch(url, {method: 'POST', body: fd, redirect: 'manual'});
    return [r.status, await r.text()];
}"""


@pytest.fixture(scope="module")
def dataset(db_url: str, ui_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A dataset with one photo (made by the operator), and the UI's upload folder set as a media root."""
    name = unique("browser_add")
    with connect(db_url) as c:
        ingest(c, name, [sorted((COCO / "images").glob("*.jpg"))[1]], IngestOptions(progress=False))
        for folder in tmp_path_factory.getbasetemp().glob("uploads*"):  # the ui_url fixture's upload_dir
            c.execute("SELECT mediatag.add_media_root(%s)", (str(folder),))
        c.commit()
    return name


def test_editor_uploads_media_and_sees_the_job_finish(editor, dataset, db_url, tmp_path):
    photo = sorted((COCO / "images").glob("*.jpg"))[40]
    video = video_with_cuts(tmp_path / "street scene.mp4", ("smpte", "red"), seconds=1.0)
    editor.goto(f"/mediatag/dataset?name={dataset}")
    assert_controls_labeled(editor)
    form = editor.locator("#upload-media")
    form.get_by_label("Images and videos").set_input_files([str(photo), str(video)])
    form.get_by_role("button", name="Upload and ingest").click()
    editor.wait_for_url("**/mediatag/dataset?*")
    expect(editor.locator(".message-info")).to_contain_text("Uploaded 2 files; ingest job")
    job = editor.locator("#ingest-jobs tbody tr").first
    expect(job).to_have_attribute("data-state", "queued")
    assert queue.run_pending(db_url) >= 1  # what the worker in `mediatag serve` does
    editor.reload()
    job = editor.locator("#ingest-jobs tbody tr").first
    expect(job).to_have_attribute("data-state", "done")
    expect(job.locator(".mt-job-files")).to_have_text("2 of 2")
    expect(editor.locator(".mt-grid .mt-cap", has_text="street_scene-")).to_contain_text("video")
    screenshot(editor, "dataset_add_media")
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT kind, path FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY id",
            (dataset,),
        ).fetchall()
    assert [k for k, _ in rows] == ["image", "image", "video"]
    assert Path(rows[2][1]).name.startswith("street_scene-") and Path(rows[2][1]).parent.name == dataset.lower()


def test_viewer_gets_no_forms_and_its_posts_are_refused(viewer, dataset, db_url, ui_logins):
    viewer.goto(f"/mediatag/dataset?name={dataset}")
    expect(viewer.locator("h1")).to_have_text(f"Dataset {dataset}")
    expect(viewer.locator("#upload-media")).to_have_count(0)
    expect(viewer.locator("#ingest-folder")).to_have_count(0)
    status, body = post_form(viewer, f"/mediatag/dataset/ingest-folder?name={dataset}", {"folder": "/tmp"})
    assert status == 403 and "needs the mediatag_editor role" in body
    status, body = viewer.evaluate(POST_UPLOAD, f"/mediatag/dataset/upload?name={dataset}")
    assert status == 403 and "needs the mediatag_editor role" in body
    with psycopg.connect(db_url) as c:
        jobs = c.execute(
            "SELECT count(*) FROM mediatag.job WHERE kind = 'ingest' AND payload ->> 'queued_by' = %s",
            (ui_logins["viewer"].user,),
        ).fetchone()[0]
    assert jobs == 0
