"""Issue 24, "Labeling where the eye is" and "Dead ends", in headless Chromium as an editor and a viewer: concepts
labeled within their search results and top content (click once yes, twice no), a new concept's first batch with
its likely positives, label buttons beside search and uncertain results, y / n with a selection, the header search
box on the dataset in view, the tag picker, the search total, "more like" by file name with scores at most 1, and
the asset page (full image, scores, more like this)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import pytest
from playwright.sync_api import expect

from ..conftest import unique
from .conftest import assert_controls_labeled, post_form, screenshot

TAGS = ["giraffe", "car"]


@pytest.fixture(scope="module")
def group(editor, coco_dataset) -> str:
    name = unique("Eye")
    fields = {"name": name, "dataset": coco_dataset, "keywords": "\n".join(TAGS), "visibility": "shareable"}
    editor.goto("/mediatag/groups/new")
    status, _ = post_form(editor, "/mediatag/groups/new", fields)
    assert status == 0, status  # fetch() with redirect: 'manual' sees the redirect to the new group as status 0
    return name


def _labels(db_url: str, sql: str, *args) -> dict[int, object]:
    """keyframe -> the rest of the row (one value, or a tuple of several), read as the operator."""
    with psycopg.connect(db_url) as c:
        return {r[0]: r[1] if len(r) == 2 else r[1:] for r in c.execute(sql, list(args))}


def concept_labels(db_url: str, concept: str) -> dict[int, str]:
    return _labels(db_url, "SELECT keyframe_id, label FROM mediatag.concept_labels(%s)", concept)


def tag_labels(db_url: str, group: str, tag: str) -> dict[int, tuple[bool, str]]:
    return _labels(
        db_url,
        "SELECT l.keyframe_id, l.label, l.origin FROM mediatag.visual_label l JOIN mediatag.tag t ON t.id = l.tag_id"
        " JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s AND t.name = %s",
        group,
        tag,
    )


def _kfs(locator) -> list[int]:
    return [int(k) for k in locator.evaluate_all("ts => ts.map(t => t.dataset.kf)")]


def test_a_concept_is_labeled_in_its_search_results_and_top_content(editor, viewer, coco_dataset, db_url):
    name = unique("pizza_like")
    form = editor.goto("/mediatag/concepts") and editor.locator("#concept-new")
    form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Description (also the first text search)").fill("a giraffe")
    form.get_by_role("button", name="Create and start labeling").click()
    assert_controls_labeled(editor)
    # The first batch starts with the concept's likely positives: its best-scoring keyframes.
    batch = editor.locator("#concept-batch .mt-tile")
    expect(batch).to_have_count(12)
    with psycopg.connect(db_url) as c:
        top4 = [r[0] for r in c.execute("SELECT keyframe_id FROM mediatag.concept_top(%s, 4)", [name])]
    assert _kfs(batch)[:4] == top4
    # Step 1: the search results. Once = yes, twice = no.
    results = editor.locator("#concept-search .mt-tile")
    expect(results).to_have_count(12)
    kfs = _kfs(results)
    results.nth(0).locator("img").click()
    results.nth(1).locator("img").click()
    results.nth(1).locator("img").click()
    expect(results.nth(0)).to_contain_text("yes")
    expect(results.nth(1)).to_contain_text("no")
    editor.get_by_role("button", name="Save these labels").first.click()
    expect(editor.locator('[data-status="concept-search"]')).to_contain_text("2 labels saved")
    assert concept_labels(db_url, name) == {kfs[0]: "yes", kfs[1]: "no"}
    # Top content takes labels the same way.
    top = editor.locator("#concept-top .mt-tile")
    unlabeled = [k for k in _kfs(top) if k not in kfs[:2]]
    top.locator(f"xpath=self::*[@data-kf='{unlabeled[0]}']").locator("img").click()
    editor.locator('button[data-save="concept-top"]').click()
    expect(editor.locator('[data-status="concept-top"]')).to_contain_text("1 labels saved")
    assert concept_labels(db_url, name)[unlabeled[0]] == "yes"
    screenshot(editor, "concept_search_labeling")
    # The viewer sees the top content, and no labeling steps with nothing to do.
    viewer.goto("/mediatag/concept?" + urlencode({"name": name}))
    expect(viewer.locator("#concept-top .mt-tile")).to_have_count(12)
    expect(viewer.get_by_role("heading", name=re.compile("Continue labeling"))).to_have_count(0)
    expect(viewer.locator("#concept-search, #concept-batch, input[type=checkbox]")).to_have_count(0)


def test_tag_labels_beside_search_and_uncertain_results_and_with_the_keyboard(editor, viewer, group, db_url):
    editor.goto("/mediatag/tag?" + urlencode({"group": group, "tag": "giraffe"}))
    # An image-only dataset: no Video Shots / Transcripts tabs; preview tiles link to their asset.
    expect(editor.get_by_role("link", name="Video Shots")).to_have_count(0)
    expect(editor.get_by_role("link", name="Transcripts")).to_have_count(0)
    first = editor.locator("#preview .mt-tile").first
    expect(first.get_by_role("link", name="asset")).to_have_attribute("href", re.compile(r"^/mediatag/asset\?id=\d+$"))
    # Label from search: the bar beside the results labels what is selected there.
    editor.get_by_label("Find keyframes to label").fill("a giraffe")
    editor.locator("#label-search").get_by_role("button", name="Search").click()
    found = editor.locator("#label-search-results .mt-tile")
    expect(found.first).to_be_visible()
    chosen = _kfs(found)[:2]
    for i in range(2):
        found.nth(i).get_by_role("checkbox").check()
    bar = editor.get_by_role("toolbar", name="Label selected search results")
    expect(bar).to_contain_text("2 selected")
    bar.get_by_role("button", name="Label selected: yes").click()
    expect(bar).to_contain_text("2 labeled yes")
    assert {k: v for k, v in tag_labels(db_url, group, "giraffe").items() if k in chosen} == {
        k: (True, "search") for k in chosen
    }
    # Uncertain keyframes have a bar of their own.
    editor.get_by_role("button", name="Show the keyframes the classifier is least sure about").click()
    unsure = editor.locator("#uncertain-results .mt-tile")
    expect(unsure.first).to_be_visible()
    unsure.first.get_by_role("checkbox").check()
    ubar = editor.get_by_role("toolbar", name="Label selected uncertain keyframes")
    ubar.get_by_role("button", name="Label selected: no").click()
    expect(ubar).to_contain_text("1 labeled no")
    # n with two tiles checked and a third focused labels all three, and the focus stays on a tile.
    tiles = editor.locator("#preview .mt-tile")
    picked = _kfs(tiles)[:3]
    tiles.nth(0).get_by_role("checkbox").check()
    tiles.nth(1).get_by_role("checkbox").check()
    tiles.nth(2).focus()
    editor.keyboard.press("n")
    expect(editor.locator("#preview-status")).to_contain_text("3 labeled no")
    labels = tag_labels(db_url, group, "giraffe")
    assert all(labels[k] == (False, "preview") for k in picked), labels
    editor.wait_for_function("() => document.activeElement && document.activeElement.matches('#preview .mt-tile')")
    expect(editor.locator("#selected-count")).to_have_text("0 selected")
    # The viewer: no select boxes anywhere on the preview.
    viewer.goto("/mediatag/tag?" + urlencode({"group": group, "tag": "giraffe"}))
    expect(viewer.locator("#preview .mt-tile").first).to_be_visible()
    expect(viewer.locator("input[type=checkbox]")).to_have_count(0)
    expect(viewer.get_by_role("toolbar")).to_have_count(0)


def test_search_from_the_header_the_tag_picker_total_and_more_like(editor, group, coco_dataset, video_dataset):
    # The header box searches the dataset in view and says which.
    editor.goto("/mediatag/dataset?" + urlencode({"name": video_dataset}))
    box = editor.get_by_label(f"Search dataset {video_dataset}")
    expect(box).to_have_attribute("placeholder", f"Search {video_dataset}…")
    box.fill("a red screen")
    box.press("Enter")
    editor.wait_for_url("**/mediatag/search?*")
    assert parse_qs(urlsplit(editor.url).query)["dataset"] == [video_dataset]
    expect(editor.get_by_label("Dataset", exact=True)).to_have_value(video_dataset)
    # The tag filter is a picker of the dataset's tags; the results say their total.
    editor.goto("/mediatag/search?" + urlencode({"dataset": coco_dataset, "q": "a giraffe", "k": 12}))
    picker = editor.get_by_label("Tag", exact=True)
    # Other tests add groups to the session's dataset: this group's tags are among the choices, whatever else is.
    for tag in TAGS:
        expect(picker.locator(f'option[value="{group}:{tag}"]')).to_have_count(1)
    picker.select_option(f"{group}:giraffe")
    editor.get_by_role("button", name="Search", exact=True).last.click()
    expect(editor.locator("#search-window")).to_have_text(re.compile(r"^Results 1–\d+ of \d+\.$"))
    assert parse_qs(urlsplit(editor.url).query)["tag"] == [f"{group}:giraffe"]
    editor.goto("/mediatag/search?" + urlencode({"dataset": coco_dataset, "q": "a giraffe", "k": 12}))
    expect(editor.locator("#search-window")).to_have_text("Results 1–12 of 48.")
    # "More like this" names the photo and shows it; image-to-image scores are cosines, at most 1.
    name = editor.locator("#search-results .mt-tile").first.locator("img").get_attribute("alt")
    editor.locator("#search-results .mt-tile").first.get_by_role("link", name="more like this").click()
    like = editor.locator("#search-like")
    expect(like).to_contain_text(re.compile(r"More like \S+\.jpg"))
    assert "keyframe" not in like.inner_text() and name
    captions = editor.locator("#search-results .mt-cap").all_inner_texts()
    scores = [float(re.search(r"· (\d+\.\d+)", c).group(1)) for c in captions]
    assert scores and max(scores) <= 1.0 and scores == sorted(scores, reverse=True)
    screenshot(editor, "search_more_like")


def test_the_asset_page_shows_the_image_its_scores_and_more_like_it(editor, viewer, group, coco_dataset, db_url):
    with psycopg.connect(db_url) as c:
        asset, path = c.execute(
            "SELECT a.id, a.path FROM mediatag.asset a JOIN mediatag.dataset d ON d.id = a.dataset_id"
            " WHERE d.name = %s ORDER BY a.id LIMIT 1",
            [coco_dataset],
        ).fetchone()
    for page in (editor, viewer):
        page.goto(f"/mediatag/asset?id={asset}")
        expect(page.locator("#asset-path")).to_have_text(path)
        # The page shows the large rendition (640 px, or the photo's own width when narrower), not a thumbnail.
        page.wait_for_function("() => document.querySelector('#asset-image').naturalWidth > 320")
        rows = page.locator("#asset-scores tbody tr[data-kind=tag]").filter(has_text=f"({group})")
        expect(rows).to_have_count(len(TAGS))  # this group's tags (other tests add groups to the dataset)
        for r in rows.all_inner_texts():
            assert re.search(r"\t0\.\d{3}\t(yes|no)$", r) or re.search(r"\t1\.000\t(yes|no)$", r), r
        full = page.get_by_role("link", name=re.compile("^Full size"))
        r = page.request.get(full.get_attribute("href"))
        assert r.status == 200 and r.headers["content-type"] == "image/jpeg"
    screenshot(editor, "asset")
    editor.locator("#asset-more-like").click()
    expect(editor.locator("#search-like")).to_contain_text("More like")
    expect(editor.locator("#search-results .mt-tile").first).to_be_visible()
