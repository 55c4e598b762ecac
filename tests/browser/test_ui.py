"""The web UI in real headless Chromium, logged in as real PostgreSQL logins, over the real offline model and photos.

One tag group is made through the bulk box and then refined, published and evaluated the way a person would.
Its name holds markup characters, so every page also shows that user text is rendered as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect

from ..conftest import unique
from .conftest import record, screenshot

TAGS = ["person", "giraffe", "car"]
FORM = "application/x-www-form-urlencoded"
# Three edits a viewer tries from the page itself, each with a valid CSRF token (so the permission says no).
VIEWER_POSTS = (
    """async ([group, kf]) => {
    const token = document.querySelector('meta[name=csrftoken]').content;
    const post = (url, body, type) =>
        fetch(url, {method: 'POST', headers: {'content-type': type, 'x-csrftoken': token}, body});
    const form = (fields) => new URLSearchParams({...fields, csrftoken: token}).toString();
    const label = JSON.stringify({group, tag: 'car', keyframes: [kf], label: true});
    const a = await post('/mediatag/api/label', label, 'application/json');
    const prompt = form({group, tag: 'car', action: 'add', prompt: 'x'});
    const b = await post('/mediatag/tag/prompts', prompt, '"""
    + FORM
    + """');
    const c = await post('/mediatag/group/publish', form({name: group}), '"""
    + FORM
    + """');
    return [a.status, (await a.json()).error, b.status, c.status];
}"""
)


def saved_threshold(db_url: str, group: str, tag: str) -> float:
    """The threshold stored for a tag, read straight from the database (not through the page under test)."""
    with psycopg.connect(db_url) as c:
        return c.execute(
            "SELECT t.threshold FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id"
            " WHERE g.name = %s AND t.name = %s",
            [group, tag],
        ).fetchone()[0]


def tag_url(group: str, tag: str, **extra) -> str:
    return "/mediatag/tag?" + urlencode({"group": group, "tag": tag, **extra})


def _files(db_url: str, dataset: str) -> dict[int, str]:
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT k.id, k.image_path FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id"
            " WHERE d.name = %s",
            [dataset],
        ).fetchall()
    return {i: Path(p).name for i, p in rows}


def _scores_on_page(page) -> dict[int, str]:
    tiles = page.locator("#preview .mt-tile")
    return dict(
        zip(
            map(int, tiles.evaluate_all("ts => ts.map(t => t.dataset.kf)")),
            tiles.evaluate_all("ts => ts.map(t => t.dataset.score)"),
            strict=True,
        )
    )


def set_range(slider, value: str) -> None:
    """Moves a range input the way dragging does: the value changes and an input event fires."""
    slider.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def _ttfb_ms(page) -> float:
    return page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0]; return n.responseStart - n.startTime; }"
    )


def _server_ms(page) -> float:
    return page.evaluate("() => performance.getEntriesByType('navigation')[0].serverTiming[0].duration")


def _nav_ms(page) -> float:
    return page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.domContentLoadedEventEnd - n.startTime; }"
    )


@pytest.fixture(scope="module")
def group(editor, coco_dataset) -> str:
    """Created through the "Add group" form: one keyword per line, with a blank line and stray spaces."""
    name = unique("Animals <i>&</i>")
    editor.goto("/mediatag/groups/new")
    editor.get_by_label("Group name").fill(name)
    editor.get_by_label("Training dataset", exact=True).select_option(coco_dataset)
    editor.get_by_label("Tags, one per line").fill("person\n\n  giraffe \ncar\n")
    screenshot(editor, "add_group")
    editor.get_by_role("button", name="Create group").click()
    editor.wait_for_url("**/mediatag/group?*")
    return name


def test_create_group_from_bulk_box(editor, group):
    expect(editor.locator("h1")).to_have_text(f"Tag group {group}")  # markup characters shown as text
    assert editor.locator("h1 i").count() == 0
    rows = editor.locator("#group-tags tbody tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(3)] == TAGS
    screenshot(editor, "group")


def test_bulk_box_errors_name_the_line(editor, coco_dataset):
    editor.goto("/mediatag/groups/new")
    editor.get_by_label("Group name").fill(unique("Bad"))
    editor.get_by_label("Training dataset", exact=True).select_option(coco_dataset)
    editor.get_by_label("Tags, one per line").fill("dog\nTaylor_Swift")
    editor.get_by_role("button", name="Create group").click()
    expect(editor.locator(".mt-error")).to_contain_text("invalid tag name on line 2")
    expect(editor.get_by_label("Tags, one per line")).to_have_value("dog\nTaylor_Swift")  # nothing typed is lost


def test_preview_edit_prompt_changes_it(editor, group):
    times = []
    for _ in range(3):
        editor.goto(tag_url(group, "car"))
        times.append(_nav_ms(editor))
    for t in times:
        record("preview page DOMContentLoaded (ms)", t)
    record("preview page time to first byte (ms)", _ttfb_ms(editor))
    record("preview page server time, Server-Timing (ms)", _server_ms(editor))
    expect(editor.locator("#preview .mt-tile").first).to_be_visible()
    before = _scores_on_page(editor)
    assert before, "the preview shows keyframes"
    screenshot(editor, "tag_preview")
    # Edit the keyword prompt: the page comes back with the retrained classifier's preview.
    box = editor.get_by_label("Edit visual positive prompt").first
    box.fill("a photo of a red sports car on a street")
    box.locator("xpath=..").get_by_role("button", name="Save").click()
    editor.wait_for_url("**#prompts")
    expect(editor.get_by_label("Edit visual positive prompt").first).to_have_value(
        "a photo of a red sports car on a street"
    )
    after = _scores_on_page(editor)
    common = set(before) & set(after)
    assert set(before) != set(after) or any(before[k] != after[k] for k in common), "the preview changed"
    # And a negative prompt through the add form.
    editor.get_by_label("New visual negative prompt").fill("a bicycle")
    editor.get_by_label("New visual negative prompt").locator("xpath=..").get_by_role("button", name="Add").click()
    expect(editor.get_by_label("Edit visual negative prompt").first).to_have_value("a bicycle")


def test_tabs_shots_and_transcripts(editor, group):
    editor.goto(tag_url(group, "car", tab="shot"))
    expect(editor.get_by_role("link", name="Video Shots")).to_have_attribute("aria-current", "page")
    expect(editor.locator("#preview .mt-tile").first).to_be_visible()
    editor.goto(tag_url(group, "car", tab="transcript"))
    expect(editor.locator("#transcript-rows")).to_be_visible()


def test_transcripts_tab_opens_on_positives_with_sort_and_source(editor, client, video_dataset):
    group = unique("Lines")
    client.create_tag_group(video_dataset, group, "fractal")
    client.add_prompt(group, "fractal", "Fractals are beautiful", modality="transcript")
    # Threshold 0: every line is a positive, so the default bucket holds all three and Negatives none.
    editor.goto(tag_url(group, "fractal", tab="transcript", threshold="0"))
    kinds = editor.locator("#transcript-kinds")
    expect(kinds.get_by_role("link", name="Positives")).to_have_attribute("aria-current", "page")
    rows = editor.locator("#transcript-rows tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Fractals are beautiful.")  # by score, the matching line first
    expect(editor.locator("#transcript-rows .mt-source").first).to_have_text("subtitle (srt)")  # a sidecar .srt
    editor.locator("#transcript-sort").get_by_role("link", name="time").click()
    expect(editor.locator("#transcript-sort strong")).to_have_text("time")
    expect(rows.first).to_contain_text("Hello from the test pattern.")  # the first line of the video
    kinds.get_by_role("link", name="Negatives").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No transcript segments")


def test_label_from_preview(editor, group, db_url):
    editor.goto(tag_url(group, "giraffe"))
    tiles = editor.locator("#preview .mt-tile")
    expect(tiles.first).to_be_visible()
    picked = [int(tiles.nth(i).get_attribute("data-kf")) for i in range(2)]
    for i in range(2):
        tiles.nth(i).get_by_role("checkbox").check()
    expect(editor.locator("#selected-count")).to_have_text("2 selected")
    editor.get_by_role("button", name="Add visual prompts: yes (y)").click()
    expect(editor.locator("#preview-status")).to_contain_text("2 labeled yes")
    # Keyboard: focus another tile and press n.
    neg = editor.locator("#preview .mt-tile").last
    kf_no = int(neg.get_attribute("data-kf"))
    neg.focus()
    editor.keyboard.press("n")
    expect(editor.locator("#preview-status")).to_contain_text("1 labeled no")
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT l.keyframe_id, l.label, l.labeled_by FROM mediatag.visual_label l"
            " JOIN mediatag.tag t ON t.id = l.tag_id JOIN mediatag.tag_group g ON g.id = t.group_id"
            " WHERE g.name = %s AND t.name = 'giraffe'",
            [group],
        ).fetchall()
    labels = {k: lab for k, lab, _ in rows}
    assert all(labels.get(k) is True for k in picked) and labels.get(kf_no) is False
    assert {who for *_, who in rows} == {editor.locator(".mt-who").inner_text().split(" ")[0]}


def test_threshold_slider_redraws_without_reload(editor, group, db_url):
    editor.goto(tag_url(group, "person"))
    editor.evaluate("window.mtMarker = 'same page'")
    slider = editor.locator("#threshold")
    for value in ["0.30", "0.70", "0.10", "0.90", "0.50", "0.05"]:
        set_range(slider, value)
        expect(editor.locator("#preview")).to_have_attribute("data-threshold", value)
        pos = editor.locator("#preview .mt-grid[data-side=positive] .mt-tile")
        scores = [float(s) for s in pos.evaluate_all("ts => ts.map(t => t.dataset.score)")]
        assert all(s >= float(value) - 1e-6 for s in scores)
    assert editor.evaluate("window.mtMarker") == "same page"  # no page load happened
    redraws = editor.evaluate("window.mtRedraws")
    for ms in redraws:
        record("threshold slider redraw (ms)", ms)
    assert len(redraws) >= 6
    editor.get_by_role("button", name="Save threshold").click()
    expect(editor.locator("#saved-threshold")).to_have_text("0.05")
    thr = saved_threshold(db_url, group, "person")
    assert abs(thr - 0.05) < 1e-6


def test_publish_reaches_scored(editor, group, db_url):
    editor.goto("/mediatag/group?" + urlencode({"name": group}))
    editor.get_by_label("Visibility", exact=True).select_option("shareable")
    editor.get_by_role("button", name="Publish").click()
    editor.wait_for_load_state()
    # Tags nobody labeled, evaluated or gave a prompt are named first (issue 24): publish them anyway.
    anyway = editor.get_by_role("button", name="Publish anyway")
    if anyway.count():
        expect(editor.locator("#publish-unreviewed")).to_contain_text("Nobody has reviewed")
        anyway.click()
    status = editor.locator("#group-status [data-field=status]").first
    expect(status).to_have_text("queued")
    editor.evaluate("window.mtMarker = 'same page'")
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CALL mediatag.run_jobs()")
    expect(status).to_have_text("scored", timeout=15_000)  # the page polls; nobody reloads it
    assert editor.evaluate("window.mtMarker") == "same page"
    expect(editor.locator("#group-tags tr[data-tag=car] [data-field=scored]")).to_contain_text(" of 48")
    screenshot(editor, "group_published")


def test_evaluation_and_save_threshold(editor, group, coco_dataset, db_url, labels):
    editor.goto(tag_url(group, "person"))
    editor.get_by_label("Sample size").fill("40")
    editor.get_by_role("button", name="Start an evaluation").click()
    editor.wait_for_url("**/mediatag/evaluation?id=*")
    files = _files(db_url, coco_dataset)
    items = editor.locator("#eval-items .mt-tile")
    expect(items.first).to_be_visible()
    n = items.count()
    assert n >= 10
    truth = {}
    for i in range(n):
        kf = int(items.nth(i).get_attribute("data-kf"))
        truth[kf] = "person" in labels[files[kf]]
    # Ground truth from the real labels: select the positives, then the rest.
    for value, button in [(True, "Tag applies (y)"), (False, "Does not apply (n)")]:
        for i in range(n):
            if truth[int(items.nth(i).get_attribute("data-kf"))] is value:
                items.nth(i).get_by_role("checkbox").check()
        editor.get_by_role("button", name=button).click()
        expect(editor.locator("#selected-count")).to_have_text("0 selected")
    expect(editor.locator("#eval-progress [data-field=judged]")).to_have_text(str(n))
    # every metric against the threshold (the first PL/Python call of a backend imports numpy: allow for it)
    expect(editor.locator("#chart polyline")).to_have_count(5, timeout=30_000)
    expect(editor.locator("#suggested-line")).to_have_count(1)
    editor.get_by_label("Optimise").select_option("precision")
    expect(editor.locator("#suggestion")).to_contain_text("Precision", timeout=30_000)
    editor.get_by_label("Optimise").select_option("f1")
    expect(editor.locator("#suggestion")).to_contain_text(re.compile(rf"F1: .* on {n} judged"), timeout=30_000)
    suggested = float(editor.locator("#eval-threshold-input").input_value())
    f1_text = editor.locator("#metric-values td[data-metric=f1]").inner_text()
    set_range(editor.locator("#eval-threshold"), "0.99")  # the values follow the slider live
    expect(editor.locator("#metric-values td[data-metric=f1]")).not_to_have_text(f1_text)
    editor.get_by_label("Threshold value").fill(f"{suggested:.2f}")
    expect(editor.locator("#metric-values td[data-metric=f1]")).to_have_text(f1_text)
    screenshot(editor, "evaluation")
    editor.get_by_role("button", name="Apply and save").click()
    editor.wait_for_url("**/mediatag/tag?*")
    expect(editor.locator("h1")).to_have_text("person")
    thr = saved_threshold(db_url, group, "person")
    assert abs(thr - suggested) < 0.006
    expect(editor.locator("#saved-threshold")).to_have_text(f"{thr:.2f}")


def test_query_and_csv_download(editor, group, db_url):
    with psycopg.connect(db_url) as c:
        slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", [group]).fetchone()[0]
    editor.goto("/mediatag/query")
    expect(editor.locator("#query-tables")).to_contain_text(f"dt_{slug}_visual")
    sql = f"SELECT tag, count(*) AS n FROM mediatag_data.dt_{slug}_visual GROUP BY tag ORDER BY tag"
    editor.get_by_label("SQL").fill(sql)
    editor.get_by_role("button", name="Run").click()
    expect(editor.locator("#query-results tbody tr")).to_have_count(3)
    screenshot(editor, "query")
    with editor.expect_download() as dl:
        editor.locator("#download-csv").click()
    lines = Path(dl.value.path()).read_text().splitlines()
    assert lines[0] == "tag,n" and [ln.split(",")[0] for ln in lines[1:]] == sorted(TAGS)
    # Writes are refused: the Query page is read-only.
    editor.get_by_label("SQL").fill("DELETE FROM mediatag.tag")
    editor.get_by_role("button", name="Run").click()
    expect(editor.locator(".mt-error")).to_contain_text("read-only")


def test_viewer_is_refused_edits(viewer, group, db_url):
    viewer.goto(tag_url(group, "car"))
    expect(viewer.locator("#preview .mt-tile").first).to_be_visible()
    for name in ["Save threshold", "Add visual prompts: yes (y)", "Start an evaluation"]:
        expect(viewer.get_by_role("button", name=name)).to_have_count(0)
    expect(viewer.get_by_label("Edit visual positive prompt")).to_have_count(0)
    kf = int(viewer.locator("#preview .mt-tile").first.get_attribute("data-kf"))
    # The POSTs themselves are refused, with a valid CSRF token (so it is the permission that says no).
    res = viewer.evaluate(
        VIEWER_POSTS,
        [group, kf],
    )
    assert res[0] == 403 and "mediatag_editor" in res[1]
    assert res[2] == 403 and res[3] == 403
    with psycopg.connect(db_url) as c:
        n = c.execute(
            "SELECT count(*) FROM mediatag.tag_prompt p JOIN mediatag.tag t ON t.id = p.tag_id"
            " JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s AND p.text = 'x'",
            [group],
        ).fetchone()[0]
    assert n == 0
    assert viewer.evaluate("fetch('/mediatag/query').then(r => r.status)") == 403  # no query role


def test_forms_need_the_csrf_token(editor, group):
    status = editor.evaluate(
        """async (group) => (await fetch('/mediatag/api/threshold', {method: 'POST',
              headers: {'content-type': 'application/json'},
              body: JSON.stringify({group, tag: 'car', threshold: 0.4})})).status""",
        group,
    )
    assert status == 403


CLS_OBSERVER = """window.mtShift = 0;
new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) window.mtShift += e.value;
}).observe({type: 'layout-shift', buffered: true});"""


def test_datasets_assets_and_timeline(editor, coco_dataset, video_dataset, db_url):
    editor.add_init_script(CLS_OBSERVER)
    editor.goto("/mediatag/")
    expect(editor.get_by_role("link", name=coco_dataset, exact=True)).to_be_visible()
    screenshot(editor, "datasets")
    editor.get_by_role("link", name=coco_dataset, exact=True).click()
    grid = editor.locator("ul[aria-label=Assets] img")
    expect(grid).to_have_count(48)
    editor.wait_for_function("() => { const i = document.images[0]; return i.complete && i.naturalWidth > 0; }")
    # Thumbnails are sized for the grid and cached by the browser.
    src = grid.first.get_attribute("src")
    info = editor.evaluate(
        "async (src) => { const r = await fetch(src); const b = await r.blob();"
        " return [r.status, r.headers.get('cache-control'), r.headers.get('etag'), b.size]; }",
        src,
    )
    assert info[0] == 200 and "max-age" in info[1] and info[2]
    editor.mouse.wheel(0, 3000)  # bring the lazy thumbnails in
    editor.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    shift = editor.evaluate("window.mtShift")
    record("asset grid cumulative layout shift (CLS)", shift)
    assert shift < 0.01, f"thumbnails moved the layout (CLS {shift:.3f})"
    natural = grid.first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert natural[0] <= 320 and natural[1] <= 240
    screenshot(editor, "dataset")
    editor.goto("/mediatag/")
    editor.get_by_role("link", name=video_dataset, exact=True).click()
    editor.locator("ul[aria-label=Assets] a").first.click()
    expect(editor.locator(".mt-shot")).to_have_count(3)
    expect(editor.locator("#asset-transcript")).to_contain_text("Fractals are beautiful.")
    screenshot(editor, "asset_timeline")


def test_manage_groups_applies_a_shareable_group(editor, group, video_dataset, db_url):
    # Runs after test_publish_reaches_scored, which published the group as shareable; both datasets use the
    # offline default models, so the video dataset may apply it.
    editor.goto("/mediatag/dataset/groups?" + urlencode({"name": video_dataset}))
    row = editor.locator("#dataset-groups tbody tr", has_text=group)
    row.get_by_role("button", name="Apply").click()
    row = editor.locator("#dataset-groups tbody tr", has_text=group)
    expect(row).to_contain_text("queued")
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CALL mediatag.run_jobs()")
    editor.reload()
    expect(editor.locator("#dataset-groups tbody tr", has_text=group)).to_contain_text("scored")
    screenshot(editor, "manage_groups")


def test_concepts_label_with_keyboard_or_say_unavailable(editor, coco_dataset, db_url):
    with psycopg.connect(db_url) as c:
        have = {
            r[0]
            for r in c.execute(
                "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'mediatag'"
            )
        }
    editor.goto("/mediatag/concepts")
    if "create_concept" not in have:
        expect(editor.locator(".mt-unavailable")).to_contain_text("not available in this database")
        editor.goto("/mediatag/search?q=dog")
        expect(editor.locator(".mt-unavailable")).to_contain_text("not available in this database")
        return
    name = unique("giraffe_like")
    form = editor.locator("#concept-new")  # the page has a form per way of creating a concept
    form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Description (also the first text search)").fill("a giraffe")
    form.get_by_role("button", name="Create and start labeling").click()
    # Step 1 is the description's search results: the first of them has the focus.
    first = editor.locator("#concept-search .mt-tile").first
    expect(first).to_be_focused()
    for key in ["y", "n", "s", "y"]:
        editor.keyboard.press(key)
    screenshot(editor, "concept_labeling")
    editor.keyboard.press("ArrowLeft")
    editor.keyboard.press("Enter")
    expect(editor.locator('[data-status="concept-search"]')).to_contain_text("4 labels saved")
    # Step 2, the batch, saves with Enter as well.
    editor.locator("#concept-batch .mt-tile").first.focus()
    editor.keyboard.press("y")
    editor.keyboard.press("ArrowLeft")
    editor.keyboard.press("Enter")
    expect(editor.locator("#concept-status")).to_contain_text("labels saved")


def test_login_wrong_password_and_no_open_redirect(browser, ui_url, ui_logins):
    ctx = browser.new_context(base_url=ui_url)
    page = ctx.new_page()
    page.goto("/mediatag/group?name=x")  # not logged in: sent to the login page, coming back here afterwards
    expect(page).to_have_url(re.compile(r"/mediatag/login\?next="))
    login = ui_logins["viewer"]
    page.get_by_label("Login").fill(login.user)
    page.get_by_label("Password").fill(login.password + "x")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".mt-error")).to_contain_text("login failed")
    page.goto("/mediatag/login?next=//example.invalid/")
    page.get_by_label("Login").fill(login.user)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{ui_url}/mediatag/")
    expect(page.locator(".mt-who")).to_contain_text(f"{login.user} (viewer)")
    ctx.close()
