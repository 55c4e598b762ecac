"""The People pages' routes in-process (issue 27), logged in as a login of each mediatag role, on real face photos of
the shared LFW subset: who sees the pages and the face crops, which role's form POSTs change people (name, merge,
split, remove, confirm, forget after its confirm step) and that a refused one changes nothing. The Chromium tests
(tests/browser/test_ui_people.py) drive the same routes from the pages."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from .conftest import unique
from .facephotos import MISSING, ingest_faces, lfw_photos, person_of_files
from .test_ui_api import UI, Person, people, refused_form, ui  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

WHO = ["Colin_Powell", "Serena_Williams", "Hugo_Chavez"]


@pytest.fixture(scope="module")
def faces_ds(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    """Three people, three photos each, ingested with faces on: (dataset, LFW name -> person id)."""
    photos = lfw_photos(WHO, 3)
    name = unique("people_api")
    ingest_faces(db_url, name, [p for files in photos.values() for p in files], tmp_path_factory.mktemp("kf"))
    truth = {p.name: who for who, files in photos.items() for p in files}
    with psycopg.connect(db_url) as c:
        ids = person_of_files(c, name, truth)
    assert set(ids) == set(WHO) and len(set(ids.values())) == len(WHO), ids
    return name, ids


def person_row(conn: psycopg.Connection, dataset: str, person: int) -> tuple | None:
    """(name, faces) of a person, read as the operator (not through the UI under test)."""
    return conn.execute(
        "SELECT name, faces FROM mediatag.people(%s) WHERE person_id = %s", (dataset, person)
    ).fetchone()


def face_ids(conn: psycopg.Connection, dataset: str, person: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT face_id FROM mediatag.faces(%s, person => %s)", (dataset, person))]


def post(who: Person, dataset: str, action: str, person: int, **fields) -> object:
    return who.post_form("/mediatag/people", {"dataset": dataset, "action": action, "person": person, **fields})


def test_people_pages_by_role(people, faces_ds):  # noqa: F811
    dataset, ids = faces_ds
    colin = ids["Colin_Powell"]
    for role in ("viewer", "editor", "admin"):
        r = people[role].get("/mediatag/people", dataset=dataset)
        assert r.status_code == 200, (role, r.text)
        assert f'href="/mediatag/person?dataset={dataset}&amp;id={colin}"' in r.text
        # Edit controls for editors (admins are editors too), none for a viewer.
        assert ("Save name" in r.text) == (role != "viewer"), role
        assert ('name="action"' in r.text) == (role != "viewer"), role
        p = people[role].get("/mediatag/person", dataset=dataset, id=colin)
        assert p.status_code == 200 and "Find this person across the dataset" in p.text
        assert ("Move selected faces to a new person" in p.text) == (role != "viewer"), role
    # A query-only login: the product's refusal, naming the role it lacks, not a raw database error.
    for path, params in (
        ("/mediatag/people", {"dataset": dataset}),
        ("/mediatag/person", {"dataset": dataset, "id": colin}),
    ):
        r = people["query"].get(path, **params)
        assert r.status_code == 403 and "may not see people: it needs the mediatag_viewer role" in r.text
    # A person of another dataset, or none: 404 with words, not a crash.
    r = people["viewer"].get("/mediatag/person", dataset=dataset, id=10**12)
    assert r.status_code == 404 and f"has no person {10**12}" in r.text


def test_face_crops_only_for_datasets_the_login_sees(people, faces_ds, conn, db_url, tmp_path):  # noqa: F811
    dataset, ids = faces_ds
    face = face_ids(conn, dataset, ids["Serena_Williams"])[0]
    r = people["viewer"].get(f"/mediatag/face/{face}.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert "private" in r.headers["cache-control"]
    assert people["query"].get(f"/mediatag/face/{face}.jpg").status_code == 403
    # A dataset only someone else may see: its faces are unknown to the viewer.
    hidden = unique("people_hidden")
    ingest_faces(db_url, hidden, lfw_photos(["Serena_Williams"], 1, skip=5)["Serena_Williams"], tmp_path)
    secret = conn.execute("SELECT face_id FROM mediatag.faces(%s) LIMIT 1", (hidden,)).fetchone()[0]
    conn.execute("SELECT mediatag.grant_dataset_access(%s, %s, 'viewer')", (hidden, people["admin"].login))
    r = people["viewer"].get(f"/mediatag/face/{secret}.jpg")
    assert r.status_code == 404 and f"unknown face {secret}" in r.text and b"\xff\xd8" not in r.content[:2]
    assert people["viewer"].get("/mediatag/people", dataset=hidden).status_code != 200
    assert people["admin"].get(f"/mediatag/face/{secret}.jpg").status_code == 200


def test_a_viewer_and_a_query_login_change_nothing(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    hugo = ids["Hugo_Chavez"]
    before = person_row(conn, dataset, hugo), face_ids(conn, dataset, hugo)
    face = before[1][0]
    attempts = [
        ("name", {"name": "Not allowed"}),
        ("merge", {"into": ids["Colin_Powell"]}),
        ("split", {"face": face}),
        ("remove", {"face": face}),
        ("confirm", {"face": face}),
        ("forget", {"confirm": "yes"}),
    ]
    for role in ("viewer", "query"):
        for action, fields in attempts:
            r = post(people[role], dataset, action, hugo, **fields)
            assert r.status_code == 403 and "may not change people: it needs the mediatag_editor role" in r.text, (
                role,
                action,
                r.text,
            )
    assert refused_form(post(people["viewer"], dataset, "name", hugo, name="x"))
    assert (person_row(conn, dataset, hugo), face_ids(conn, dataset, hugo)) == before


def test_an_editor_names_splits_merges_removes_and_confirms(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    editor, colin = people["editor"], ids["Colin_Powell"]
    name = f"Colin Powell {uuid.uuid4().hex[:4]}"
    r = post(editor, dataset, "name", colin, name=name, back="person")
    assert r.status_code == 302 and r.headers["location"] == f"/mediatag/person?dataset={dataset}&id={colin}"
    assert person_row(conn, dataset, colin)[0] == name
    # Split one face off (the form repeats `face`), then merge the new person back.
    faces = face_ids(conn, dataset, colin)
    r = post(editor, dataset, "split", colin, face=[faces[0]], name="")
    assert r.status_code == 302 and r.headers["location"] == f"/mediatag/people?dataset={dataset}"
    new = conn.execute("SELECT person_id FROM mediatag.faces(%s) WHERE face_id = %s", (dataset, faces[0])).fetchone()[0]
    assert new != colin and face_ids(conn, dataset, colin) == faces[1:]
    assert post(editor, dataset, "merge", new, into=colin).status_code == 302
    assert person_row(conn, dataset, new) is None and sorted(face_ids(conn, dataset, colin)) == sorted(faces)
    # Remove one face: out of the person, and clustering's rejection recorded.
    assert post(editor, dataset, "remove", colin, face=faces[-1]).status_code == 302
    assert faces[-1] not in face_ids(conn, dataset, colin)
    assert conn.execute(
        "SELECT count(*) FROM mediatag.face_rejection WHERE face_id = %s AND person_id = %s", (faces[-1], colin)
    ).fetchone() == (1,)
    # Confirm it back (what the face search page's "This is …" button posts).
    r = post(editor, dataset, "confirm", colin, face=faces[-1], back="search", search_face=faces[0])
    assert r.headers["location"] == f"/mediatag/faces/search?dataset={dataset}&face={faces[0]}&person={colin}"
    assert faces[-1] in face_ids(conn, dataset, colin)


def test_bad_changes_are_explained_and_change_nothing(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    editor, serena = people["editor"], ids["Serena_Williams"]
    before = person_row(conn, dataset, serena), face_ids(conn, dataset, serena)
    r = post(editor, dataset, "rename", serena)
    assert r.status_code == 400 and "unknown action &#39;rename&#39;" in r.text
    r = post(editor, dataset, "split", serena)
    assert r.status_code == 400 and "pick the faces to move first" in r.text
    r = post(editor, dataset, "merge", serena, into="x")
    assert r.status_code == 400 and "must be a whole number" in r.text
    # The database's own refusal (a face of someone else): back to the page with its words.
    other = face_ids(conn, dataset, ids["Hugo_Chavez"])[0]
    r = editor.ui.anonymous(
        "POST",
        "/mediatag/people",
        data={"dataset": dataset, "action": "split", "person": serena, "face": other, "csrftoken": editor.token},
        cookies=editor.cookies,
        headers={"referer": f"/mediatag/person?dataset={dataset}&id={serena}"},
    )
    assert r.status_code == 302 and r.headers["location"] == f"/mediatag/person?dataset={dataset}&id={serena}"
    assert (person_row(conn, dataset, serena), face_ids(conn, dataset, serena)) == before


def test_forget_asks_first_then_deletes_faces_and_descriptors(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    editor, hugo = people["editor"], ids["Hugo_Chavez"]
    faces = face_ids(conn, dataset, hugo)
    r = post(editor, dataset, "forget", hugo, back="person")
    assert r.status_code == 200 and "cannot be undone" in r.text and "descriptors" in r.text
    assert 'name="confirm" value="yes"' in r.text
    assert face_ids(conn, dataset, hugo) == faces  # asking deleted nothing
    r = post(editor, dataset, "forget", hugo, confirm="yes")
    assert r.status_code == 302 and r.headers["location"] == f"/mediatag/people?dataset={dataset}"
    assert person_row(conn, dataset, hugo) is None
    assert conn.execute("SELECT count(*) FROM mediatag.face WHERE id = ANY(%s)", (faces,)).fetchone() == (0,)
    # The People page says so (the message travels in a cookie, as in a browser) and shows them no more.
    after = editor.ui.anonymous("GET", r.headers["location"], cookies={**editor.cookies, **dict(r.cookies)})
    assert f"{len(faces)} face" in after.text and "Forgot " in after.text and f"id={hugo}" not in after.text


def test_dataset_page_links_people_only_where_faces_are_on(people, faces_ds, db_url, tmp_path: Path):  # noqa: F811
    dataset, _ = faces_ds
    r = people["viewer"].get("/mediatag/dataset", name=dataset)
    assert 'id="dataset-people"' in r.text and "Faces are off" not in r.text
    off = unique("people_off")
    ingest_faces(db_url, off, lfw_photos(["Colin_Powell"], 1, skip=7)["Colin_Powell"], tmp_path, faces=False)
    r = people["viewer"].get("/mediatag/dataset", name=off)
    assert 'id="dataset-people"' not in r.text and f"SELECT mediatag.enable_faces('{off}');" in r.text


def test_merge_offers_a_number_with_suggestions_past_a_menus_worth(people, faces_ds, monkeypatch):  # noqa: F811
    from datasette_mediatag import people as people_pages

    dataset, ids = faces_ds
    r = people["editor"].get("/mediatag/people", dataset=dataset)
    assert 'list="people-choices"' not in r.text and "<select" in r.text
    monkeypatch.setattr(people_pages, "MERGE_CHOICES", 1)
    r = people["editor"].get("/mediatag/people", dataset=dataset)
    assert 'list="people-choices"' in r.text and "<select" not in r.text
    # One list for the page, every person in it once.
    assert r.text.count('<datalist id="people-choices">') == 1
    for pid in (ids["Colin_Powell"], ids["Serena_Williams"]):  # (Hugo is forgotten above)
        assert r.text.count(f'<option value="{pid}">') == 1
