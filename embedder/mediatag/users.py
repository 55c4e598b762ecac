"""Logins for people: a Postgres login role that is a member of one of mediatag's roles.

Creating roles is the operator's job (it needs CREATEROLE or a superuser; the extension's own roles cannot do it),
so this runs on the operator's connection (`mediatag users add …`). Role-level settings are not inherited from a
group role, so a Query login gets its own statement timeout and read-only default here.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

ROLES = {"viewer": "mediatag_viewer", "editor": "mediatag_editor", "admin": "mediatag_admin", "query": "mediatag_query"}
QUERY_TIMEOUT = "30s"


def create_login(conn: psycopg.Connection, name: str, role: str, password: str) -> None:
    """Create (or update) login `name` with `password`, member of mediatag's `role` only."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    ident = sql.Identifier(name)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, ident, sql.Literal(password)))
    for other in ROLES.values():
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), ident))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(ROLES[role]), ident))
    if role == "query":
        conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(ident, sql.Literal(QUERY_TIMEOUT)))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ident))
    else:
        conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(ident))
