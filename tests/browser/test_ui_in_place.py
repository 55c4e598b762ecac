"""Issue 24 in Chromium, what was left: every labeling action on a concept's page updates its header (label counts,
classifier version) and top content in place, without a reload; a new concept shows progress while it is made
(timed); the tag page's counts follow labels from the uncertain keyframes; a login without a role the UI needs is
told which role and how to get it (never "permission denied for function …"); the viewer gets no labeling
controls."""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect
from psycopg import sql

from ..conftest import unique
from .conftest import record, screenshot

RELOAD_MARK = "window.mtNoReload = 1"  # gone if the page was loaded again


def _counts(page) -> dict[str, int]:
    return {
        f: int(page.locator(f"#concept-counts [data-field={f}]").inner_text()) for f in ("yes", "no", "skip", "version")
    }


def _expect_counts(page, **want: int) -> None:
    for field, value in want.items():
        expect(page.locator(f"#concept-counts [data-field={field}]")).to_have_text(str(value))


def _db_counts(db_url: str, concept: str) -> tuple[int, int, int]:
    with psycopg.connect(db_url) as c:
        return c.execute(
            "SELECT labels_yes, labels_no, version FROM mediatag.list_concepts() WHERE name = %s", [concept]
        ).fetchone()


def test_concept_header_and_top_content_follow_every_labeling_action(editor, viewer, coco_dataset, db_url):
    name = unique("in_place")
    editor.goto("/mediatag/concepts")
    form = editor.locator("#concept-new")
    form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Description (also the first text search)").fill("a giraffe")
    # While the concept is made the button is off and a spinner says so (the submit held back once to see it).
    editor.evaluate("window.addEventListener('submit', (e) => e.preventDefault(), { once: true })")
    button = form.get_by_role("button", name="Create and start labeling")
    button.click()
    expect(button).to_be_disabled()
    expect(form.locator(".mt-busy")).to_contain_text("Creating the concept")
    expect(form).to_have_attribute("aria-busy", "true")
    editor.reload()
    form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Description (also the first text search)").fill("a giraffe")
    t0 = time.perf_counter()
    form.get_by_role("button", name="Create and start labeling").click()
    editor.wait_for_url("**/mediatag/concept?*")
    expect(editor.locator("#concept-search .mt-tile").first).to_be_visible()
    record("create concept, submit to its page with search results, s", time.perf_counter() - t0)
    expect(editor.locator("#concept-batch .mt-tile").first).to_be_visible()
    record("create concept, submit to its first batch shown, s", time.perf_counter() - t0)

    editor.evaluate(RELOAD_MARK)
    start = _counts(editor)
    assert (start["yes"], start["no"]) == (0, 0)
    # Step 1, the search results: once = yes, twice = no; saving updates the header.
    results = editor.locator("#concept-search .mt-tile")
    results.nth(0).locator("img").click()
    results.nth(1).locator("img").click()
    results.nth(1).locator("img").click()
    editor.locator('button[data-save="concept-search"]').click()
    expect(editor.locator('[data-status="concept-search"]')).to_contain_text("2 labels saved")
    _expect_counts(editor, yes=1, no=1, version=start["version"] + 1)
    assert _db_counts(db_url, name) == (1, 1, start["version"] + 1)

    # Top content: redrawn as the retrained classifier ranks it, with the labels it holds.
    top = editor.locator("#concept-top .mt-tile")
    first_result = results.nth(0).get_attribute("data-kf")
    in_top = editor.locator(f"#concept-top .mt-tile[data-kf='{first_result}'] [data-field=label]")
    if in_top.count():
        expect(in_top).to_have_text("yes")
    fresh = [t for t in top.evaluate_all("ts => ts.filter(t => !t.dataset.label).map(t => t.dataset.kf)")]
    editor.locator(f"#concept-top .mt-tile[data-kf='{fresh[0]}'] img").click()
    editor.locator('button[data-save="concept-top"]').click()
    expect(editor.locator('[data-status="concept-top"]')).to_contain_text("1 labels saved")
    _expect_counts(editor, yes=2, no=1, version=start["version"] + 2)

    # Step 2, continue labeling: a batch saved with its button, then one with the keyboard (y, n, s, Enter).
    batch = editor.locator("#concept-batch .mt-tile")
    first_kf = batch.first.get_attribute("data-kf")
    batch.nth(0).locator("img").click()
    batch.nth(1).locator("img").click()
    batch.nth(1).locator("img").click()
    editor.get_by_role("button", name="Save labels and continue").click()
    # "; N to label" is said once the next batch is drawn (the save alone says "2 labels saved").
    expect(editor.locator("#concept-status")).to_contain_text(re.compile(r"2 labels saved; \d+ to label"))
    _expect_counts(editor, yes=3, no=2, version=start["version"] + 3)
    # The next batch replaces this one after the counts update: keys pressed before it arrives would label tiles
    # about to be replaced (seen on a loaded machine). Its first tile is new: the old first was labeled yes.
    expect(batch.first).not_to_have_attribute("data-kf", first_kf or "")
    batch.first.focus()
    for key in ("y", "n", "s"):
        editor.keyboard.press(key)
    editor.keyboard.press("ArrowLeft")
    editor.keyboard.press("Enter")
    expect(editor.locator("#concept-status")).to_contain_text("3 labels saved")
    _expect_counts(editor, yes=4, no=3, skip=1, version=start["version"] + 4)
    assert _db_counts(db_url, name) == (4, 3, start["version"] + 4)
    assert editor.evaluate("window.mtNoReload") == 1, "the page was reloaded"
    screenshot(editor, "concept_in_place")

    # The viewer reads the same counts and gets no labeling controls.
    viewer.goto("/mediatag/concept?" + urlencode({"name": name}))
    expect(viewer.locator("#concept-counts [data-field=yes]")).to_have_text("4")
    expect(viewer.locator("#concept-top .mt-tile").first).to_be_visible()
    steps = re.compile("Continue labeling|Label the search results")
    expect(viewer.get_by_role("heading", name=steps)).to_have_count(0)
    expect(viewer.locator("input[type=checkbox], #concept-batch, #concept-search, button[data-save]")).to_have_count(0)
    expect(viewer.get_by_role("button", name=re.compile("Save"))).to_have_count(0)


def test_tag_counts_follow_labels_from_uncertain_and_prompt_forms(editor, coco_dataset, db_url):
    from .conftest import post_form

    name = unique("InPlace")
    editor.goto("/mediatag/groups/new")
    fields = {"name": name, "dataset": coco_dataset, "keywords": "giraffe", "visibility": "shareable"}
    status, _ = post_form(editor, "/mediatag/groups/new", fields)
    assert status == 0, status  # the redirect to the new group
    editor.goto("/mediatag/tag?" + urlencode({"group": name, "tag": "giraffe"}))
    editor.evaluate(RELOAD_MARK)
    counts = editor.locator("#tag-counts")
    version = int(counts.locator("[data-field=classifier_version]").inner_text())
    editor.get_by_role("button", name="Show the keyframes the classifier is least sure about").click()
    unsure = editor.locator("#uncertain-results .mt-tile")
    expect(unsure.first).to_be_visible()
    unsure.nth(0).get_by_role("checkbox").check()
    unsure.nth(1).get_by_role("checkbox").check()
    bar = editor.get_by_role("toolbar", name="Label selected uncertain keyframes")
    bar.get_by_role("button", name="Label selected: no").click()
    expect(bar).to_contain_text("2 labeled no")
    expect(counts.locator("[data-field=labels_no]")).to_have_text("2")
    expect(counts.locator("[data-field=classifier_version]")).to_have_text(str(version + 1))
    expect(unsure.nth(0).locator(".mt-cap")).to_contain_text("labeled no")
    assert editor.evaluate("window.mtNoReload") == 1
    # A prompt added with the form: the page that comes back lists it and shows the new version.
    editor.get_by_label("New visual positive prompt").fill("a tall giraffe by a tree")
    editor.locator(".mt-prompts[data-modality=visual][data-polarity=positive]").get_by_role(
        "button", name="Add"
    ).click()
    listed = ".mt-prompts[data-modality=visual][data-polarity=positive] input[name=prompt]"
    expect(editor.locator(f"{listed}[value='a tall giraffe by a tree']")).to_have_count(1)
    expect(counts.locator("[data-field=classifier_version]")).to_have_text(str(version + 2))


@pytest.fixture(scope="module")
def query_only(browser, ui_url, db_url):
    """A browser logged in as a login that holds mediatag_query only (a BI tool's login, used by a person)."""
    user, password = unique("ui_query_only"), secrets.token_urlsafe(16)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password)))
        c.execute(sql.SQL("GRANT mediatag_query TO {}").format(sql.Identifier(user)))
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=ui_url)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto("/mediatag/login")
    page.get_by_label("Login").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    yield page, user
    ctx.close()
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


def test_a_missing_right_is_explained_on_every_page(query_only, viewer, coco_dataset):
    page, user = query_only
    # Every page a query-only login opens says what it may not do, which role that needs, what it holds and how
    # to get the role, and offers the page it may use; never the database's "permission denied for …".
    for path in ("/mediatag/", "/mediatag/groups", "/mediatag/concepts", f"/mediatag/dataset?name={coco_dataset}"):
        resp = page.goto(path)
        assert resp.status == 403, path
        expect(page.locator("h1")).to_have_text("Not allowed")
        alert = page.locator(".mt-error")
        expect(alert).to_contain_text(f"{user} may not ")
        expect(alert).to_contain_text("needs the mediatag_viewer role")
        expect(alert).to_contain_text(f"{user} holds mediatag_query")
        expect(page.locator(".mt-hint")).to_contain_text(f"mediatag users grant {user} viewer")
        expect(page.get_by_role("link", name="Query").first).to_have_attribute("href", "/mediatag/query")
        assert "permission denied" not in page.content()
    screenshot(page, "missing_right")
    page.get_by_role("link", name="Query").first.click()
    expect(page.get_by_label("SQL")).to_be_visible()
    # The viewer on the Query page: told the same way.
    resp = viewer.goto("/mediatag/query")
    assert resp.status == 403
    expect(viewer.locator(".mt-error")).to_contain_text("needs the mediatag_query role")
    expect(viewer.locator(".mt-hint")).to_contain_text("mediatag users grant")
    assert "permission denied" not in viewer.content()
