"""Issue 24: a login holds a set of mediatag roles. `mediatag users add NAME --role R` on an existing login adds R
and keeps the rest (and the password), `users grant` adds roles, `users revoke` takes only the ones named, and
`users list` shows them all. Each step is checked by logging in over TCP as the login and trying what the roles
allow and forbid; unknown roles, non-person logins and callers that may not manage logins are refused with clear
errors and change nothing."""

from __future__ import annotations

import json

import psycopg
import psycopg.conninfo
import pytest

from .conftest import unique
from .test_service_cli import _cli, _login_url
from .test_ui_api import ui  # noqa: F401  (fixture)

PASSWORD = "first-pw-of-a-person"


def _roles(db_url: str, name: str) -> list[str]:
    listed = [json.loads(line) for line in _cli("users", "list", "--json", db_url=db_url).stdout.splitlines()]
    return next(u["roles"] for u in listed if u["login"] == name)


def _can_edit(url: str, dataset: str) -> bool:
    """Whether the login may create a tag group (an editor's right), tried and rolled back."""
    with psycopg.connect(url) as c:
        try:
            c.execute("SELECT mediatag.create_tag_group(%s, %s, 'red')", [dataset, unique("RolesG")])
        except psycopg.errors.InsufficientPrivilege:
            return False
        finally:
            c.rollback()
    return True


def _can_query(ui, url: str) -> bool:  # noqa: F811
    """Whether the login may use the Query page (the UI's read-only SQL over the query views, for members of
    mediatag_query): logged in through the UI's form afresh, as the UI takes a login's roles when it logs in."""
    person = ui.log_in(url)
    try:
        r = person.get("/mediatag/query.json", sql="SELECT count(*) AS n FROM mediatag_bi.tag_groups")
    finally:
        person.get("/mediatag/logout")
        ui.people.remove(person)
    assert r.status_code in (200, 403), r.text
    return r.status_code == 200 and list(r.json()[0]) == ["n"]


def _settings(url: str) -> tuple[str, str]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only')"
        ).fetchone()


@pytest.fixture
def person(db_url):
    name = unique("mt_roles").lower()
    yield name
    with psycopg.connect(db_url, autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            c.execute(f'DROP ROLE "{name}"')


def test_roles_add_up_and_revoke_takes_only_the_named_ones(db_url, service, video_dataset, person, ui):  # noqa: F811
    r = _cli("users", "add", person, "--role", "editor", "--password", PASSWORD, db_url=db_url)
    assert r.returncode == 0 and f"login {person} created; holds editor" in r.stdout, r.stderr
    url = _login_url(db_url, person, PASSWORD)
    assert _can_edit(url, video_dataset) and not _can_query(ui, url)

    # The case: `users add … --role query` on an existing editor keeps the editor role and the password.
    r = _cli("users", "add", person, "--role", "query", db_url=db_url)
    assert r.returncode == 0 and r.stdout.strip() == f"login {person} holds editor, query", r.stderr
    assert _roles(db_url, person) == ["editor", "query"]
    table = _cli("users", "list", db_url=db_url).stdout.splitlines()
    assert any(line.split()[:3] == [person, "editor,", "query"] for line in table), table
    assert _can_edit(url, video_dataset) and _can_query(ui, url)
    assert _settings(url) == ("0", "off")  # an editor writes: no Query-only read-only default

    # Revoke takes only the role named.
    r = _cli("users", "revoke", person, "query", db_url=db_url)
    assert r.returncode == 0 and r.stdout.strip() == f"login {person} holds editor", r.stderr
    assert _can_edit(url, video_dataset) and not _can_query(ui, url)

    # Grant adds several at once; --role repeats on add.
    assert _cli("users", "grant", person, "query", "viewer", db_url=db_url).returncode == 0
    assert _roles(db_url, person) == ["viewer", "editor", "query"]
    r = _cli("users", "add", person, "--role", "admin", "--role", "query", db_url=db_url)
    assert r.returncode == 0 and _roles(db_url, person) == ["viewer", "editor", "admin", "query"]
    assert _cli("users", "revoke", person, "admin", "editor", "viewer", db_url=db_url).returncode == 0

    # Query alone: the login gets the Query role's timeout and read-only default, and edits nothing.
    assert _roles(db_url, person) == ["query"]
    assert _settings(url) == ("30s", "on")
    assert _can_query(ui, url) and not _can_edit(url, video_dataset)
    # A password given to `add` on an existing login replaces it; none given keeps it (checked above).
    assert _cli("users", "add", person, "--role", "viewer", "--password", "second-pw", db_url=db_url).returncode == 0
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url).close()
    assert _can_query(ui, _login_url(db_url, person, "second-pw"))


def test_bad_roles_logins_and_callers_are_refused_and_change_nothing(db_url, logins, person):
    assert _cli("users", "add", person, "--role", "editor", "--password", PASSWORD, db_url=db_url).returncode == 0

    r = _cli("users", "grant", person, "owner", db_url=db_url)
    assert r.returncode == 2 and "invalid choice: 'owner'" in r.stderr
    r = _cli("users", "add", person, "--role", "superuser", db_url=db_url)
    assert r.returncode == 2 and "invalid choice: 'superuser'" in r.stderr
    r = _cli("users", "revoke", person, "query", db_url=db_url)
    assert r.returncode == 1
    assert r.stderr.strip() == f"mediatag: login {person} does not hold role query (it holds editor)"
    r = _cli("users", "revoke", person, "editor", db_url=db_url)
    assert r.returncode == 1 and f"that would leave login {person} with no mediatag role" in r.stderr
    assert f"mediatag users remove {person}" in r.stderr
    r = _cli("users", "grant", "no_such_login_here", "viewer", db_url=db_url)
    assert r.returncode == 1 and "no login no_such_login_here: create it with `mediatag users add" in r.stderr
    for name in ("postgres", "mediatag_editor"):
        r = _cli("users", "grant", name, "viewer", db_url=db_url)
        assert r.returncode == 1 and f"{name} is not a login for a person" in r.stderr, r.stderr
    assert _roles(db_url, person) == ["editor"]

    # A caller that may not manage logins (an editor, even a mediatag admin: roles are the operator's) is told so
    # before anything changes, not shown Postgres's "permission denied to grant role".
    for caller in ("editor", "admin"):
        who = psycopg.conninfo.conninfo_to_dict(logins[caller])["user"]
        for args in (("grant", person, "admin"), ("revoke", person, "editor"), ("add", person, "--role", "admin")):
            r = _cli("users", *args, db_url=logins[caller])
            assert r.returncode == 1, (caller, args, r.stdout, r.stderr)
            assert r.stderr.startswith(f"mediatag: {who} may not manage logins: run `mediatag users` as the operator")
            assert "permission denied" not in r.stderr
    assert _roles(db_url, person) == ["editor"]
