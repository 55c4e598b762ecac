"""The "Filter indexes" page in headless Chromium: an editor builds one from the dataset page with the mouse and
one with the keyboard, bad metadata gets the UI's or the database's words, a viewer sees the list without controls
and is refused (403) by the UI and by the database, a search with the filter finds its photos only, and the editor drops
them. The tests run in order on a dataset of their own."""

from __future__ import annotations

from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect
from psycopg.conninfo import make_conninfo

from mediatag.db import connect

from ..conftest import unique
from .conftest import assert_controls_labeled, post_form, screenshot, tab_to


@pytest.fixture(scope="module")
def series_photos(db_url, service, coco_files, media_dir):
    """Five photos in two series, with a series name holding markup characters (shown as text, never as HTML)."""
    from mediatag.ingest import IngestOptions, ingest

    name = unique("filtered")
    with connect(db_url) as c:
        for series, files in (("<b>Kitchen</b>", coco_files[51:54]), ("Garden", coco_files[54:56])):
            ingest(c, name, files, IngestOptions(progress=False, media_dir=media_dir, metadata={"SeriesName": series}))
    return name


def _indexes(db_url: str, dataset: str) -> dict[str, int]:
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT metadata ->> 'SeriesName', keyframes FROM mediatag.filter_indexes(%s)", [dataset])
        return dict(rows.fetchall())


def _url(dataset: str) -> str:
    return "/mediatag/dataset/filters?" + urlencode({"name": dataset})


def test_editor_builds_filter_indexes(editor, series_photos, db_url):
    editor.goto("/mediatag/dataset?" + urlencode({"name": series_photos}))
    editor.get_by_role("link", name="Filter indexes").click()
    expect(editor.locator("h1")).to_have_text(f"Filter indexes: {series_photos}")
    expect(editor.locator("#filter-indexes tbody")).to_contain_text("No filter indexes")
    assert_controls_labeled(editor)
    # With the mouse.
    editor.get_by_label("Metadata (JSON)").fill('{"SeriesName": "<b>Kitchen</b>"}')
    editor.get_by_role("button", name="Build").click()
    expect(editor.locator(".message-info")).to_contain_text("Built the filter index of")
    row = editor.locator("#filter-indexes tbody tr").first
    expect(row.locator("[data-field=keyframes]")).to_have_text("3")
    expect(row.locator("[data-field=graph]")).to_have_text("ready")
    expect(row.locator("[data-field=metadata]")).to_contain_text("<b>Kitchen</b>")
    assert editor.locator("#filter-indexes td b").count() == 0
    # With the keyboard alone.
    tab_to(editor, editor.get_by_label("Metadata (JSON)"))
    editor.keyboard.type('{"SeriesName": "Garden"}')
    editor.keyboard.press("Tab")
    expect(editor.get_by_role("button", name="Build")).to_be_focused()
    editor.keyboard.press("Enter")
    expect(editor.locator("#filter-indexes tbody tr")).to_have_count(2)
    screenshot(editor, "filter_indexes")
    assert _indexes(db_url, series_photos) == {"<b>Kitchen</b>": 3, "Garden": 2}
    # Not JSON: the UI's words; JSON but not an object: the database's.
    editor.get_by_label("Metadata (JSON)").fill("SeriesName = Garden")
    editor.get_by_role("button", name="Build").click()
    expect(editor.locator(".mt-error")).to_contain_text("metadata must be a JSON object")
    editor.goto(_url(series_photos))
    editor.get_by_label("Metadata (JSON)").fill('["Garden"]')
    editor.get_by_role("button", name="Build").click()
    expect(editor.locator(".message-error")).to_contain_text("a filter index needs a non-empty JSON object")
    assert _indexes(db_url, series_photos) == {"<b>Kitchen</b>": 3, "Garden": 2}


def test_search_with_the_filter_finds_only_its_photos(editor, series_photos):
    editor.goto(
        "/mediatag/search?" + urlencode({"dataset": series_photos, "q": "a photo", "meta": '{"SeriesName": "Garden"}'})
    )
    expect(editor.locator("#search-results > li")).to_have_count(2)


def test_viewer_sees_the_list_but_cannot_change_it(viewer, series_photos, ui_logins, db_url):
    from datasette_mediatag.app import login_url_for

    viewer.goto(_url(series_photos))
    expect(viewer.locator("#filter-indexes tbody tr")).to_have_count(2)
    expect(viewer.get_by_role("button", name="Build")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Drop")).to_have_count(0)
    expect(viewer.locator(".mt-hint")).to_contain_text("Only a mediatag editor or admin")
    status, body = post_form(viewer, _url(series_photos), {"action": "create", "metadata": '{"SeriesName": "Other"}'})
    assert status == 403 and "mediatag_editor" in body
    login = ui_logins["viewer"]
    with (
        psycopg.connect(make_conninfo(login_url_for(db_url), user=login.user, password=login.password)) as c,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="needs the mediatag_editor"),
    ):
        c.execute('SELECT mediatag.create_filter_index(%s, \'{"SeriesName": "Other"}\')', [series_photos])
    assert set(_indexes(db_url, series_photos)) == {"<b>Kitchen</b>", "Garden"}


def test_editor_drops_them(editor, series_photos, db_url):
    editor.goto(_url(series_photos))
    editor.get_by_role("button", name='Drop the filter index of {"SeriesName": "Garden"}').click()
    expect(editor.locator(".message-info")).to_contain_text("Dropped the filter index of")
    expect(editor.locator("#filter-indexes tbody tr")).to_have_count(1)
    editor.get_by_role("button", name="Drop").click()
    expect(editor.locator("#filter-indexes tbody")).to_contain_text("No filter indexes")
    assert _indexes(db_url, series_photos) == {}
