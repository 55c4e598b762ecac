"""Connections to the mediatag database, with pgvector types registered and the extension in place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector

from .cluster import database_url


def ensure_extension(conn: psycopg.Connection) -> None:
    """Create the extension if missing, and update it when a newer version was installed (`make -C sql install`)."""
    row = conn.execute(
        "SELECT e.extversion, a.default_version FROM pg_available_extensions a "
        "LEFT JOIN pg_extension e ON e.extname = a.name WHERE a.name = 'mediatag'"
    ).fetchone()
    if row is None:
        raise RuntimeError("the mediatag extension is not installed on this server: run `make -C sql install`")
    installed, available = row
    if installed is None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS mediatag CASCADE")
    elif installed != available:
        conn.execute("ALTER EXTENSION mediatag UPDATE")
    conn.commit()


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
