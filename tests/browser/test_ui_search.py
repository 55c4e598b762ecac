"""The search page in headless Chromium: paging through mediatag.search's `offset`, one result per video
(`group_by_video`), and the filters kept from page to page."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from playwright.sync_api import expect

from .conftest import assert_controls_labeled, record, screenshot, tab_to


def _timings(page, what: str) -> None:
    nav = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.serverTiming[0].duration, n.domContentLoadedEventEnd - n.startTime]; }"
    )
    record(f"search {what}: server time, Server-Timing (ms)", nav[0])
    record(f"search {what}: navigation to DOMContentLoaded (ms)", nav[1])


def _results(page) -> list[tuple[int, int]]:
    tiles = page.locator("#search-results .mt-tile")
    return [tuple(map(int, t)) for t in tiles.evaluate_all("ts => ts.map(t => [t.dataset.kf, t.dataset.rank])")]


def test_search_pages_do_not_overlap(editor, coco_dataset):
    editor.goto("/mediatag/search?" + urlencode({"dataset": coco_dataset}))
    assert_controls_labeled(editor)
    # The form with the keyboard alone: type the text, set the page size, submit with Enter.
    tab_to(editor, editor.get_by_label("Text", exact=True))
    editor.keyboard.type("a giraffe standing in a field")
    tab_to(editor, editor.get_by_label("Per page"))
    editor.keyboard.press("Control+a")
    editor.keyboard.type("12")
    editor.keyboard.press("Enter")
    expect(editor.locator("#search-window")).to_have_text("Results 1–12 of 48.")  # the total: every photo ranks
    page1 = _results(editor)
    assert [r for _, r in page1] == list(range(1, 13))
    _timings(editor, "page 1")
    expect(editor.get_by_role("link", name="Previous page")).to_have_count(0)
    editor.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    screenshot(editor, "search")
    editor.get_by_role("link", name="Next page").click()
    expect(editor.locator("#search-window")).to_have_text("Results 13–24 of 48.")
    page2 = _results(editor)
    assert [r for _, r in page2] == list(range(13, 25))  # ranks go on where page 1 stopped
    _timings(editor, "next page")
    assert not {k for k, _ in page1} & {k for k, _ in page2}, "page 2 repeats keyframes of page 1"
    assert editor.get_by_label("Text", exact=True).input_value() == "a giraffe standing in a field"
    editor.get_by_role("link", name="Previous page").click()
    assert _results(editor) == page1  # the same window again: stable order
    # Paging to the end: 48 photos in 12s, the fifth page is empty and offers no next page.
    editor.goto("/mediatag/search?" + urlencode({"dataset": coco_dataset, "q": "a giraffe", "k": 12, "offset": 48}))
    expect(editor.locator("#search-results")).to_contain_text("No more results.")
    expect(editor.get_by_role("link", name="Next page")).to_have_count(0)


def test_search_one_result_per_video_and_filters_kept(editor, video_dataset):
    base = {"dataset": video_dataset, "q": "a red screen"}
    editor.goto("/mediatag/search?" + urlencode(base))
    every = _results(editor)
    assert len(every) >= 3, "the video's keyframes each come back"
    editor.get_by_label("One result per video").check()
    editor.get_by_role("button", name="Search", exact=True).last.click()
    expect(editor.locator("#search-window")).to_have_text("Results 1–1 of 1, one per video.")
    grouped = _results(editor)
    _timings(editor, "one per video")
    assert grouped == [(every[0][0], 1)]  # the video's best keyframe
    expect(editor.locator("#search-results [data-field=matches]")).to_have_text(f"{len(every)} matching keyframes")
    # A metadata filter travels with the paging links.
    meta = json.dumps({"SeriesName": "Test Series"})
    editor.goto("/mediatag/search?" + urlencode({**base, "meta": meta, "k": 1}))
    first = _results(editor)
    editor.get_by_role("link", name="Next page").click()
    assert editor.get_by_label("Metadata (JSON)").input_value() == meta
    second = _results(editor)
    assert len(first) == len(second) == 1 and first[0][0] != second[0][0] and second[0][1] == 2
    editor.goto("/mediatag/search?" + urlencode({**base, "meta": json.dumps({"SeriesName": "Other"})}))
    expect(editor.locator("#search-results")).to_contain_text("No results.")
    # The query text is shown as text, never as markup.
    editor.goto("/mediatag/search?" + urlencode({**base, "q": "a <b>red</b> screen"}))
    expect(editor.get_by_label("Text", exact=True)).to_have_value("a <b>red</b> screen")
    assert editor.locator("main b").count() == 0
    # A bad window is the database's error, shown on the page.
    editor.goto("/mediatag/search?" + urlencode({**base, "offset": -1}))
    expect(editor.locator(".mt-error")).to_be_visible()
