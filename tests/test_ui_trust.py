"""What the web UI hands a visitor, over HTTP: `mediatag ui --no-login` (what `make demo` starts) acts as a login of
its own, never a superuser; the Query page runs as a mediatag_query login in both modes, so `RESET ROLE` or
`set_config('role', 'none', …)` inside a statement gives nothing more; and a Host header that names no address the
UI serves (DNS rebinding) is refused.

Both UIs are built by the CLI itself (`mediatag ui …`, with its server call swapped for a test server), with login
names of this run's own: roles are cluster-wide.
"""

from __future__ import annotations

import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from mediatag import cli, users

from .conftest import unique
from .uiserver import serve_apps

ALLOWED = "ui.example.test"  # --allowed-host
ALLOWED_ENV = "env.example.test"  # MEDIATAG_UI_ALLOWED_HOSTS


def _build_ui(monkeypatch: pytest.MonkeyPatch, argv: list[str]):
    """The Datasette app `mediatag ui <argv>` would serve."""
    from datasette_mediatag import app as ui_app

    built = []
    monkeypatch.setattr(ui_app, "serve", lambda app, host, port: built.append(app))
    assert cli.main(["ui", *argv]) == 0
    return built[0]


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    return {"local": unique("t_ui_local"), "query": unique("t_ui_query"), "editor": unique("t_ui_editor")}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config")


@pytest.fixture(scope="module")
def uis(db_url: str, service_token: str, names: dict[str, str], config_dir: Path) -> Iterator[dict[str, str]]:
    """Base URLs of the no-login UI ("local") and the login UI ("login"), started one after the other by the CLI
    with one config folder, as an operator would."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIATAG_DATABASE_URL", db_url)
        mp.setenv("XDG_CONFIG_HOME", str(config_dir))
        mp.setenv("MEDIATAG_UI_ALLOWED_HOSTS", f"{ALLOWED_ENV}, other.example.test")
        mp.setattr(users, "UI_LOCAL", names["local"])
        mp.setattr(users, "UI_QUERY", names["query"])
        local = _build_ui(mp, ["--no-login", "--allowed-host", ALLOWED])
        login = _build_ui(mp, [])
    with serve_apps(local, login) as (local_url, login_url):
        yield {"local": local_url, "login": login_url}
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name in names.values():
            u = sql.Identifier(name)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(u))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(u))
                conn.execute(sql.SQL("DROP ROLE {}").format(u))


def _query(client: httpx.Client, statement: str) -> httpx.Response:
    return client.get("/mediatag/query", params={"sql": statement})


def _cells(r: httpx.Response) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", r.text)


def _error(r: httpx.Response) -> str:
    """The Query page's error message (the statement itself is echoed in the form)."""
    m = re.search(r'<p class="mt-error" role="alert">(.*?)</p>', r.text, re.S)
    return m.group(1) if m else ""


def test_no_login_ui_acts_as_its_own_login_never_a_superuser(uis, names, db_url):
    with httpx.Client(base_url=uis["local"]) as c:
        home = c.get("/mediatag/")
        assert home.status_code == 200
        # The page names the login every visitor acts as: the one made for it, not the operator.
        assert re.search(rf'class="mt-who">{names["local"]} ', home.text), home.text
        r = _query(c, "SELECT session_user, current_user, rolsuper FROM pg_roles WHERE rolname = session_user")
        assert _cells(r) == [names["query"], names["query"], "False"], r.text
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            """SELECT rolname, rolsuper, pg_has_role(rolname, 'mediatag_editor', 'MEMBER'),
                      pg_has_role(rolname, 'mediatag_admin', 'MEMBER')
               FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname = %s""",
            [[names["local"], names["query"]], names["local"]],
        ).fetchall()
    assert rows == [(names["query"], False, False, False), (names["local"], False, True, False)]


ESCAPES = [
    # The issue's own: leave the Query role for the session's login inside the statement.
    "SELECT set_config('role', 'none', true), query_to_xml('select pg_read_file(''/etc/hostname'')', true, false, '')",
    "SELECT set_config('role', 'none', true), query_to_xml('select value from mediatag.setting', true, false, '')",
    # RESET ROLE inside a DO block, the value carried out in the error message.
    "DO $$ BEGIN RESET ROLE; RAISE EXCEPTION 'leak<%>', pg_read_file('/etc/hostname'); END $$",
    "DO $$ BEGIN RESET ROLE; RAISE EXCEPTION 'leak<%>', (SELECT string_agg(value, ',') FROM mediatag.setting); END $$",
]


@pytest.mark.parametrize(
    "statement", ESCAPES, ids=["set_config-file", "set_config-setting", "reset-file", "reset-setting"]
)
def test_query_page_reads_no_server_file_or_setting(uis, service_token, statement):
    with httpx.Client(base_url=uis["local"]) as c:
        r = _query(c, statement)
        assert r.status_code == 200
        assert _error(r).startswith("permission denied"), r.text
        assert not _cells(r) and service_token not in r.text
        download = c.get("/mediatag/query.csv", params={"sql": statement})
        assert download.status_code == 403 and service_token not in download.text


def test_login_ui_query_page_does_not_run_as_the_person(uis, names, db_url):
    password = secrets.token_urlsafe(16)
    with psycopg.connect(db_url, autocommit=True) as conn:
        users.create_login(conn, names["editor"], "editor", password, also=("query",))
    with httpx.Client(base_url=uis["login"]) as c:
        token = re.search(r'name="csrftoken" value="([^"]+)"', c.get("/mediatag/login").text).group(1)
        r = c.post("/mediatag/login", data={"csrftoken": token, "username": names["editor"], "password": password})
        assert r.status_code == 302, r.text
        assert re.search(rf'class="mt-who">{names["editor"]} ', c.get("/mediatag/").text)
        r = _query(
            c,
            "SELECT set_config('role', 'none', true) IS NOT NULL, session_user, current_user,"
            " pg_has_role(current_user, 'mediatag_editor', 'MEMBER')",
        )
    # The person's editor rights are not one RESET away: the statement ran on the query login's own connection.
    assert _cells(r) == ["True", names["query"], names["query"], "False"], r.text


@pytest.mark.parametrize("which", ["local", "login"])
def test_host_header_must_name_an_address_served(uis, which):
    base = uis[which]
    port = int(base.rsplit(":", 1)[1])
    with httpx.Client(base_url=base) as c:

        def status(host: str) -> int:
            return c.get("/mediatag/login", headers={"Host": host}).status_code

        refused = c.get("/mediatag/login", headers={"Host": f"attacker.example:{port}"})
        assert refused.status_code == 400
        assert "not an address this mediatag UI serves" in refused.text and "--allowed-host" in refused.text
        for host in ("evil.test", f"localhost:{port + 1}", f"127.0.0.2:{port}", f"{ALLOWED}x", ""):
            assert status(host) == 400, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost.:{port}", f"[::1]:{port}"):
            assert status(host) == 200, host
        # The configured names (a proxy's), on any port: the option on the no-login UI, the environment on both.
        assert status(f"{ALLOWED_ENV}:8443") == 200 and status("other.example.test") == 200
        assert status(ALLOWED) == (200 if which == "local" else 400)


def test_ui_passwords_are_kept_for_the_operator_only(uis, names, config_dir):
    f = config_dir / "mediatag" / "ui-logins.json"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and stat.S_IMODE(f.parent.stat().st_mode) == 0o700
    # Started after the no-login UI, the login UI kept the query login's password: the first one's Query page works.
    with httpx.Client(base_url=uis["local"]) as c:
        assert _cells(_query(c, "SELECT session_user")) == [names["query"]]


def test_ui_login_with_more_rights_is_refused_untouched(db_url, tmp_path, monkeypatch):
    name = unique("t_ui_super")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD 'unchanged'").format(sql.Identifier(name)))
        before = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [name]).fetchone()
        try:
            with pytest.raises(PermissionError, match="the UI will not act as it"):
                users.ensure_ui_login(conn, name, ("editor", "query"), "new")
            # Through the CLI: `mediatag ui --no-login` stops rather than serve as that login.
            monkeypatch.setenv("MEDIATAG_DATABASE_URL", db_url)
            monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
            monkeypatch.setattr(users, "UI_LOCAL", name)
            monkeypatch.setattr(users, "UI_QUERY", name)
            with pytest.raises(SystemExit, match="the UI will not act as it"):
                _build_ui(monkeypatch, ["--no-login"])
            after = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [name]).fetchone()
            assert after == before
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
