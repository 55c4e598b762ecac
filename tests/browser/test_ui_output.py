"""Issue 24, "wrong or raw output" and two of "actions that leave the page stale", in Chromium as an editor and a
viewer: an evaluation's count in words on the tag page and a readable evaluation page, a bad metadata filter and a
filter without text on the search page, a refusal in the UI's own page and home as the UI's, offline suggestions
without offensive senses, and a visibility change that keeps the published version."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from playwright.sync_api import expect

from ..conftest import unique
from .conftest import post_form


def _new_group(editor, dataset: str, keywords: str, visibility: str = "secret") -> str:
    name = unique("Output")
    editor.goto("/mediatag/groups/new")
    fields = {"name": name, "dataset": dataset, "keywords": keywords, "visibility": visibility}
    status, _ = post_form(editor, "/mediatag/groups/new", fields)
    assert status == 0, status  # the redirect to the new group
    return name


def test_an_evaluation_reads_in_words_on_the_tag_page_and_its_own(editor, viewer, coco_dataset):
    group = _new_group(editor, coco_dataset, "person")
    tag_page = "/mediatag/tag?" + urlencode({"group": group, "tag": "person"})
    editor.goto(tag_page)
    editor.get_by_label("Sample size").fill("20")
    editor.get_by_role("button", name="Start an evaluation").click()
    editor.wait_for_url("**/mediatag/evaluation?*")
    # Named by its tag, not by an internal id; progress in words, never a dump of the row.
    expect(editor.locator("h1")).to_have_text("Evaluation of person")
    assert editor.title().startswith("Evaluation of person")
    items = editor.locator("#eval-items .mt-tile")
    expect(items.first).to_be_visible()
    n = items.count()
    for i in range(3):
        items.nth(i).get_by_role("checkbox").check()
    editor.get_by_role("button", name="Tag applies (y)").click()
    expect(editor.locator("#eval-progress [data-field=judged]")).to_have_text("3")
    body = editor.locator("#mt-main").inner_text()
    assert not re.search(r"asked: |job_state|cost_usd|: null", body), body
    # The viewer reads the evaluation and has nothing to select or judge.
    viewer.goto(editor.url)
    expect(viewer.locator("#eval-items .mt-tile")).to_have_count(n)
    expect(viewer.locator("#eval-progress [data-field=judged]")).to_have_text("3")
    expect(viewer.locator("input[type=checkbox]")).to_have_count(0)
    expect(viewer.get_by_role("toolbar")).to_have_count(0)
    for page in (editor, viewer):
        page.goto(tag_page)
        listed = page.locator("#evaluation-list")
        expect(listed).to_contain_text(f"3 of {n} items judged")
        assert "built-in method" not in listed.inner_text()


def test_search_errors_keep_the_form(viewer, coco_dataset):
    viewer.goto("/mediatag/search?" + urlencode({"dataset": coco_dataset, "q": "a giraffe", "meta": "{not json"}))
    expect(viewer.locator("#search-error")).to_contain_text("metadata filter must be a JSON object")
    expect(viewer.locator("#search-form")).to_be_visible()
    expect(viewer.locator("#search-q")).to_have_value("a giraffe")
    expect(viewer.locator("#search-form [name=meta]")).to_have_value("{not json")
    # A filter without text: a sentence says why nothing is listed.
    viewer.goto("/mediatag/search?" + urlencode({"dataset": coco_dataset, "q": "", "meta": '{"a": "b"}'}))
    expect(viewer.locator("#mt-main")).to_contain_text("Type some text")
    expect(viewer.locator("#search-form")).to_be_visible()


def test_a_refusal_is_the_uis_page_and_home_is_the_uis(viewer, editor):
    viewer.goto("/")
    expect(viewer).to_have_url(re.compile(r"/mediatag/$"))
    resp = viewer.goto("/mediatag/groups/new")
    assert resp.status == 200
    status, body = post_form(viewer, "/mediatag/groups/new", {"name": "x", "dataset": "x", "keywords": "x"})
    assert status == 403 and 'class="mt-nav"' in body and "<h1>Not allowed</h1>" in body
    assert "/mediatag/static/mediatag.css" in body and "permission denied" not in body
    resp = viewer.goto("/mediatag/query")
    assert resp.status == 403
    expect(viewer.locator(".mt-nav")).to_be_visible()
    expect(viewer.get_by_role("link", name="Back to the datasets")).to_have_attribute("href", "/mediatag/")
    # The UI's stylesheet applies on the refusal page too (not Datasette's bare page).
    assert viewer.evaluate("getComputedStyle(document.querySelector('.mt-nav')).display") != "inline"


def test_offline_suggestions_for_dog_are_decent_and_named(editor, coco_dataset):
    group = _new_group(editor, coco_dataset, "dog")
    editor.goto("/mediatag/tag?" + urlencode({"group": group, "tag": "dog"}))
    editor.get_by_role("button", name="Suggest prompts").click()
    listed = editor.locator("#suggestion-list li")
    expect(listed.first).to_be_visible(timeout=60_000)
    prompts = [p.lower() for p in listed.evaluate_all("ls => ls.map(l => l.dataset.prompt || '')")]
    assert prompts and not [p for p in prompts if re.search(r"\b(bitch|cur|wild dog)\b", p)], prompts
    names = editor.locator("#suggestion-list button").evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
    assert len(set(names)) == len(names) and all(n.startswith("Add ") and ": " in n for n in names), names


def test_visibility_alone_keeps_the_version(editor, viewer, coco_dataset):
    group = _new_group(editor, coco_dataset, "car")
    editor.goto("/mediatag/group?" + urlencode({"name": group}))
    editor.get_by_role("button", name="Publish", exact=True).click()
    editor.get_by_role("button", name="Publish anyway").click()
    editor.wait_for_url("**/mediatag/group?*")
    expect(editor.locator("#mt-main > p").first).to_contain_text("published · secret · version 1")
    editor.get_by_label("Visibility").select_option("shareable")
    editor.get_by_role("button", name="Publish", exact=True).click()
    editor.wait_for_url("**/mediatag/group?*")
    expect(editor.locator("#mt-main > p").first).to_contain_text("published · shareable · version 1")
    expect(editor.locator("#mt-main")).to_contain_text("No edits since version 1")
    viewer.goto("/mediatag/group?" + urlencode({"name": group}))
    expect(viewer.locator("#mt-main > p").first).to_contain_text("shareable · version 1")
