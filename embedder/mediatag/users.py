"""Logins for people: a Postgres login role that is a member of one of mediatag's roles.

Creating roles is the operator's job (it needs CREATEROLE or a superuser; the extension's own roles cannot do it),
so this runs on the operator's connection (`mediatag users add …`). Role-level settings are not inherited from a
group role, so a Query login gets its own statement timeout and read-only default here.

`mediatag ui` makes two logins of its own the same way: the Query page's (`mediatag_ui_query`, a query login, in
both modes) and, with `--no-login`, the one every visitor acts as (`mediatag_ui_local`, editor + query). Their
passwords are random, kept in the operator's config folder (mode 0600), so UIs started one after another or side
by side on one server agree on them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

ROLES = {"viewer": "mediatag_viewer", "editor": "mediatag_editor", "admin": "mediatag_admin", "query": "mediatag_query"}
QUERY_TIMEOUT = "30s"
UI_LOCAL = "mediatag_ui_local"  # `mediatag ui --no-login`: every visitor acts as this login
UI_QUERY = "mediatag_ui_query"  # the UI's Query page, in both modes


def create_login(conn: psycopg.Connection, name: str, role: str, password: str, *, also: Sequence[str] = ()) -> None:
    """Create (or update) login `name` with `password`, member of mediatag's `role` (and the roles in `also`)
    only."""
    unknown = [r for r in (role, *also) if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}: use one of {', '.join(ROLES)}")
    ident = sql.Identifier(name)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, ident, sql.Literal(password)))
    for other in ROLES.values():
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), ident))
    for r in (role, *also):
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(ROLES[r]), ident))
    if role == "query" and not also:
        conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(ident, sql.Literal(QUERY_TIMEOUT)))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ident))
    else:
        conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(ident))


def ensure_ui_login(conn: psycopg.Connection, name: str, roles: Sequence[str], password: str) -> None:
    """Create or update one of the UI's own logins; refuse a role of that name that holds more than mediatag roles.

    A role of that name made by hand could be a superuser or a member of other roles; the UI would then hand those
    rights to anyone who reaches it, so it stops instead, before changing anything."""
    row = conn.execute(
        """SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls,
                  ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m
                        WHERE m.member = r.oid AND m.roleid::regrole::text <> ALL(%s))
           FROM pg_roles r WHERE r.rolname = %s""",
        (list(ROLES.values()), name),
    ).fetchone()
    if row and (row[0] or row[1]):
        extra = "role attributes (superuser, createrole, …)" if row[0] else "membership of " + ", ".join(row[1])
        raise PermissionError(f"login {name} has {extra}: the UI will not act as it; drop or fix that role")
    create_login(conn, name, roles[0], password, also=roles[1:])


def _password_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mediatag" / "ui-logins.json"


def ui_password(name: str, store: Path | None = None) -> str:
    """The password of the UI's login `name`: made once, then read from a file only its owner may read."""
    path = store or _password_file()
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in known:
        known[name] = secrets.token_urlsafe(24)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(known, f)
        os.replace(tmp, path)  # whole or not at all: a UI starting beside this one never reads half a file
    return known[name]


def list_logins(conn: psycopg.Connection) -> list[dict]:
    """Every login that is a member of a mediatag role: its mediatag roles (short names), its own settings (a
    Query login's timeout and read-only default) and when its password expires."""
    short = {v: k for k, v in ROLES.items()}
    rows = conn.execute(
        """SELECT r.rolname, array_agg(g.rolname ORDER BY g.rolname), r.rolconfig, r.rolvaliduntil
           FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
           WHERE r.rolcanlogin AND g.rolname = ANY(%s) GROUP BY r.rolname, r.rolconfig, r.rolvaliduntil
           ORDER BY r.rolname""",
        (list(ROLES.values()),),
    ).fetchall()
    return [
        {"login": n, "roles": [short[g] for g in groups], "settings": config or [], "valid_until": until}
        for n, groups, config, until in rows
    ]


def _require_mediatag_login(conn: psycopg.Connection, name: str) -> None:
    """Refuse a name that is not a mediatag login: `users remove` and `users passwd` never touch a superuser, a
    role manager, mediatag's own group roles or a role that holds none of them."""
    row = conn.execute(
        "SELECT rolcanlogin AND NOT (rolsuper OR rolcreaterole), "
        "EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "        WHERE m.member = r.oid AND g.rolname = ANY(%s)) FROM pg_roles r WHERE rolname = %s",
        (list(ROLES.values()), name),
    ).fetchone()
    if row is None:
        raise ValueError(f"no login {name}")
    if not (row[0] and row[1]) or name in ROLES.values():
        raise PermissionError(f"{name} is not a mediatag login (see `mediatag users list`): change it yourself")


def set_password(conn: psycopg.Connection, name: str, password: str) -> None:
    """A new password for mediatag login `name`; its roles and settings stay."""
    _require_mediatag_login(conn, name)
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))


def remove_login(conn: psycopg.Connection, name: str) -> int:
    """Drop mediatag login `name` and the dataset access granted to it (a grant holds the role's oid, which DROP
    ROLE would leave dangling); returns how many grants went. One transaction: all of it or nothing."""
    _require_mediatag_login(conn, name)
    with conn.transaction():
        revoked = conn.execute(
            "SELECT coalesce(sum(mediatag.revoke_dataset_access(d.name, %s)), 0) FROM mediatag.dataset_summary() d",
            (name,),
        ).fetchone()[0]
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    return int(revoked)
