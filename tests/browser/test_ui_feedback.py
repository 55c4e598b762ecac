"""Issue 24 in Chromium: a slow form shows progress and cannot be sent twice, every change on the tag page updates
its header, prompt list and preview in place, suggestions are named by their prompt, and a group whose scoring is
queued with no worker says how to start one (editor and viewer)."""

from __future__ import annotations

import re
import time

import psycopg
from playwright.sync_api import expect

from ..conftest import unique
from .conftest import record, screenshot
from .test_ui import tag_url


def test_new_group_shows_progress_and_the_tag_page_updates_in_place(editor, viewer, coco_dataset, db_url):
    name = unique("Fresh")
    editor.goto(f"/mediatag/groups/new?dataset={coco_dataset}")
    editor.get_by_label("Name").fill(name)
    editor.locator("#group-keywords").fill("giraffe\ncar")
    # First without leaving the page (a listener after the UI's own stops the navigation): while a slow create
    # runs, its button is off and a spinner says what is happening.
    editor.evaluate("window.addEventListener('submit', (e) => e.preventDefault(), { once: true })")
    button = editor.get_by_role("button", name="Create group")
    button.click()
    expect(button).to_be_disabled()
    expect(editor.locator("#group-new .mt-busy")).to_contain_text("Creating the group")
    expect(editor.locator("#group-new")).to_have_attribute("aria-busy", "true")
    # Then for real.
    editor.reload()
    editor.get_by_label("Name").fill(name)
    editor.locator("#group-keywords").fill("giraffe\ncar")
    t0 = time.perf_counter()
    editor.get_by_role("button", name="Create group").click()
    editor.wait_for_url("**/mediatag/group?*")
    record("create group (2 tags), submit to group page, s", time.perf_counter() - t0)

    editor.goto(tag_url(name, "giraffe"))
    counts = editor.locator("#tag-counts")
    expect(counts.locator("[data-field=labels_yes]")).to_have_text("0")
    version = int(counts.locator("[data-field=classifier_version]").inner_text())
    tiles = editor.locator("#preview .mt-tile")
    expect(tiles.first).to_be_visible()
    tiles.nth(0).get_by_role("checkbox").check()
    tiles.nth(1).get_by_role("checkbox").check()
    editor.get_by_role("button", name="Add visual prompts: yes (y)").click()
    expect(counts.locator("[data-field=labels_yes]")).to_have_text("2")
    expect(counts.locator("[data-field=classifier_version]")).to_have_text(str(version + 1))

    # A search tile labeled yes says so.
    editor.get_by_label("Find keyframes to label").fill("a giraffe")
    editor.locator("#label-search button[type=submit]").click()
    found = editor.locator("#label-search-results .mt-tile").first
    expect(found).to_be_visible()
    found.get_by_role("checkbox").check()
    found.focus()
    editor.keyboard.press("y")
    expect(found.locator(".mt-cap")).to_contain_text("labeled yes")

    # Suggestions: each Add button is named by its prompt; adding one lists it under the prompts at once.
    editor.get_by_role("button", name="Suggest prompts").click()
    first = editor.locator("#suggestion-list li").first
    expect(first).to_be_visible(timeout=60_000)
    prompt = first.get_attribute("data-prompt")
    add = editor.get_by_role("button", name=re.compile(re.escape(f"prompt: {prompt}") + "$"))
    expect(add).to_have_count(1)
    before = int(counts.locator("[data-field=classifier_version]").inner_text())
    add.click()
    expect(add).to_have_text("Added")
    box = editor.locator(".mt-prompts").filter(has=editor.locator("li", has_text=prompt))
    expect(box).to_have_count(1)
    expect(counts.locator("[data-field=classifier_version]")).not_to_have_text(str(before))
    screenshot(editor, "tag_in_place")

    # The viewer's page shows the same counts (read, not changed).
    viewer.goto(tag_url(name, "giraffe"))
    expect(viewer.locator("#tag-counts [data-field=labels_yes]")).to_have_text(re.compile(r"[1-9]"))


def test_queued_without_a_worker_says_how_to_start_one(editor, viewer, coco_dataset, db_url):
    name = unique("Queued")
    editor.goto(f"/mediatag/groups/new?dataset={coco_dataset}")
    editor.get_by_label("Name").fill(name)
    editor.locator("#group-keywords").fill("car")
    editor.get_by_role("button", name="Create group").click()
    editor.wait_for_url("**/mediatag/group?*")
    editor.get_by_role("button", name="Publish").click()
    # Nobody reviewed "car": the page asks first, naming it.
    expect(editor.locator("#publish-unreviewed")).to_contain_text("car")
    editor.get_by_role("button", name="Publish anyway").click()
    editor.wait_for_url("**/mediatag/group?*")
    for page in (editor, viewer):
        page.goto(f"/mediatag/group?name={name}")
        notice = page.locator("#worker-status")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("mediatag serve")
    screenshot(editor, "group_no_worker")
    # A worker appears (its heartbeat connection): the notice goes without a reload.
    with psycopg.connect(db_url, application_name="mediatag-heartbeat"):
        expect(viewer.locator("#worker-status")).to_be_hidden()
