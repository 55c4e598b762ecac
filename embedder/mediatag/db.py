"""Connections to the mediatag database, with pgvector types registered and the extension in place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector

from .cluster import database_url


class ExtensionVersionMismatch(RuntimeError):
    pass


def extension_versions(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """(version in this database, version the server's installed files provide)."""
    row = conn.execute(
        "SELECT e.extversion, a.default_version FROM pg_available_extensions a "
        "LEFT JOIN pg_extension e ON e.extname = a.name WHERE a.name = 'mediatag'"
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def ensure_extension(conn: psycopg.Connection) -> None:
    """Create the extension in a database that has none; refuse to work on a database at another version.

    Upgrades change the schema of data people rely on, so they run only when an operator asks
    (`mediatag upgrade`, i.e. ALTER EXTENSION mediatag UPDATE), never as a side effect of connecting.
    """
    installed, available = extension_versions(conn)
    conn.rollback()  # the look-up's transaction: callers choose their own mode next
    if available is None:
        raise RuntimeError("the mediatag extension is not installed on this server: run `make -C sql install`")
    if installed is None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS mediatag CASCADE")
        conn.commit()
    elif installed != available:
        raise ExtensionVersionMismatch(
            f"this database has mediatag {installed}, the server's installed extension is {available}: "
            f"back it up, then run `mediatag upgrade` (ALTER EXTENSION mediatag UPDATE TO '{available}')"
        )


def upgrade_extension(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """ALTER EXTENSION mediatag UPDATE; returns (before, after)."""
    before, available = extension_versions(conn)
    if before is None:
        raise RuntimeError("the mediatag extension is not created in this database (connect once to create it)")
    if before != available:
        conn.execute("ALTER EXTENSION mediatag UPDATE")
        conn.commit()
    return before, extension_versions(conn)[0]


def connect(url: str | None = None, *, autocommit: bool = False, setup: bool = True) -> psycopg.Connection:
    conn = psycopg.connect(url or database_url(), autocommit=autocommit)
    if setup:
        was = conn.autocommit
        conn.autocommit = False
        ensure_extension(conn)
        conn.autocommit = was
    register_vector(conn)
    return conn


@contextmanager
def connection(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(url, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()
