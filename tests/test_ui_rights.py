"""Issue 24, "the UI explains a missing right": every route of the UI, tried as a viewer and as a login that holds
mediatag_query only. What a role may not do is refused with 403 and the words a person needs (who may not do
what, the role it needs, the roles the login holds, how the operator grants it), never the database's
"permission denied for function …"; what it may do works. A route added to the plugin without a line here fails
the coverage check."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from .conftest import unique
from .test_ui_api import Person, group, keyframes, people, ui  # noqa: F401  (fixtures)

RAW = re.compile(r"permission denied", re.IGNORECASE)


@pytest.fixture(scope="module")
def things(people, group, keyframes, coco_dataset, db_url) -> dict[str, object]:  # noqa: F811
    """What the routes name: a concept, an evaluation, an asset and a keyframe of the test dataset."""
    editor = people["editor"]
    concept = unique("rights")
    r = editor.post_form("/mediatag/concepts", {"dataset": coco_dataset, "name": concept, "description": "a car"})
    assert r.status_code == 302, r.text
    r = editor.post_form("/mediatag/group/publish", {"name": group, "visibility": "shareable", "confirm": "1"})
    assert r.status_code == 302, r.text
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CALL mediatag.run_jobs()")
        asset = conn.execute("SELECT asset_id FROM mediatag.keyframe WHERE id = %s", [keyframes[0]]).fetchone()[0]
    r = editor.post_form("/mediatag/tag/evaluate", {"group": group, "tag": "car", "size": 10})
    assert r.status_code == 302, r.text
    evaluation = int(parse_qs(urlsplit(r.headers["location"]).query)["id"][0])
    return {"concept": concept, "e": evaluation, "asset": asset, "kf": keyframes[0], "dataset": coco_dataset}


def _routes(name: str, t: dict) -> list[tuple[str, str, str, dict]]:
    """(role the route needs, method, path, params or body) for every route of group `name` but login, logout and
    static files."""
    d, c, e, kf = t["dataset"], t["concept"], t["e"], t["kf"]
    gt = {"group": name, "tag": "car"}
    return [
        ("viewer", "GET", "/mediatag/", {}),
        ("viewer", "GET", f"/mediatag/thumb/{kf}/320.jpg", {}),
        ("viewer", "GET", f"/mediatag/image/{kf}", {}),
        ("viewer", "GET", "/mediatag/dataset", {"name": d}),
        ("viewer", "GET", "/mediatag/asset", {"id": t["asset"]}),
        ("viewer", "GET", "/mediatag/dataset/access", {"name": d}),
        ("viewer", "GET", "/mediatag/dataset/filters", {"name": d}),
        ("viewer", "GET", "/mediatag/groups", {}),
        ("viewer", "GET", "/mediatag/groups/new", {"dataset": d}),
        ("viewer", "GET", "/mediatag/group", {"name": name}),
        ("viewer", "GET", "/mediatag/dataset/groups", {"name": d}),
        ("viewer", "GET", "/mediatag/api/status", {"group": name}),
        ("viewer", "GET", "/mediatag/tag", gt),
        ("viewer", "GET", "/mediatag/api/preview", gt),
        ("viewer", "GET", "/mediatag/api/search_for_labeling", {"group": name, "q": "a car"}),
        ("viewer", "GET", "/mediatag/api/uncertain", gt),
        ("editor", "GET", "/mediatag/api/suggest_prompts", gt),
        ("viewer", "GET", "/mediatag/api/tag_overview", gt),
        ("viewer", "GET", "/mediatag/evaluation", {"id": e}),
        ("viewer", "GET", f"/mediatag/api/evaluations/{e}/metrics", {}),
        ("viewer", "GET", f"/mediatag/api/evaluations/{e}/progress", {}),
        ("viewer", "GET", "/mediatag/search", {"dataset": d, "q": "a car"}),
        ("viewer", "GET", "/mediatag/concepts", {}),
        ("viewer", "GET", "/mediatag/concept", {"name": c}),
        ("viewer", "GET", "/mediatag/api/concepts/next", {"concept": c}),
        ("viewer", "GET", "/mediatag/api/concepts/top", {"concept": c}),
        ("viewer", "GET", f"/mediatag/video/{t['asset']}", {}),
        ("viewer", "GET", "/mediatag/people", {"dataset": d}),
        ("viewer", "GET", "/mediatag/person", {"dataset": d, "id": 1}),
        ("viewer", "GET", "/mediatag/faces/search", {"dataset": d, "face": 1}),
        ("viewer", "GET", "/mediatag/face/1.jpg", {}),
        ("viewer", "GET", "/mediatag/asset/export", {"id": t["asset"], **gt, "format": "csv"}),
        ("viewer", "GET", "/mediatag/api/asset_score_timeline", {"asset": t["asset"], "group": name}),
        ("viewer", "GET", f"/mediatag/api/reels/{'0' * 32}", {}),
        ("viewer", "GET", f"/mediatag/reel/{'0' * 32}.mp4", {}),
        ("query", "GET", "/mediatag/query", {"sql": "SELECT 1"}),
        ("query", "GET", "/mediatag/query.csv", {"sql": "SELECT 1"}),
        ("query", "GET", "/mediatag/query.json", {"sql": "SELECT 1"}),
        ("editor", "POST", "/mediatag/groups/new", {"name": unique("R"), "dataset": d, "keywords": "car"}),
        ("editor", "POST", "/mediatag/group/publish", {"name": name, "visibility": "shareable", "confirm": "1"}),
        ("editor", "POST", f"/mediatag/dataset/groups?name={d}", {"group": name, "action": "update"}),
        ("editor", "POST", f"/mediatag/dataset/filters?name={d}", {"action": "create", "metadata": '{"a": "b"}'}),
        ("admin", "POST", f"/mediatag/dataset/access?name={d}", {"action": "grant", "role": "public"}),
        ("editor", "POST", "/mediatag/tag/prompts", {**gt, "action": "add", "prompt": "a red car"}),
        ("editor", "POST", "/mediatag/api/label", {**gt, "keyframes": [kf], "label": True}),
        ("editor", "POST", "/mediatag/api/threshold", {**gt, "threshold": 0.9}),
        ("editor", "POST", "/mediatag/api/add_suggested_prompts", gt),
        ("editor", "POST", "/mediatag/api/prompt", {**gt, "prompt": "x", "polarity": "positive", "modality": "visual"}),
        ("editor", "POST", "/mediatag/tag/evaluate", {**gt, "size": 10}),
        ("editor", "POST", "/mediatag/evaluation/save", {"id": e, "threshold": 0.5, "metric": "f1"}),
        ("editor", "POST", "/mediatag/api/request_ground_truth", {"evaluation": e}),
        ("editor", "POST", f"/mediatag/api/evaluations/{e}/truth", {"keyframes": [kf], "truth": True}),
        ("editor", "POST", "/mediatag/concepts", {"dataset": d, "name": unique("r"), "description": "x"}),
        ("editor", "POST", "/mediatag/api/concepts/label", {"concept": c, "labels": {"yes": [kf]}}),
        ("editor", "POST", "/mediatag/concepts/import", {"concept": c}),
        ("editor", "POST", "/mediatag/concepts/examples", {"concept": c}),
        ("editor", "POST", "/mediatag/people", {"dataset": d, "action": "name", "person": 1, "name": "x"}),
        ("editor", "POST", "/mediatag/person/tag", {"dataset": d, "person": 1, "tag_group": "x", "tag": "x"}),
        ("editor", "POST", "/mediatag/person/concept", {"dataset": d, "person": 1, "concept": "x"}),
        ("editor", "POST", "/mediatag/api/reels", {"asset": t["asset"], **gt}),
        ("editor", "POST", f"/mediatag/dataset/upload?name={d}", {}),
        ("editor", "POST", f"/mediatag/dataset/ingest-folder?name={d}", {"folder": "/tmp"}),
    ]


def _send(person: Person, method: str, path: str, data: dict) -> httpx.Response:
    if method == "GET":
        return person.get(path, **data)
    if path.startswith("/mediatag/api/"):
        return person.post_json(path, data)
    return person.post_form(path, data)


def _text(r: httpx.Response) -> str:
    """The refusal as a person reads it: the JSON's error and hint, or the page's text."""
    if r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        return f"{body.get('error')} hint: {body.get('hint')}"
    return r.text


def test_every_route_is_in_the_sweep(group, things):  # noqa: F811
    from datasette_mediatag import ROUTES

    paths = [urlsplit(path).path for _, _, path, _ in _routes(group, things)]
    skipped = {"^/$", "^/mediatag/login$", "^/mediatag/logout$", "^/mediatag/static/(?P<name>[A-Za-z0-9_.-]+)$"}
    missing = [p for p, _ in ROUTES if p not in skipped and not any(re.match(p, x) for x in paths)]
    assert not missing, f"routes not tried as each role: {missing}"


@pytest.mark.parametrize("who", ["viewer", "query"])
def test_each_route_explains_a_missing_right(who, people, group, things, conn):  # noqa: F811
    person = people[who]
    holds = {"viewer": "mediatag_viewer", "query": "mediatag_query"}[who]
    before = conn.execute("SELECT count(*) FROM mediatag.visual_label").fetchone()[0]
    for need, method, path, data in _routes(group, things):
        r = _send(person, method, path, data)
        allowed = need == who or (need == "viewer" and who != "query")
        where = (who, method, path, r.status_code)
        assert not RAW.search(r.text), (*where, r.text[:300])
        if allowed:
            assert r.status_code < 400 or r.status_code == 404, (*where, r.text[:300])
            continue
        assert r.status_code == 403, (*where, r.text[:300])
        text = _text(r)
        assert f"{person.login} may not " in text, (*where, text[:300])
        assert f"needs the mediatag_{need} role" in text, (*where, text[:300])
        assert f"{person.login} holds {holds}" in text, (*where, text[:300])
        assert f"mediatag users grant {person.login} {need}" in text, (*where, text[:300])
    assert conn.execute("SELECT count(*) FROM mediatag.visual_label").fetchone()[0] == before


def test_a_query_login_is_offered_the_query_page(people):  # noqa: F811
    r = people["query"].get("/mediatag/")
    assert r.status_code == 403 and 'href="/mediatag/query"' in r.text and "Back to the datasets" not in r.text
    r = people["viewer"].get("/mediatag/query")
    assert r.status_code == 403 and "Back to the datasets" in r.text


def test_the_database_refuses_the_same_writes(db_url, logins, group, keyframes):  # noqa: F811
    """Not only the UI: each login's own connection gets the database's refusal for a label."""
    for who in ("viewer", "query"):
        with psycopg.connect(logins[who]) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT mediatag.label_keyframes(%s, 'car', %s, true)", [group, keyframes[:1]])
