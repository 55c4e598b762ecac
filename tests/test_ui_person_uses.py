"""A person tag and a person concept made from a person's page (issue 27), in-process, logged in per role, on real
LFW face photos: an editor adds a person as a tag of a new group and of an existing one, and as a concept; the tag
and concept score keyframes by their faces (their person's photos first); viewers and query logins are refused with
words and change nothing; a bad request is explained and leaves no half-made group or concept. The Chromium test
(tests/browser/test_ui_people.py) clicks the same forms."""

from __future__ import annotations

from html import unescape
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from .conftest import unique
from .facephotos import MISSING
from .test_ui_api import Person, people, ui  # noqa: F401 (fixtures)
from .test_ui_people_api import WHO, faces_ds  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


@pytest.fixture(autouse=True)
def _embeddings(service: str) -> None:
    """A new tag trains its prompt classifiers too (its name in the subtitles): the real embedding service."""


def make(who: Person, what: str, dataset: str, person: int, **fields) -> object:
    return who.post_form(f"/mediatag/person/{what}", {"dataset": dataset, "person": person, **fields})


def tags_of(conn: psycopg.Connection, group: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tag FROM mediatag.group_overview(%s) ORDER BY position", (group,))]


def face_classifier(conn: psycopg.Connection, group: str, tag: str) -> dict | None:
    """The summary of the classifier that scores the tag's keyframes now (a 'face' one for a person tag)."""
    row = conn.execute(
        "SELECT c.modality, c.summary FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id"
        " CROSS JOIN LATERAL mediatag._keyframe_classifier(t.id) c WHERE lower(g.name) = lower(%s) AND t.name = %s",
        (group, tag),
    ).fetchone()
    return None if row is None else {"modality": row[0], **row[1]}


def their_keyframes(conn: psycopg.Connection, dataset: str, person: int) -> set[int]:
    rows = conn.execute("SELECT keyframe_id FROM mediatag.faces(%s, person => %s)", (dataset, person))
    return {r[0] for r in rows}


def test_an_editor_makes_a_person_tag_in_a_new_group_then_an_existing_one(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    editor, colin, serena = people["editor"], ids["Colin_Powell"], ids["Serena_Williams"]
    conn.execute("SELECT mediatag.name_person(%s, 'Colin Powell')", (colin,))
    group = unique("Celebrities")
    r = make(editor, "tag", dataset, colin, tag_group=group, tag="")  # the tag takes the person's name
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.path == "/mediatag/person"
    assert parse_qs(back.query) == {
        "dataset": [dataset], "id": [str(colin)], "made": ["tag"], "tag_group": [group], "tag": ["Colin Powell"]
    }  # fmt: skip
    assert tags_of(conn, group) == ["Colin Powell"]
    summary = face_classifier(conn, group, "Colin Powell")
    n_colin = len(their_keyframes(conn, dataset, colin))
    assert summary["modality"] == "face" and summary["exemplars"] == summary["from_faces"] >= n_colin, summary
    # The page it lands on links the tag and its group, and says what was done (the message rides in a cookie).
    page = editor.ui.anonymous("GET", r.headers["location"], cookies={**editor.cookies, **dict(r.cookies)})
    assert 'id="person-made"' in page.text and f'href="/mediatag/tag?group={group}&amp;tag=Colin+Powell"' in page.text
    assert f'tag "Colin Powell" is Colin Powell now, from {summary["exemplars"]} face examples' in unescape(page.text)
    # The tag scores his keyframes above everyone else's: the draft's preview ranks by the face classifier.
    top = conn.execute(
        "SELECT keyframe_id, score FROM mediatag.preview(%s, 'Colin Powell', 'positives', 'keyframe', 0.5, 50)",
        (group,),
    ).fetchall()
    assert top and {k for k, _ in top} == their_keyframes(conn, dataset, colin), top
    # Serena joins the same group as a tag of her own, typed in another case; the group is offered on her page.
    assert group in editor.get("/mediatag/person", dataset=dataset, id=serena).text
    r = make(editor, "tag", dataset, serena, tag_group=group.upper(), tag="Serena")
    assert r.status_code == 302 and f"tag_group={group}" in r.headers["location"], r.text
    assert tags_of(conn, group) == ["Colin Powell", "Serena"]
    assert face_classifier(conn, group, "Serena")["modality"] == "face"
    # Again onto a tag it has: its examples stay one per face (nothing doubled), still one tag.
    before = face_classifier(conn, group, "Serena")["exemplars"]
    assert make(editor, "tag", dataset, serena, tag_group=group, tag="serena").status_code == 302
    assert tags_of(conn, group) == ["Colin Powell", "Serena"]
    assert face_classifier(conn, group, "Serena")["exemplars"] == before


def test_an_editor_makes_a_person_concept(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    editor, serena = people["editor"], ids["Serena_Williams"]
    concept = unique("Serena")
    r = make(editor, "concept", dataset, serena, concept=concept)
    assert r.status_code == 302, r.text
    assert parse_qs(urlsplit(r.headers["location"]).query)["concept"] == [concept]
    page = editor.ui.anonymous("GET", r.headers["location"], cookies={**editor.cookies, **dict(r.cookies)})
    assert f'href="/mediatag/concept?name={concept}"' in page.text and f'New concept "{concept}"' in unescape(page.text)
    scores = conn.execute(
        "SELECT keyframe_id FROM mediatag.concept_scores(%s) WHERE decision ORDER BY score DESC", (concept,)
    ).fetchall()
    assert {k for (k,) in scores} == their_keyframes(conn, dataset, serena), scores
    # Once more: the concept exists, so her faces join it (a new version), no second concept.
    r = make(editor, "concept", dataset, serena, concept=concept.lower())
    assert r.status_code == 302
    same = conn.execute("SELECT count(*) FROM mediatag.concept WHERE lower(name) = lower(%s)", (concept,)).fetchone()
    assert same == (1,)


def test_viewers_and_query_logins_are_refused_and_change_nothing(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    colin = ids["Colin_Powell"]
    group, concept = unique("Refused"), unique("refused")
    for role in ("viewer", "query"):
        for what, fields, doing in (
            ("tag", {"tag_group": group, "tag": "x"}, "make a person tag"),
            ("concept", {"concept": concept}, "make a person concept"),
        ):
            r = make(people[role], what, dataset, colin, **fields)
            assert r.status_code == 403, (role, what, r.text)
            assert f"may not {doing}: it needs the mediatag_editor role" in r.text, (role, what)
    # A viewer's person page offers no such form.
    page = people["viewer"].get("/mediatag/person", dataset=dataset, id=colin).text
    assert "person-tag-form" not in page and "Make person concept" not in page
    assert "Make person tag" in people["editor"].get("/mediatag/person", dataset=dataset, id=colin).text
    assert conn.execute("SELECT count(*) FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM mediatag.concept WHERE name = %s", (concept,)).fetchone() == (0,)


def test_bad_requests_are_explained_and_leave_nothing_half_made(people, faces_ds, conn):  # noqa: F811
    dataset, ids = faces_ds
    editor = people["editor"]
    unnamed = conn.execute(
        "SELECT mediatag.split_person(%s, ARRAY(SELECT face_id FROM mediatag.faces(%s, person => %s) LIMIT 1))",
        (ids["Hugo_Chavez"], dataset, ids["Hugo_Chavez"]),
    ).fetchone()[0]
    r = make(editor, "tag", dataset, unnamed, tag_group=unique("G"), tag="")
    assert r.status_code == 400 and f"type a name for the tag, or name Person {unnamed} first" in r.text
    r = make(editor, "concept", dataset, unnamed, concept="")
    assert r.status_code == 400 and "type a name for the concept" in r.text
    r = make(editor, "tag", dataset, unnamed, tag_group="", tag="x")
    assert r.status_code == 400 and "pick or type the tag group" in r.text
    r = make(editor, "tag", dataset, 10**12, tag_group="G", tag="x")
    assert r.status_code == 404 and f"has no person {10**12}" in r.text
    # The database's refusal (a tag name it does not take) goes back to the page with its words; no group is made.
    group = unique("Half")
    r = make(editor, "tag", dataset, unnamed, tag_group=group, tag="bad\x01name")
    assert r.status_code == 302, r.text
    assert conn.execute("SELECT count(*) FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone() == (0,)
