"""People in headless Chromium (issue 27), on real face photos of the shared LFW subset and a short real video of
more of them: an editor names a cluster, splits faces off and merges them back, removes a face and forgets a person;
a person's timeline seeks the asset page's player; "find this person" finds their faces; the asset page draws face
boxes with names and hides them on request; a viewer sees everything read-only and their POSTs are refused."""

from __future__ import annotations

import re

import psycopg
import pytest
from playwright.sync_api import expect

from ..conftest import unique
from ..facephotos import MISSING, ingest_faces, lfw_photos, person_of_files, slideshow
from .conftest import assert_controls_labeled, post_form, record, screenshot
from .test_ui import _nav_ms, _ttfb_ms
from .test_ui_player import _current_ms

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

WHO = ["Colin_Powell", "Serena_Williams", "Hugo_Chavez", "Junichiro_Koizumi"]


@pytest.fixture(scope="module")
def faces_ds(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Four people, three photos each, and a 6 s video (Colin, Serena, Colin: 2 s and one shot each, photos not
    among the others), ingested with faces on."""
    tmp = tmp_path_factory.mktemp("people_ui")
    photos = lfw_photos(WHO, 3)
    more = lfw_photos(["Colin_Powell", "Serena_Williams"], 2, skip=4)
    video = slideshow(
        tmp / "interview.webm", [more["Colin_Powell"][0], more["Serena_Williams"][0], more["Colin_Powell"][1]]
    )
    name = unique("people_ui")
    ingest_faces(db_url, name, [p for files in photos.values() for p in files] + [video], tmp)
    with psycopg.connect(db_url) as c:
        ids = person_of_files(c, name, {p.name: who for who, files in photos.items() for p in files})
        video_id = c.execute(
            "SELECT id FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) AND kind = 'video'", (name,)
        ).fetchone()[0]
    assert set(ids) == set(WHO) and len(set(ids.values())) == len(WHO), ids
    return {"name": name, "ids": ids, "video": video_id, "photos": photos}


def _faces(conn, dataset: str, person: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT face_id FROM mediatag.faces(%s, person => %s)", (dataset, person))]


def _card(page, person: int):
    return page.locator(f'li.mt-person[data-person="{person}"]')


def _people_url(ds: dict) -> str:
    return f"/mediatag/people?dataset={ds['name']}"


def _person_url(ds: dict, who: str) -> str:
    return f"/mediatag/person?dataset={ds['name']}&id={ds['ids'][who]}"


def test_dataset_page_leads_to_people(editor, faces_ds):
    editor.goto(f"/mediatag/dataset?name={faces_ds['name']}")
    editor.locator("#dataset-people").click()
    expect(editor.locator("h1")).to_have_text(f"People in {faces_ds['name']}")
    expect(editor.locator("li.mt-person")).to_have_count(len(WHO))


def test_editor_names_clusters(editor, faces_ds, conn):
    ds = faces_ds
    editor.goto(_people_url(ds))
    record("People page (4 people, 16 faces): time to first byte (ms)", _ttfb_ms(editor))
    record("People page: navigation to DOMContentLoaded (ms)", _nav_ms(editor))
    assert_controls_labeled(editor)
    for who in ("Colin_Powell", "Serena_Williams"):
        pid, name = ds["ids"][who], who.replace("_", " ")
        card = _card(editor, pid)
        card.get_by_label(f"Name of Person {pid}", exact=True).fill(name)
        card.get_by_role("button", name="Save name").click()
        expect(editor.get_by_role("status")).to_contain_text(f'Named Person {pid} "{name}".')
        expect(_card(editor, pid).locator("h2")).to_have_text(name)
    named = dict(conn.execute("SELECT person_id, name FROM mediatag.people(%s)", (ds["name"],)).fetchall())
    assert (
        named[ds["ids"]["Colin_Powell"]] == "Colin Powell" and named[ds["ids"]["Serena_Williams"]] == "Serena Williams"
    )
    # Crops are served for every face shown.
    crops = editor.locator("li.mt-person img.mt-crop")
    assert crops.count() >= 3 * len(WHO)
    assert editor.evaluate("() => [...document.querySelectorAll('img.mt-crop')].every(i => i.naturalWidth === 96)")
    screenshot(editor, "people")


def test_editor_splits_faces_off_and_merges_them_back(editor, faces_ds, conn):
    ds, colin = faces_ds, faces_ds["ids"]["Colin_Powell"]
    before = sorted(_faces(conn, ds["name"], colin))
    editor.goto(_person_url(ds, "Colin_Powell"))
    record("person page (faces, timeline, photos): time to first byte (ms)", _ttfb_ms(editor))
    assert_controls_labeled(editor)
    editor.get_by_label(f"Select face {before[0]}", exact=True).check()
    editor.get_by_label("New person's name (optional)").fill("Colin look-alike")
    editor.get_by_role("button", name="Move selected faces to a new person").click()
    expect(editor.get_by_role("status")).to_contain_text("to Colin look-alike")
    expect(editor.locator("#person-faces li")).to_have_count(len(before) - 1)
    split = conn.execute(
        "SELECT person_id FROM mediatag.people(%s) WHERE name = 'Colin look-alike'", (ds["name"],)
    ).fetchone()[0]
    assert _faces(conn, ds["name"], split) == [before[0]]

    editor.goto(_people_url(ds))
    card = _card(editor, split)
    expect(card.locator(f'option[value="{colin}"]')).to_have_text(re.compile(r"^Colin Powell \("))
    card.get_by_label("Merge into").select_option(value=str(colin))
    card.get_by_role("button", name="Merge Colin look-alike into the person chosen").click()
    expect(editor.get_by_role("status")).to_contain_text("Merged Colin look-alike into Colin Powell: 1 face moved.")
    expect(_card(editor, split)).to_have_count(0)
    assert sorted(_faces(conn, ds["name"], colin)) == before


def test_editor_removes_a_face(editor, faces_ds, conn):
    ds, serena = faces_ds, faces_ds["ids"]["Serena_Williams"]
    faces = _faces(conn, ds["name"], serena)
    gone = faces[1]  # of her second photo: the first and the video keep theirs for the face box test
    editor.goto(_person_url(ds, "Serena_Williams"))
    editor.get_by_role("button", name=f"Remove face {gone} from Serena Williams", exact=True).click()
    expect(editor.get_by_role("status")).to_contain_text(f"Removed face {gone} from Serena Williams")
    expect(editor.get_by_label(f"Select face {gone}", exact=True)).to_have_count(0)
    assert _faces(conn, ds["name"], serena) == [f for f in faces if f != gone]
    assert conn.execute("SELECT person_id FROM mediatag.face WHERE id = %s", (gone,)).fetchone() == (None,)


def test_editor_makes_a_person_tag_and_a_person_concept(editor, faces_ds, conn):
    ds, hugo = faces_ds, faces_ds["ids"]["Hugo_Chavez"]
    conn.execute("SELECT mediatag.name_person(%s, 'Hugo Chavez')", (hugo,))
    keyframes = {
        r[0] for r in conn.execute("SELECT keyframe_id FROM mediatag.faces(%s, person => %s)", (ds["name"], hugo))
    }
    group, concept = unique("Leaders"), unique("Hugo")
    editor.goto(_person_url(ds, "Hugo_Chavez"))
    expect(editor.get_by_label("Tag", exact=True)).to_have_value("Hugo Chavez")  # the person's name by default
    editor.get_by_label("Tag group").fill(group)
    editor.get_by_role("button", name="Make person tag").click()
    expect(editor.get_by_role("status")).to_contain_text(f'New tag group "{group}": tag "Hugo Chavez" is Hugo Chavez')
    made = editor.locator("#person-made")
    expect(made).to_contain_text(f"Person tag {group}: Hugo Chavez")
    assert_controls_labeled(editor)
    screenshot(editor, "person_tag")
    # The tag scores his keyframes, and only his, by their faces.
    top = conn.execute(
        "SELECT keyframe_id FROM mediatag.preview(%s, 'Hugo Chavez', 'positives', 'keyframe', 0.5, 50)", (group,)
    ).fetchall()
    assert {k for (k,) in top} == keyframes, top
    made.get_by_role("link", name=f"{group}: Hugo Chavez").click()
    expect(editor.locator("h1")).to_have_text("Hugo Chavez")
    # Back on his page, a concept of him.
    editor.goto(_person_url(ds, "Hugo_Chavez"))
    editor.get_by_label("Concept", exact=True).fill(concept)
    editor.get_by_role("button", name="Make person concept").click()
    expect(editor.get_by_role("status")).to_contain_text(f'New concept "{concept}" is Hugo Chavez now')
    editor.locator("#person-made").get_by_role("link", name=concept).click()
    expect(editor.locator("h1")).to_have_text(f"Concept {concept}")
    decided = conn.execute("SELECT keyframe_id FROM mediatag.concept_scores(%s) WHERE decision", (concept,)).fetchall()
    assert {k for (k,) in decided} == keyframes, decided


def test_editor_forgets_a_person_after_confirming(editor, faces_ds, conn):
    ds, koizumi = faces_ds, faces_ds["ids"]["Junichiro_Koizumi"]
    faces = _faces(conn, ds["name"], koizumi)
    editor.goto(_people_url(ds))
    _card(editor, koizumi).get_by_role("button", name=f"Forget Person {koizumi}…", exact=True).click()
    expect(editor.locator("#forget-explained")).to_contain_text("deletes")
    expect(editor.locator("#forget-explained")).to_contain_text("descriptors")
    assert len(_faces(conn, ds["name"], koizumi)) == len(faces)  # asking deleted nothing
    editor.get_by_role("button", name=f"Forget Person {koizumi} and delete their faces").click()
    expect(editor.get_by_role("status")).to_contain_text(f"Forgot Person {koizumi}: {len(faces)} face")
    expect(_card(editor, koizumi)).to_have_count(0)
    assert conn.execute("SELECT count(*) FROM mediatag.face WHERE id = ANY(%s)", (faces,)).fetchone() == (0,)


def test_person_timeline_seeks_the_player_and_finds_the_person(editor, faces_ds, conn):
    ds, colin = faces_ds, faces_ds["ids"]["Colin_Powell"]
    editor.goto(_person_url(ds, "Colin_Powell"))
    ranges = editor.locator(f'.mt-appearances[data-asset="{ds["video"]}"] a.mt-appear')
    # Colin is in the video's first and last 2 s shots.
    expect(ranges).to_have_count(2)
    starts = [int(ranges.nth(i).get_attribute("data-start-ms")) for i in range(2)]
    assert starts[0] == 0 and 3500 <= starts[1] <= 4500, starts
    screenshot(editor, "person")
    ranges.nth(1).click()
    editor.wait_for_url(re.compile(rf"/mediatag/asset\?id={ds['video']}&t={starts[1]}$"))
    assert abs(_current_ms(editor, starts[1]) - starts[1]) < 50

    editor.goto(_person_url(ds, "Colin_Powell"))
    editor.locator("#person-find").click()
    expect(editor.locator("h1")).to_have_text("Find Colin Powell")
    hits = editor.locator("#face-hits li.mt-face-hit")
    expect(hits.first).to_be_visible()
    people = [hits.nth(i).get_attribute("data-person") for i in range(hits.count())]
    mine = len(_faces(conn, ds["name"], colin))
    # His own faces come first (the searched one at distance 0).
    assert people[:mine] == [str(colin)] * mine, people
    expect(hits.first.locator(".mt-cap")).to_contain_text("0.000")
    assert_controls_labeled(editor)


def test_asset_page_draws_named_face_boxes(editor, faces_ds, conn):
    ds = faces_ds
    photo = ds["photos"]["Serena_Williams"][0].name
    asset = conn.execute(
        "SELECT id FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) AND path LIKE %s",
        (ds["name"], f"%/{photo}"),
    ).fetchone()[0]
    editor.goto(f"/mediatag/asset?id={asset}")
    main = editor.locator(".mt-whole .mt-facebox", has_text="Serena Williams")
    expect(main).to_have_count(1)
    # LFW centres the named person: the box sits around the middle of the picture.
    img, box = editor.locator("#asset-image").bounding_box(), main.bounding_box()
    cx, cy = box["x"] + box["width"] / 2 - img["x"], box["y"] + box["height"] / 2 - img["y"]
    assert abs(cx / img["width"] - 0.5) < 0.15 and abs(cy / img["height"] - 0.5) < 0.2, (img, box)
    expect(editor.locator(".mt-tile .mt-facebox", has_text="Serena Williams")).to_have_count(1)
    assert_controls_labeled(editor)
    screenshot(editor, "asset_faces")
    editor.get_by_label("Show face boxes").uncheck()
    expect(main).to_be_hidden()
    editor.get_by_label("Show face boxes").check()
    expect(main).to_be_visible()
    # The video's keyframes: Colin, Serena, Colin.
    editor.goto(f"/mediatag/asset?id={ds['video']}")
    names = editor.locator(".mt-tile .mt-facebox .mt-facename")
    expect(names).to_have_text(["Colin Powell", "Serena Williams", "Colin Powell"])


def test_dataset_grid_and_search_results_draw_named_face_boxes(editor, faces_ds, conn):
    ds = faces_ds
    editor.goto(f"/mediatag/dataset?name={ds['name']}")
    # Every photo's tile boxes its faces: Colin's three (his video's first keyframe too), named.
    colin = editor.locator(".mt-tile .mt-facebox", has_text="Colin Powell")
    expect(colin).to_have_count(4)
    for i in range(4):
        tile, box = colin.nth(i).locator("xpath=ancestor::li[1]//img").bounding_box(), colin.nth(i).bounding_box()
        cx = box["x"] + box["width"] / 2 - tile["x"]
        assert 0 < cx < tile["width"] and box["width"] < tile["width"], (tile, box)
    screenshot(editor, "dataset_faces")
    editor.get_by_label("Show face boxes").uncheck()
    expect(colin.first).to_be_hidden()
    # "More like" one of Serena's photos: the results' tiles are boxed and named too.
    kf = conn.execute(
        "SELECT keyframe_id FROM mediatag.faces(%s, person => %s) ORDER BY face_id LIMIT 1",
        (ds["name"], ds["ids"]["Serena_Williams"]),
    ).fetchone()[0]
    editor.goto(f"/mediatag/search?dataset={ds['name']}&like={kf}")
    named = editor.locator("#search-results .mt-tile .mt-facebox .mt-facename")
    expect(named.filter(has_text="Serena Williams").first).to_be_visible()
    # Exactly the result tiles whose keyframe has a face are boxed (a forgotten person's photos have none now).
    shown = {int(k) for k in editor.locator("#search-results .mt-tile").evaluate_all("ts => ts.map(t => t.dataset.kf)")}
    boxed = editor.locator("#search-results .mt-tile:has(.mt-facebox)").evaluate_all("ts => ts.map(t => t.dataset.kf)")
    with_faces = {r[0] for r in conn.execute("SELECT keyframe_id FROM mediatag.faces(%s)", (ds["name"],))}
    assert {int(k) for k in boxed} == shown & with_faces and len(boxed) >= 8, (boxed, shown, with_faces)
    assert_controls_labeled(editor)


def test_viewer_sees_people_read_only_and_is_refused(viewer, faces_ds, conn):
    ds, colin = faces_ds, faces_ds["ids"]["Colin_Powell"]
    viewer.goto(_people_url(ds))
    expect(_card(viewer, colin).locator("h2")).to_have_text("Colin Powell")
    expect(viewer.locator('form[action="/mediatag/people"]')).to_have_count(0)
    expect(viewer.get_by_role("button", name=re.compile("Save name|Merge|Forget"))).to_have_count(0)
    viewer.goto(_person_url(ds, "Colin_Powell"))
    expect(viewer.locator("#person-faces img.mt-crop").first).to_be_visible()
    expect(viewer.locator('input[type="checkbox"], form[action="/mediatag/people"]')).to_have_count(0)
    expect(viewer.locator("#person-tag-form, #person-concept-form")).to_have_count(0)
    for path, fields in (("/mediatag/person/tag", {"tag_group": "x"}), ("/mediatag/person/concept", {"concept": "x"})):
        status, body = post_form(viewer, path, {"dataset": ds["name"], "person": str(colin), **fields})
        assert status == 403 and "needs the mediatag_editor role" in body, (path, status)
    before = conn.execute("SELECT name, faces FROM mediatag.people(%s) ORDER BY 1", (ds["name"],)).fetchall()
    for action, extra in (("name", {"name": "x"}), ("forget", {"confirm": "yes"}), ("merge", {"into": "1"})):
        status, body = post_form(
            viewer, "/mediatag/people", {"dataset": ds["name"], "action": action, "person": str(colin), **extra}
        )
        assert status == 403 and "needs the mediatag_editor role" in body, (action, status)
    assert conn.execute("SELECT name, faces FROM mediatag.people(%s) ORDER BY 1", (ds["name"],)).fetchall() == before
