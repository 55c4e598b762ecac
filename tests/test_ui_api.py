"""The web UI's JSON API (`/mediatag/api/…`, and the Query page's JSON download) in-process, through Datasette's own
test client (`datasette.client`), logged in through the login form as a login of each mediatag role (the `logins`
fixture): what each role may do, and that what it may not do is refused with 403 and writes nothing. The Chromium
tests (tests/browser) drive the same routes from the pages.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from .conftest import keyframes_by_file, unique

TAGS = ["person", "giraffe", "car"]
METRICS = ["f1", "f05", "precision", "accuracy", "recall"]
EDITOR_ONLY = "needs the mediatag_editor role"
REQUEST_TIMEOUT = 120  # seconds: labels retrain in PL/Python, slow on a loaded machine


class UI:
    """A Datasette with the plugin, called in-process on an event loop of its own, in a thread of its own: the
    plugin's sessions hold connection pools tied to the loop that opened them, and the browser tests' Playwright
    keeps a loop running in the main thread."""

    def __init__(self, ds) -> None:
        self.ds = ds
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="ui-api-test")
        self.thread.start()
        self.people: list[Person] = []
        self.run(ds.invoke_startup())

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=REQUEST_TIMEOUT)

    def anonymous(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.ds.client.request(method, path, **kwargs))

    def log_in(self, url: str) -> Person:
        """Log in through the form, as a browser does: the CSRF cookie and field, then the session cookie."""
        info = conninfo_to_dict(url)
        page = self.anonymous("GET", "/mediatag/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        cookies = {"ds_csrftoken": page.cookies["ds_csrftoken"]}
        fields = {"csrftoken": token, "username": info["user"], "password": info["password"]}
        r = self.anonymous("POST", "/mediatag/login", data=fields, cookies=cookies)
        assert r.status_code == 302, r.text
        person = Person(self, info["user"], {**cookies, "mediatag_session": r.cookies["mediatag_session"]}, token)
        self.people.append(person)
        return person

    def close(self) -> None:
        for p in self.people:  # closes each session's pool on the loop that opened it
            p.get("/mediatag/logout")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=REQUEST_TIMEOUT)
        self.loop.close()


@dataclass
class Person:
    """A logged-in browser: its cookies and CSRF token."""

    ui: UI
    login: str
    cookies: dict[str, str]
    token: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.ui.anonymous("GET", path, params=params, cookies=self.cookies)

    def post_json(self, path: str, body: dict, *, csrf: bool = True) -> httpx.Response:
        """A fetch() call: JSON with the token in the x-csrftoken header."""
        headers = {"x-csrftoken": self.token} if csrf else {}
        return self.ui.anonymous("POST", path, json=body, headers=headers, cookies=self.cookies)

    def post_form(self, path: str, fields: dict[str, Any]) -> httpx.Response:
        return self.ui.anonymous("POST", path, data={**fields, "csrftoken": self.token}, cookies=self.cookies)


@pytest.fixture(scope="module")
def ui(db_url: str, logins: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    from datasette_mediatag.app import login_url_for, make_datasette

    # The Query page runs as a mediatag_query login of its own, as `mediatag ui` sets it up. The in-process client
    # reaches no socket address, so the Host check serves only the name it is given (what `--allowed-host` is for).
    ds = make_datasette(
        login_url_for(db_url),
        thumb_dir=str(tmp_path_factory.mktemp("thumbs")),
        query_url=logins["query"],
        allowed_hosts=["localhost"],
    )
    u = UI(ds)
    yield u
    u.close()


@pytest.fixture(scope="module")
def people(ui: UI, logins: dict[str, str]) -> dict[str, Person]:
    return {role: ui.log_in(url) for role, url in logins.items()}


@pytest.fixture(scope="module")
def group(people: dict[str, Person], coco_dataset: str) -> str:
    """A tag group the editor made through the "Add group" form."""
    name = unique("Api <b>&</b>")
    fields = {"name": name, "dataset": coco_dataset, "keywords": "\n".join(TAGS), "visibility": "shareable"}
    r = people["editor"].post_form("/mediatag/groups/new", fields)
    assert r.status_code == 302, r.text
    return name


@pytest.fixture(scope="module")
def keyframes(db_url: str, coco_dataset: str) -> list[int]:
    with psycopg.connect(db_url) as c:
        return sorted(keyframes_by_file(c, coco_dataset).values())


def overview(conn: psycopg.Connection, group: str) -> dict[str, tuple]:
    """Each tag's threshold, prompts and label counts, read as the operator (not through the UI under test)."""
    columns = "tag, threshold, visual_positive, visual_negative, labels_yes, labels_no"
    return {r[0]: r[1:] for r in conn.execute(f"SELECT {columns} FROM mediatag.group_overview(%s)", [group])}


def labels_of(conn: psycopg.Connection, group: str, tag: str) -> dict[int, tuple[bool, str]]:
    """A tag's labels: keyframe -> (label, the login that labeled it)."""
    return {
        k: (label, who)
        for k, label, who in conn.execute(
            "SELECT l.keyframe_id, l.label, l.labeled_by FROM mediatag.visual_label l"
            " JOIN mediatag.tag t ON t.id = l.tag_id JOIN mediatag.tag_group g ON g.id = t.group_id"
            " WHERE g.name = %s AND t.name = %s",
            [group, tag],
        )
    }


def refused(r: httpx.Response, need: str = EDITOR_ONLY) -> bool:
    """An API call refused by the permission check, before any SQL: 403 and the role it needs."""
    return r.status_code == 403 and r.json()["ok"] is False and need in r.json()["error"]


def refused_form(r: httpx.Response) -> bool:
    """A form POST refused by the permission check: Datasette's 403 page."""
    return r.status_code == 403 and "needs the mediatag_editor role" in r.text


def test_a_viewer_reads_and_every_change_is_refused(people, group, keyframes, conn):
    viewer = people["viewer"]
    r = viewer.get("/mediatag/api/preview", group=group, tag="car", threshold="0.5")
    assert r.status_code == 200 and r.json()["ok"]
    assert {row["side"] for row in r.json()["rows"]} <= {"positive", "negative"} and r.json()["rows"]
    status = viewer.get("/mediatag/api/status", group=group).json()
    assert [t["tag"] for t in status["tags"]] == TAGS and set(status["jobs"]) >= {"queued", "recent"}
    assert viewer.get("/mediatag/api/uncertain", group=group, tag="car").json()["ok"]
    before = overview(conn, group)
    changes = {
        "/mediatag/api/label": {"group": group, "tag": "car", "keyframes": keyframes[:2], "label": True},
        "/mediatag/api/threshold": {"group": group, "tag": "car", "threshold": 0.9},
        "/mediatag/api/prompt": {
            "group": group,
            "tag": "car",
            "prompt": "a red car",
            "polarity": "positive",
            "modality": "visual",
        },
        "/mediatag/api/add_suggested_prompts": {"group": group, "tag": "car"},
        "/mediatag/api/request_ground_truth": {"evaluation": 1},
        "/mediatag/api/evaluations/1/truth": {"keyframes": keyframes[:1], "truth": True},
        "/mediatag/api/concepts/label": {"concept": "any", "labels": {"yes": keyframes[:1]}},
    }
    for path, body in changes.items():
        r = viewer.post_json(path, body)
        assert refused(r), (path, r.status_code, r.text)
        assert r.json()["error"].startswith(f"{viewer.login} may not ")
    assert overview(conn, group) == before and not labels_of(conn, group, "car")
    # Nor the Query page: a viewer login holds no mediatag_query.
    assert viewer.get("/mediatag/query.json", sql="SELECT 1").status_code == 403


def test_an_editor_labels_writes_prompts_and_sets_thresholds(people, group, keyframes, conn):
    editor = people["editor"]
    yes, no = keyframes[:2], keyframes[2:3]
    r = editor.post_json("/mediatag/api/label", {"group": group, "tag": "giraffe", "keyframes": yes, "label": True})
    assert r.status_code == 200 and r.json() == {"ok": True, "labeled": 2}
    r = editor.post_json("/mediatag/api/label", {"group": group, "tag": "giraffe", "keyframes": no, "label": False})
    assert r.json() == {"ok": True, "labeled": 1}
    assert labels_of(conn, group, "giraffe") == {k: (k in yes, editor.login) for k in yes + no}
    r = editor.post_json("/mediatag/api/label", {"group": group, "tag": "giraffe", "keyframes": no, "label": "clear"})
    assert r.json()["ok"] and set(labels_of(conn, group, "giraffe")) == set(yes)

    r = editor.post_json("/mediatag/api/threshold", {"group": group, "tag": "giraffe", "threshold": 0.42})
    assert r.json() == {"ok": True, "threshold": 0.42}
    assert overview(conn, group)["giraffe"][0] == pytest.approx(0.42)
    prompt = {"group": group, "tag": "giraffe", "prompt": "a giraffe by a tree", "polarity": "positive"}
    r = editor.post_json("/mediatag/api/prompt", {**prompt, "modality": "visual"})
    assert r.json() == {"ok": True} and "a giraffe by a tree" in overview(conn, group)["giraffe"][1]
    # The preview follows the saved threshold: every positive scores at least that.
    rows = editor.get("/mediatag/api/preview", group=group, tag="giraffe", threshold="0.42").json()["rows"]
    assert all(row["score"] >= 0.42 - 1e-6 for row in rows if row["side"] == "positive")

    # Bad requests are the UI's 400s; the database's own errors come back with its words.
    bad = editor.post_json("/mediatag/api/label", {"group": group, "tag": "giraffe", "keyframes": yes, "label": "x"})
    assert bad.status_code == 400 and bad.json()["error"] == "field 'label' must be true, false or \"clear\""
    bad = editor.post_json("/mediatag/api/prompt", prompt)
    assert bad.status_code == 400 and bad.json()["error"] == "missing field 'modality'"
    bad = editor.post_json("/mediatag/api/threshold", {"group": group, "tag": "no such tag", "threshold": 0.5})
    assert bad.status_code == 400 and "no such tag" in bad.json()["error"]
    # The editor's login holds no mediatag_query: no Query page.
    assert editor.get("/mediatag/query.json", sql="SELECT 1").status_code == 403


def test_an_editor_judges_an_evaluation_that_a_viewer_only_reads(people, group, conn):
    editor, viewer = people["editor"], people["viewer"]
    # confirm: some tags nobody reviewed, which the form would name and ask about first (issue 24).
    r = editor.post_form("/mediatag/group/publish", {"name": group, "visibility": "shareable", "confirm": "1"})
    assert r.status_code == 302, r.text
    conn.execute("CALL mediatag.run_jobs()")
    r = editor.post_form("/mediatag/tag/evaluate", {"group": group, "tag": "person", "size": 20})
    assert r.status_code == 302, r.text
    e = int(parse_qs(urlsplit(r.headers["location"]).query)["id"][0])
    api = f"/mediatag/api/evaluations/{e}"
    assert viewer.get(f"{api}/metrics").json() == {"ok": True, "rows": [], "suggestions": {}, "judged": 0}
    items = [r[0] for r in conn.execute("SELECT keyframe_id FROM mediatag.evaluation_items(%s)", [e])]
    half = len(items) // 2
    assert half >= 2

    assert refused(viewer.post_json(f"{api}/truth", {"keyframes": items, "truth": True}))
    r = editor.post_json(f"{api}/truth", {"keyframes": items[:half], "truth": True})
    assert r.json()["changed"] == half and r.json()["summary"]["judged"] == half
    r = editor.post_json(f"{api}/truth", {"keyframes": items[half:], "truth": False})
    assert r.json()["summary"]["judged"] == len(items)
    r = editor.post_json(f"{api}/truth", {"keyframes": items[-1:], "removed": True})
    assert r.json()["changed"] == 1 and r.json()["summary"]["removed"] == 1
    bad = editor.post_json(f"{api}/truth", {"keyframes": items[:1], "truth": "yes"})
    assert bad.status_code == 400 and bad.json()["error"] == "field 'truth' must be true or false"

    metrics = viewer.get(f"{api}/metrics").json()
    assert metrics["judged"] == len(items) - 1 and metrics["rows"]
    assert list(metrics["suggestions"]) == METRICS
    progress = viewer.get(f"{api}/progress").json()
    assert progress["ok"] and progress["summary"]["evaluation_id"] == e


def test_an_admin_holds_the_editor_rights_but_no_query_page(people, group, keyframes, conn):
    admin = people["admin"]
    r = admin.post_json(
        "/mediatag/api/label", {"group": group, "tag": "car", "keyframes": keyframes[5:6], "label": True}
    )
    assert r.json() == {"ok": True, "labeled": 1}
    assert labels_of(conn, group, "car") == {keyframes[5]: (True, admin.login)}
    r = admin.post_json("/mediatag/api/threshold", {"group": group, "tag": "car", "threshold": 0.61})
    assert r.json()["ok"] and overview(conn, group)["car"][0] == pytest.approx(0.61)
    assert admin.get("/mediatag/query.json", sql="SELECT 1").status_code == 403


def test_a_query_login_runs_read_only_queries_and_nothing_else(people, group, keyframes):
    q = people["query"]
    for path, params in [("/mediatag/api/status", {}), ("/mediatag/api/preview", {"group": group, "tag": "car"})]:
        assert refused(q.get(path, **params), "needs the mediatag_viewer role"), path
    assert refused(q.post_json("/mediatag/api/label", {"group": group, "tag": "car", "keyframes": keyframes[:1]}))
    r = q.get("/mediatag/query.json", sql="SELECT session_user AS who, current_setting('transaction_read_only') AS ro")
    assert r.status_code == 200 and r.json() == [{"who": q.login, "ro": "on"}]
    assert r.headers["content-disposition"] == 'attachment; filename="mediatag-query.json"'
    write = q.get("/mediatag/query.json", sql="DELETE FROM mediatag.tag")
    assert write.status_code == 400 and "cannot execute DELETE in a read-only transaction" in write.text


def test_concepts_label_as_an_editor_and_read_as_a_viewer(people, coco_dataset, keyframes, conn):
    editor, viewer = people["editor"], people["viewer"]
    name = unique("api_giraffes")
    fields = {"dataset": coco_dataset, "name": name, "description": "a giraffe"}
    assert refused_form(viewer.post_form("/mediatag/concepts", fields))
    r = editor.post_form("/mediatag/concepts", fields)
    assert r.status_code == 302 and r.headers["location"].startswith("/mediatag/concept?"), r.text
    nxt = viewer.get("/mediatag/api/concepts/next", concept=name, n=6).json()
    assert nxt["ok"] and 0 < len(nxt["rows"]) <= 6
    assert viewer.get("/mediatag/api/concepts/top", concept=name).json()["ok"]
    labels = {"yes": keyframes[:2], "no": keyframes[2:3]}
    assert refused(viewer.post_json("/mediatag/api/concepts/label", {"concept": name, "labels": labels}))
    r = editor.post_json("/mediatag/api/concepts/label", {"concept": name, "labels": labels})
    assert r.json()["ok"] and r.json()["labeled"] == 3
    # The reply carries what the page shows next: the concept's counts and its top content with their labels.
    assert (r.json()["concept"]["labels_yes"], r.json()["concept"]["labels_no"]) == (2, 1)
    assert {t["keyframe_id"]: t["current_label"] for t in r.json()["top"] if t["current_label"]}.items() <= {
        **{k: "yes" for k in keyframes[:2]},
        keyframes[2]: "no",
    }.items()
    counts = conn.execute("SELECT labels_yes, labels_no FROM mediatag.list_concepts() WHERE name = %s", [name])
    assert counts.fetchone() == (2, 1)
    bad = editor.post_json("/mediatag/api/concepts/label", {"concept": name, "labels": {"yes": ["x"]}})
    assert bad.status_code == 400 and bad.json()["error"] == "field 'yes' must be a non-empty list of keyframe ids"


def test_the_api_needs_a_login_and_the_csrf_token(ui, people, group):
    r = ui.anonymous("GET", "/mediatag/api/status")
    assert r.status_code == 401 and r.json() == {"ok": False, "error": "log in first", "hint": None}
    page = ui.anonymous("GET", "/mediatag/")
    assert page.status_code == 302 and page.headers["location"] == "/mediatag/login?next=%2Fmediatag%2F"
    body = {"group": group, "tag": "car", "threshold": 0.3}
    assert people["editor"].post_json("/mediatag/api/threshold", body, csrf=False).status_code == 403


def test_a_right_revoked_since_login_is_explained_not_the_raw_denial(ui, db_url, conn):
    """A role taken away after login (`mediatag users` changing a login's roles): the database refuses, and the
    page says which role the call needs and which the login holds, not "permission denied for function …"; the
    session takes the roles it now has, so the next request is refused by the UI's own check."""
    from psycopg import sql

    from .conftest import make_login

    url = make_login(db_url, unique("mt_test_revoked"), "viewer")
    person = ui.log_in(url)
    assert person.get("/mediatag/api/status").json()["ok"]
    who = sql.Identifier(person.login)
    conn.execute(sql.SQL("REVOKE mediatag_viewer FROM {}").format(who))
    conn.commit()
    try:
        r = person.get("/mediatag/api/status")
        assert r.status_code == 403, r.text
        error, hint = r.json()["error"], r.json()["hint"]
        assert "permission denied for function" not in error
        assert error.startswith(f"{person.login} may not ") and "needs mediatag_viewer" in error
        assert error.endswith(f"{person.login} holds no mediatag role")
        assert f"mediatag users grant {person.login} viewer" in hint
        assert refused(person.get("/mediatag/api/status"), "needs the mediatag_viewer role")
    finally:
        person.get("/mediatag/logout")
        ui.people.remove(person)
        conn.execute(sql.SQL("DROP ROLE {}").format(who))
        conn.commit()


def test_continue_labeling_starts_a_new_concept_with_its_likely_positives(people, coco_dataset):
    editor = people["editor"]
    name = unique("api_likely")
    r = editor.post_form("/mediatag/concepts", {"dataset": coco_dataset, "name": name, "description": "a giraffe"})
    assert r.status_code == 302, r.text
    top = [row["keyframe_id"] for row in editor.get("/mediatag/api/concepts/top", concept=name, n=4).json()["rows"]]
    rows = editor.get("/mediatag/api/concepts/next", concept=name, n=12).json()["rows"]
    assert [row["keyframe_id"] for row in rows[:4]] == top
    assert [row["reason"] for row in rows[:4]] == ["likely positive"] * 4
    # Once it has a yes label, batches are the classifier's boundary cases again.
    editor.post_json("/mediatag/api/concepts/label", {"concept": name, "labels": {"yes": top[:1]}})
    rows = editor.get("/mediatag/api/concepts/next", concept=name, n=12).json()["rows"]
    assert "likely positive" not in {row["reason"] for row in rows}
