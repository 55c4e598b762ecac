"""Issue 24, "wrong or raw output" and "actions that leave the page stale", through the UI's routes in-process (the
fixtures of test_ui_api: a Datasette with the plugin, a login of each role through the login form). Each test failed
on the code before its fix: the pages say things in words, in the UI's own page, and keep what was typed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import unique
from .test_ui_api import people, ui  # noqa: F401 — fixtures

TAGS = ["person", "giraffe", "car"]


@pytest.fixture(scope="module")
def fgroup(people, coco_dataset: str) -> str:  # noqa: F811
    name = unique("Feedback")
    fields = {"name": name, "dataset": coco_dataset, "keywords": "\n".join(TAGS), "visibility": "secret"}
    r = people["editor"].post_form("/mediatag/groups/new", fields)
    assert r.status_code == 302, r.text
    return name


def test_tag_page_counts_an_evaluations_items_in_words(people, fgroup, conn):  # noqa: F811
    editor = people["editor"]
    r = editor.post_form("/mediatag/tag/evaluate", {"group": fgroup, "tag": "person", "size": 20})
    assert r.status_code == 302, r.text
    e = int(parse_qs(urlsplit(r.headers["location"]).query)["id"][0])
    items = [x[0] for x in conn.execute("SELECT keyframe_id FROM mediatag.evaluation_items(%s)", [e])]
    judged = editor.post_json(f"/mediatag/api/evaluations/{e}/truth", {"keyframes": items[:3], "truth": True})
    assert judged.json()["ok"]
    for who in ("editor", "viewer"):
        page = people[who].get("/mediatag/tag", group=fgroup, tag="person").text
        assert "built-in method" not in page
        assert re.search(rf"3 of {len(items)} items judged", page), who
        # The evaluation page: named by its tag, not its internal id, and no raw dump of the progress row.
        ev = people[who].get("/mediatag/evaluation", id=e).text
        assert "<h1>Evaluation of person</h1>" in ev and f"Evaluation {e}" not in ev
        assert "<title>Evaluation of person" in ev


def test_search_keeps_the_form_on_bad_metadata_and_explains_filters_without_text(people, coco_dataset):  # noqa: F811
    viewer = people["viewer"]
    r = viewer.get("/mediatag/search", dataset=coco_dataset, q="a giraffe", meta="{not json")
    assert r.status_code == 200
    assert 'id="search-form"' in r.text and 'value="{not json"' in r.text
    assert "metadata filter must be a JSON object" in r.text
    # A filter without text: a sentence saying why nothing is listed, not an empty page.
    r = viewer.get("/mediatag/search", dataset=coco_dataset, q="", meta='{"a": "b"}')
    assert r.status_code == 200 and "Type some text" in r.text and 'id="search-form"' in r.text


def test_a_refusal_is_a_page_of_the_ui_and_home_is_the_uis(ui, people, fgroup):  # noqa: F811
    viewer = people["viewer"]
    r = viewer.post_form("/mediatag/group/publish", {"name": fgroup})
    assert r.status_code == 403 and "needs the mediatag_editor role" in r.text
    assert 'class="mt-nav"' in r.text and "<h1>Not allowed</h1>" in r.text and "Back to the datasets" in r.text
    root = viewer.get("/")
    assert root.status_code == 302 and root.headers["location"] == "/mediatag/"


def _group_row(conn, name: str) -> tuple:
    return conn.execute(
        "SELECT state, published_version, visibility FROM mediatag.list_tag_groups() WHERE name = %s", [name]
    ).fetchone()


def _score_jobs(conn, name: str) -> int:
    sql = """SELECT count(*) FROM mediatag.job j JOIN mediatag.tag_group g ON g.id = (j.payload ->> 'group_id')::bigint
             WHERE j.kind = 'score_group' AND g.name = %s"""
    return conn.execute(sql, [name]).fetchone()[0]


def test_publishing_unreviewed_tags_asks_first_and_visibility_alone_keeps_the_version(people, fgroup, conn):  # noqa: F811
    editor = people["editor"]
    # person has an evaluation (the first test); giraffe and car nobody looked at: named, nothing published yet.
    r = editor.post_form("/mediatag/group/publish", {"name": fgroup, "visibility": "secret", "note": "first"})
    assert r.status_code == 200 and 'id="publish-unreviewed"' in r.text
    assert "<strong>giraffe, car</strong>" in r.text and "Publish anyway" in r.text and 'value="first"' in r.text
    assert _group_row(conn, fgroup)[:2] == ("draft", 0)
    r = editor.post_form("/mediatag/group/publish", {"name": fgroup, "visibility": "secret", "confirm": "1"})
    assert r.status_code == 302 and _group_row(conn, fgroup) == ("published", 1, "secret")
    jobs = _score_jobs(conn, fgroup)
    # Secret -> shareable with no edits since: the same version, no new scoring, and the page says so.
    r = editor.post_form("/mediatag/group/publish", {"name": fgroup, "visibility": "shareable"})
    assert r.status_code == 302
    assert _group_row(conn, fgroup) == ("published", 1, "shareable") and _score_jobs(conn, fgroup) == jobs
    assert "No edits since version 1" in editor.get("/mediatag/group", name=fgroup).text
    # After an edit, publishing is a new version again.
    assert editor.post_json("/mediatag/api/threshold", {"group": fgroup, "tag": "car", "threshold": 0.7}).json()["ok"]
    r = editor.post_form("/mediatag/group/publish", {"name": fgroup, "visibility": "shareable", "confirm": "1"})
    assert r.status_code == 302 and _group_row(conn, fgroup)[1] == 2


def test_queued_scoring_without_a_worker_says_how_to_start_one(people, fgroup, db_url):  # noqa: F811
    import psycopg

    viewer = people["viewer"]
    status = viewer.get("/mediatag/api/status", group=fgroup).json()
    assert status["workers"] == 0 and any(s["status"] == "queued" for s in status["status"])
    page = viewer.get("/mediatag/group", name=fgroup).text
    notice = re.search(r'<p id="worker-status"[^>]*>(.*?)</p>', page, re.S)
    assert notice and " hidden" not in notice.group(0).split(">")[0]
    assert "No job worker is running" in notice.group(1) and "mediatag serve" in notice.group(1)
    # `mediatag serve`'s worker keeps a heartbeat connection by this name: then the notice goes.
    with psycopg.connect(db_url, application_name="mediatag-heartbeat"):
        assert viewer.get("/mediatag/api/status", group=fgroup).json()["workers"] == 1
        page = viewer.get("/mediatag/group", name=fgroup).text
        assert re.search(r'<p id="worker-status"[^>]* hidden>', page)


def test_offline_suggestions_leave_out_offensive_archaic_and_look_alike_words():
    from mediatag.llm.wordnet import wordnet_suggestions

    prompts = [s.prompt.lower() for s in wordnet_suggestions("dog")]
    assert prompts and not [p for p in prompts if re.search(r"\b(bitch|cur|canis|wild dog)\b", p)], prompts
    negatives = {s.prompt for s in wordnet_suggestions("cat") if s.polarity == "negative"}
    assert not [p for p in negatives if "cat" in p.split()]


def test_suggestions_are_ranked_by_what_they_find(people, fgroup, conn):  # noqa: F811
    rows = people["editor"].get("/mediatag/api/suggest_prompts", group=fgroup, tag="giraffe").json()["rows"]
    visual_pos = [r["prompt"] for r in rows if r["modality"] == "visual" and r["polarity"] == "positive"]
    assert visual_pos
    measured = dict(
        conn.execute(
            """SELECT s.prompt, s.usefulness FROM mediatag.prompt_suggestion s JOIN mediatag.tag t ON t.id = s.tag_id
               JOIN mediatag.tag_group g ON g.id = t.group_id
               WHERE g.name = %s AND t.name = 'giraffe' AND s.modality = 'visual' AND s.polarity = 'positive'
                 AND s.added_at IS NULL""",
            [fgroup],
        ).fetchall()
    )
    assert all(measured[p] is not None for p in visual_pos)
    assert [measured[p] for p in visual_pos] == sorted((measured[p] for p in visual_pos), reverse=True)
