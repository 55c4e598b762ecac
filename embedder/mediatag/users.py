"""Logins for people: a Postgres login role that is a member of one or several of mediatag's roles (a set: editor and
query is common; `add_login` and `grant_roles` add to it, `revoke_roles` takes only the roles named).

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


def _check_roles(roles: Sequence[str]) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        what = f"unknown role {unknown[0]!r}" if unknown else "no role given"
        raise ValueError(f"{what}: use one of {', '.join(ROLES)}")


def _require_role_manager(conn: psycopg.Connection) -> None:
    """Refuse, before changing anything, a connection that may not manage logins: Postgres lets only a superuser or
    a CREATEROLE role create logins and grant mediatag's roles (a mediatag admin manages datasets, not people)."""
    who, ok = conn.execute(
        "SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not ok:
        raise PermissionError(
            f"{who} may not manage logins: run `mediatag users` as the operator (a superuser or CREATEROLE"
            " connection, e.g. the embedded cluster's socket without MEDIATAG_DATABASE_URL)"
        )


def held_roles(conn: psycopg.Connection, name: str) -> list[str]:
    """The mediatag roles login `name` is a direct member of (short names, in ROLES order)."""
    rows = conn.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        " JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s AND g.rolname = ANY(%s)",
        (name, list(ROLES.values())),
    ).fetchall()
    held = {g for (g,) in rows}
    return [short for short, full in ROLES.items() if full in held]


def _apply_settings(conn: psycopg.Connection, name: str, roles: Sequence[str]) -> None:
    """Role-level settings are not inherited from group roles: a login that is only a Query login gets the Query
    role's timeout and read-only default itself; one that also edits must not (it writes), so they go. Other
    settings the operator gave the login (a search_path for a BI tool) stay."""
    ident = sql.Identifier(name)
    if set(roles) == {"query"}:
        conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(ident, sql.Literal(QUERY_TIMEOUT)))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ident))
    else:
        conn.execute(sql.SQL("ALTER ROLE {} RESET statement_timeout").format(ident))
        conn.execute(sql.SQL("ALTER ROLE {} RESET default_transaction_read_only").format(ident))


def _set_roles(conn: psycopg.Connection, name: str, roles: Sequence[str]) -> list[str]:
    """Make login `name` a member of exactly `roles` among mediatag's roles; returns them (ROLES order)."""
    ident = sql.Identifier(name)
    held = held_roles(conn, name)
    for r in held:
        if r not in roles:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(ROLES[r]), ident))
    for r in roles:
        if r not in held:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(ROLES[r]), ident))
    now = [r for r in ROLES if r in roles]
    _apply_settings(conn, name, now)
    return now


def create_login(conn: psycopg.Connection, name: str, role: str, password: str, *, also: Sequence[str] = ()) -> None:
    """Create (or update) login `name` with `password`, member of mediatag's `role` (and the roles in `also`)
    only."""
    _check_roles((role, *also))
    ident = sql.Identifier(name)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    with conn.transaction():
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, ident, sql.Literal(password)))
        _set_roles(conn, name, (role, *also))


def _require_person(conn: psycopg.Connection, name: str) -> None:
    """Refuse an existing role that is not a person's login: a superuser, a role manager, a role that cannot log in
    or one of mediatag's own roles. `users add` and `users grant` never hand rights to those."""
    row = conn.execute(
        "SELECT rolcanlogin AND NOT (rolsuper OR rolcreaterole) FROM pg_roles WHERE rolname = %s", (name,)
    ).fetchone()
    if row is None:
        raise ValueError(f"no login {name}: create it with `mediatag users add {name} --role ROLE`")
    if not row[0] or name in ROLES.values() or name == "mediatag_owner":
        raise PermissionError(f"{name} is not a login for a person (see `mediatag users list`): change it yourself")


def add_login(
    conn: psycopg.Connection, name: str, roles: Sequence[str], password: str | None
) -> tuple[bool, list[str]]:
    """`mediatag users add`: create login `name` (with `password`) holding `roles`, or give an existing person's
    login `roles` as well, keeping the roles it holds (and its password unless one is given). Returns (created,
    the mediatag roles it now holds)."""
    _check_roles(roles)
    _require_role_manager(conn)
    ident = sql.Identifier(name)
    created = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None
    if not created:
        _require_person(conn, name)
    elif password is None:
        raise ValueError(f"a new login {name} needs a password")
    with conn.transaction():
        if created:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password)))
        elif password is not None:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password)))
        now = _set_roles(conn, name, [*held_roles(conn, name), *roles])
    return created, now


def grant_roles(conn: psycopg.Connection, name: str, roles: Sequence[str]) -> list[str]:
    """`mediatag users grant`: login `name` also holds `roles`; returns every mediatag role it now holds."""
    _check_roles(roles)
    _require_role_manager(conn)
    _require_person(conn, name)
    with conn.transaction():
        return _set_roles(conn, name, [*held_roles(conn, name), *roles])


def revoke_roles(conn: psycopg.Connection, name: str, roles: Sequence[str]) -> list[str]:
    """`mediatag users revoke`: login `name` no longer holds `roles` (only those); returns the roles it keeps.
    Refuses a role it does not hold, and taking its last one (that is `mediatag users remove`)."""
    _check_roles(roles)
    _require_role_manager(conn)
    _require_mediatag_login(conn, name)
    held = held_roles(conn, name)
    missing = [r for r in roles if r not in held]
    if missing:
        raise ValueError(f"login {name} does not hold role {missing[0]} (it holds {', '.join(held)})")
    keep = [r for r in held if r not in roles]
    if not keep:
        raise ValueError(
            f"that would leave login {name} with no mediatag role: remove the login with `mediatag users remove"
            f" {name}`, or grant another role first"
        )
    with conn.transaction():
        return _set_roles(conn, name, keep)


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
    rows = conn.execute(
        """SELECT r.rolname, array_agg(g.rolname ORDER BY g.rolname), r.rolconfig, r.rolvaliduntil
           FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
           WHERE r.rolcanlogin AND g.rolname = ANY(%s) GROUP BY r.rolname, r.rolconfig, r.rolvaliduntil
           ORDER BY r.rolname""",
        (list(ROLES.values()),),
    ).fetchall()
    return [
        {"login": n, "roles": [r for r in ROLES if ROLES[r] in groups], "settings": config or [], "valid_until": until}
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
    _require_role_manager(conn)
    _require_mediatag_login(conn, name)
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))


def remove_login(conn: psycopg.Connection, name: str) -> int:
    """Drop mediatag login `name` and the dataset access granted to it (a grant holds the role's oid, which DROP
    ROLE would leave dangling); returns how many grants went. One transaction: all of it or nothing."""
    _require_role_manager(conn)
    _require_mediatag_login(conn, name)
    with conn.transaction():
        revoked = conn.execute(
            "SELECT coalesce(sum(mediatag.revoke_dataset_access(d.name, %s)), 0) FROM mediatag.dataset_summary() d",
            (name,),
        ).fetchone()[0]
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    return int(revoked)
