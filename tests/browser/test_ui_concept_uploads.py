"""Concepts from uploads in headless Chromium: a CSV of existing labels (mediatag.import_concept_labels_csv) and
example images embedded by the embedding service (mediatag.add_concept_examples); bad files get clear errors,
viewers get no forms and their POSTs are refused."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect

from ..conftest import unique
from .conftest import assert_controls_labeled, record, screenshot, tab_to

# A multipart POST from the page itself. token: true (the page's, first), false (none), "late" (the page's, after
# the file), or any other string (sent instead of the page's).
POST_UPLOAD = """async ([url, fields, token]) => {
    const fd = new FormData();
    const mine = document.querySelector('meta[name=csrftoken]').content;
    if (token === true) fd.append('csrftoken', mine);
    else if (typeof token === 'string' && token !== 'late') fd.append('csrftoken', token);
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    fd.append('csv', new Blob(['file,label\\nx.jpg,yes\\n'], {type: 'text/csv'}), 'x.csv');
    if (token === 'late') fd.append('csrftoken', mine);
    const r = await fetch(url, {method: 'POST', body: fd, redirect: 'manual'});
    return [r.status, await r.text()];
}"""


def _assets(db_url: str, dataset: str) -> list[tuple[int, str]]:
    with psycopg.connect(db_url) as c:
        return c.execute(
            "SELECT a.id, a.path FROM mediatag.asset a JOIN mediatag.dataset d ON d.id = a.dataset_id"
            " WHERE d.name = %s ORDER BY a.id",
            [dataset],
        ).fetchall()


def _concept(db_url: str, name: str) -> dict | None:
    with psycopg.connect(db_url) as c:
        row = c.execute(
            "SELECT labels_yes, labels_no, examples, version FROM mediatag.list_concepts() WHERE name = %s", [name]
        ).fetchone()
    return None if row is None else dict(zip(("yes", "no", "examples", "version"), row, strict=True))


@pytest.fixture(scope="module")
def csv_concept(editor, coco_dataset, labels, db_url, ui_logins) -> str:
    """Created from the Concepts page with a CSV: file names, one asset id, yes / no from the photos' real labels."""
    assets = _assets(db_url, coco_dataset)
    giraffes = [(i, Path(p).name) for i, p in assets if "giraffe" in labels[Path(p).name]][:4]
    others = [(i, Path(p).name) for i, p in assets if "giraffe" not in labels[Path(p).name]][: 10 - len(giraffes)]
    assert giraffes, "the sample photos have giraffes"
    rows = [(f, True) for _, f in giraffes] + [(f, False) for _, f in others[:-1]]
    rows.append((str(others[-1][0]), False))  # an asset id works as well as a file name
    body = "file,label\n" + "".join(f"{item},{'yes' if yes else 'no'}\n" for item, yes in rows)
    name = unique("Giraffes <i>&</i> csv")
    editor.goto("/mediatag/concepts")
    assert_controls_labeled(editor)
    form = editor.locator("#concept-import")
    form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Labels CSV").set_input_files(
        files=[{"name": "giraffes.csv", "mimeType": "text/csv", "buffer": body.encode()}]
    )
    screenshot(editor, "concepts")
    t0 = time.perf_counter()
    form.get_by_role("button", name="Create and import labels").click()
    editor.wait_for_url("**/mediatag/concept?*")
    record("new concept from a 10-row CSV: submit to its page (ms)", (time.perf_counter() - t0) * 1000)
    n_yes = sum(yes for _, yes in rows)
    expect(editor.locator(".message-info")).to_contain_text(
        f"Imported 10 rows of giraffes.csv: {10 - n_yes} no, {n_yes} yes"
    )
    return name


def test_csv_creates_a_concept_with_its_labels(editor, csv_concept, db_url, ui_logins, coco_dataset, labels):
    expect(editor.locator("h1")).to_have_text(f"Concept {csv_concept}")  # markup shown as text
    assert editor.locator("h1 i").count() == 0
    got = _concept(db_url, csv_concept)
    assert got["yes"] + got["no"] == 10 and got["yes"] >= 1 and got["no"] >= 1
    expect(editor.locator("#concept-counts [data-field=yes]")).to_have_text(str(got["yes"]))
    expect(editor.locator("#concept-counts [data-field=no]")).to_have_text(str(got["no"]))
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT origin, labeled_by, path FROM mediatag.concept_labels(%s)", [csv_concept]).fetchall()
    assert {(o, who) for o, who, _ in rows} == {("import", ui_logins["editor"].user)}
    yes = {Path(p).name for o, who, p in rows} & {f for f, ls in labels.items() if "giraffe" in ls}
    assert len(yes) == got["yes"]  # the CSV's yes rows are the giraffe photos


def test_csv_errors_are_clear_and_create_nothing(editor, coco_dataset):
    name = unique("never_made")
    editor.goto("/mediatag/concepts")
    form = editor.locator("#concept-import")
    form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
    form.get_by_label("Name", exact=True).fill(name)
    # Entered before the upload so the (unawaited) response subscription is in place before the click.
    with editor.expect_response(lambda r: r.url.endswith("/mediatag/concepts/import")) as resp:
        form.get_by_label("Labels CSV").set_input_files(
            files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"file,label\nno_such_photo.jpg,yes\n"}]
        )
        form.get_by_role("button", name="Create and import labels").click()
    assert resp.value.status == 400
    expect(editor.locator("#concept-import .mt-error")).to_contain_text("1 of 1 rows match no asset")
    expect(editor.locator("#concept-import").get_by_label("Name", exact=True)).to_have_value(name)  # kept
    expect(editor.get_by_role("link", name=name)).to_have_count(0)  # the concept was rolled back with the import
    # A binary file is not a CSV.
    form = editor.locator("#concept-import")
    form.get_by_label("Labels CSV").set_input_files(
        files=[{"name": "photo.csv", "mimeType": "text/csv", "buffer": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"}]
    )
    form.get_by_role("button", name="Create and import labels").click()
    expect(editor.locator("#concept-import .mt-error")).to_contain_text("photo.csv is not a UTF-8 text file")


def test_example_image_upload_with_the_keyboard(editor, coco_dataset, coco_files, db_url):
    name = unique("examples")
    # The chooser is awaited from before the page loads: Playwright turns file-chooser interception on
    # without waiting for the browser, so a Space pressed right after could open an unintercepted dialog.
    with editor.expect_file_chooser() as chooser:
        editor.goto("/mediatag/concepts")
        form = editor.locator("#concept-examples")
        form.get_by_label("Dataset", exact=True).select_option(coco_dataset)
        form.get_by_label("Name", exact=True).fill(name)
        # Keyboard only: Tab to the file input, Space opens the chooser, Tab to the button, Enter submits.
        tab_to(editor, form.get_by_label("Example images"))
        editor.keyboard.press("Space")
    chooser.value.set_files(str(coco_files[51]))  # a photo that is not in the dataset
    tab_to(editor, form.get_by_role("button", name="Create from example images"))
    editor.keyboard.press("Enter")
    editor.wait_for_url("**/mediatag/concept?*")
    expect(editor.locator(".message-info")).to_contain_text("Added 1 example image; the concept is at version 2")
    expect(editor.locator("#concept-counts [data-field=examples]")).to_have_text("1")
    assert _concept(db_url, name) == {"yes": 0, "no": 0, "examples": 1, "version": 2}
    with psycopg.connect(db_url) as c:
        source = c.execute(
            "SELECT e.source FROM mediatag.concept_example e JOIN mediatag.concept x ON x.id = e.concept_id"
            " WHERE x.name = %s",
            [name],
        ).fetchone()[0]
    assert Path(source).read_bytes() == coco_files[51].read_bytes()  # the stored upload the service embedded
    assert_controls_labeled(editor)  # the concept page with its upload forms
    # More examples on the concept's own page; a non-image and a truncated JPEG are refused by name.
    form = editor.locator("#concept-examples")
    jpeg = coco_files[52].read_bytes()
    for fname, data, says in [
        ("notes.jpg", b"these are my notes, not a picture", "notes.jpg is not a readable image"),
        ("cut.jpg", jpeg[: len(jpeg) // 3], "cut.jpg is not a readable image"),
    ]:
        form.get_by_label("Example images").set_input_files(
            files=[{"name": fname, "mimeType": "image/jpeg", "buffer": data}]
        )
        form.get_by_role("button", name="Add example images").click()
        expect(editor.locator("#concept-examples .mt-error")).to_contain_text(says)
        form = editor.locator("#concept-examples")
    assert _concept(db_url, name)["examples"] == 1  # nothing was added
    form.get_by_label("Example images").set_input_files([str(coco_files[52]), str(coco_files[53])])
    t0 = time.perf_counter()
    form.get_by_role("button", name="Add example images").click()
    expect(editor.locator(".message-info")).to_contain_text("Added 2 example images; the concept is at version 3")
    record("two example images: submit to the retrained concept's page (ms)", (time.perf_counter() - t0) * 1000)
    expect(editor.locator("#concept-counts [data-field=examples]")).to_have_text("3")
    screenshot(editor, "concept_examples")


def test_uploads_need_csrf_and_the_editor_role(editor, viewer, csv_concept, coco_dataset, db_url):
    before = _concept(db_url, csv_concept)
    for token, says in [(False, "csrftoken"), ("late", "must come before its files"), ("forged", "does not match")]:
        status, body = editor.evaluate(POST_UPLOAD, ["/mediatag/concepts/import", {"concept": csv_concept}, token])
        assert status == 403 and says in body, (token, status, body)
    viewer.goto("/mediatag/concept?" + urlencode({"name": csv_concept}))
    expect(viewer.locator("#concept-counts")).to_be_visible()
    expect(viewer.locator("input[type=file]")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Import labels")).to_have_count(0)
    viewer.goto("/mediatag/concepts")
    expect(viewer.locator("form[enctype='multipart/form-data']")).to_have_count(0)
    assert_controls_labeled(viewer)
    status, body = viewer.evaluate(POST_UPLOAD, ["/mediatag/concepts/import", {"concept": csv_concept}, True])
    assert status == 403 and "mediatag_editor" in body
    status, _ = viewer.evaluate(
        POST_UPLOAD, ["/mediatag/concepts/examples", {"dataset": coco_dataset, "name": unique("v")}, True]
    )
    assert status == 403
    assert _concept(db_url, csv_concept) == before


POST_BIG = """async ([concept, mib]) => {
    const fd = new FormData();
    fd.append('csrftoken', document.querySelector('meta[name=csrftoken]').content);
    fd.append('concept', concept);
    fd.append('images', new Blob([new Uint8Array(mib << 20)], {type: 'image/jpeg'}), 'huge.jpg');
    const r = await fetch('/mediatag/concepts/examples', {method: 'POST', body: fd});
    return [r.status, await r.text()];
}"""


def test_oversized_upload_is_refused(editor, csv_concept, db_url):
    from datasette_mediatag.uploads import MAX_IMAGE, MAX_REQUEST

    before = _concept(db_url, csv_concept)
    editor.goto("/mediatag/concept?" + urlencode({"name": csv_concept}))
    status, body = editor.evaluate(POST_BIG, [csv_concept, (MAX_REQUEST >> 20) + 1])
    assert status == 413 and f"at most {MAX_REQUEST >> 20} MiB per form" in body
    status, body = editor.evaluate(POST_BIG, [csv_concept, (MAX_IMAGE >> 20) + 1])
    assert status == 413 and f"an image may be {MAX_IMAGE >> 20} MiB" in body
    assert _concept(db_url, csv_concept) == before
