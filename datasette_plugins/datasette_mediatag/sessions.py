"""People and their PostgreSQL connections.

A person logs in with their PostgreSQL login and password; the plugin checks them by connecting (TCP, scram) and
keeps a small async pool as that login for the session, so every function runs with that person's rights and
`mediatag._caller()` names them. The Datasette actor carries the mediatag roles the login holds (admin, editor,
viewer, query); the permission hook maps Datasette actions to them. Passwords stay in server memory only; the
browser holds a signed, random session id. With `local_url` configured (`mediatag ui --no-login`, a one-person
laptop), visitors without a session act as that URL's login, which must not be a superuser (anyone who reaches the
page acts as it). The Query page runs on `query_url`, a login of the mediatag_query role alone, in both modes: a
connection of its own, never `SET ROLE` on a richer one (which `RESET ROLE` would undo).

With `read_url` configured (`mediatag ui` under MEDIATAG_READ_URL: a streaming replica), each session also keeps a
pool as the same login on the replica, and calls of functions declared STABLE or IMMUTABLE (mediatag.catalog's
READS_ONLY) run there; everything else runs on the primary. A person sees their own changes at once: after a write
the primary's WAL position is noted, and reads stay on the primary until the replica has replayed up to it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

LOG = logging.getLogger(__name__)
PLUGIN = "datasette-mediatag"
# The calls a read replica may answer: functions declared STABLE or IMMUTABLE. The SDK routes by the same rule
# (mediatag.catalog.READS_ONLY; this plugin installs without the mediatag package, and tests/test_replica.py checks
# the two are equal).
READS_ONLY = "(p.prokind = 'f' AND p.provolatile IN ('s', 'i'))"
COOKIE = "mediatag_session"
ROLES = ("mediatag_admin", "mediatag_editor", "mediatag_viewer", "mediatag_query")
# Datasette action -> the PostgreSQL role it needs (membership, so admins hold editor and viewer too).
ACTIONS = {
    "mediatag-view": "mediatag_viewer",
    "mediatag-edit": "mediatag_editor",
    "mediatag-admin": "mediatag_admin",
    "mediatag-query": "mediatag_query",
}
ROLE_QUERY = "SELECT r FROM unnest(%s::text[]) r WHERE pg_has_role(session_user, r, 'MEMBER') ORDER BY r"


def allowed(actor: dict | None, action: str) -> bool:
    if not actor or action not in ACTIONS:
        return False
    return ACTIONS[action] in (actor.get("mediatag_roles") or [])


@dataclass
class Session:
    sid: str
    login: str
    roles: tuple[str, ...]
    pool: AsyncConnectionPool
    cache: dict[str, Any] = field(default_factory=dict)
    # keyframe id -> image file, for thumbnails: looked up (with its access check) once per session.
    images: dict[int, str] = field(default_factory=dict)
    read_pool: AsyncConnectionPool | None = None  # the same login on the read replica (read_url), if any
    written_lsn: str | None = None  # the primary's WAL position after this session's last write, until replayed

    def actor(self) -> dict:
        return {"id": self.login, "mediatag_roles": list(self.roles), "mediatag_sid": self.sid}

    async def rows(self, sql: str, params: Any = (), *, read: bool = False) -> list[dict]:
        """The rows of one statement; `read`: it changes nothing, so the replica may answer it."""
        return (await self.many([(sql, params)], read=read))[0]

    async def many(self, statements: list[tuple[str, Any]], *, read: bool = False) -> list[list[dict]]:
        """Several statements on one connection: PL/Python functions import numpy once per backend, so a page
        that calls several of them should not spread them over the pool. `read`: none of them changes anything."""
        if read and self.read_pool is not None:
            out = await self._on_replica(statements)
            if out is not None:
                return out
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            out = await _run(cur, statements)
            if not read:
                await self._wrote(cur)
        return out

    async def atomic(self, statements: list[tuple[str, Any]]) -> list[list[dict]]:
        """Several statements in one transaction: all of them happen or none (create a concept and import its
        labels: a refused import leaves no empty concept behind)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            async with conn.transaction():
                out = await _run(cur, statements)
            await self._wrote(cur)
        return out

    async def _on_replica(self, statements: list[tuple[str, Any]]) -> list[list[dict]] | None:
        """The statements' rows from the replica; None while it has not replayed this session's last write."""
        assert self.read_pool is not None
        async with self.read_pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if self.written_lsn is not None:
                await cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn AS done", [self.written_lsn])
                if not (await cur.fetchone())["done"]:
                    return None
                self.written_lsn = None
            return await _run(cur, statements)

    async def _wrote(self, cur: psycopg.AsyncCursor) -> None:
        if self.read_pool is not None:
            await cur.execute("SELECT pg_current_wal_lsn()::text AS lsn")
            self.written_lsn = (await cur.fetchone())["lsn"]

    async def close(self) -> None:
        await self.pool.close()
        if self.read_pool is not None:
            await self.read_pool.close()

    async def one(self, sql: str, params: Any = ()) -> dict | None:
        r = await self.rows(sql, params)
        return r[0] if r else None

    async def value(self, sql: str, params: Any = ()) -> Any:
        r = await self.one(sql, params)
        return None if r is None else next(iter(r.values()))

    async def reads(self) -> set[str]:
        """The mediatag.* functions a replica may run: every overload declared STABLE or IMMUTABLE."""
        if "reads" not in self.cache:
            names = await self.rows(
                "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'mediatag'::regnamespace"
                f" GROUP BY p.proname HAVING bool_and({READS_ONLY})",
                read=True,
            )
            self.cache["reads"] = {r["proname"] for r in names}
        return self.cache["reads"]

    async def functions(self) -> set[str]:
        """The mediatag.* functions this database has (features of unmerged issues light up once they exist)."""
        if "functions" not in self.cache:
            names = await self.rows(
                "SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'mediatag'",
                read=True,
            )
            self.cache["functions"] = {r["proname"] for r in names}
        return self.cache["functions"]


async def _run(cur: psycopg.AsyncCursor, statements: list[tuple[str, Any]]) -> list[list[dict]]:
    out = []
    for sql, params in statements:
        await cur.execute(sql, params)
        out.append(await cur.fetchall() if cur.description else [])
    return out


async def _open_read_pool(config: dict, login_conninfo: str) -> AsyncConnectionPool | None:
    """A pool on the replica (plugin setting read_url, without a login) as the login and password of
    `login_conninfo`; None without a replica. Logins and their passwords are the primary's, replicated."""
    read_url = config.get("read_url")
    if not read_url:
        return None
    who = conninfo_to_dict(login_conninfo)
    conninfo = make_conninfo(read_url, user=who.get("user"), password=who.get("password"))
    pool = AsyncConnectionPool(
        conninfo, min_size=1, max_size=6, open=False, kwargs={"autocommit": True, "connect_timeout": 10}
    )
    try:
        await pool.open(wait=True, timeout=5)
    except PoolTimeout:
        # A replica that is down (or has not replayed this login yet) costs speed, not the login: reads stay on
        # the primary for this session.
        await pool.close()
        LOG.warning("read replica unreachable at %s: this session reads from the primary", read_url)
        return None
    return pool


async def _open_pool(conninfo: str, shared: bool = False) -> tuple[AsyncConnectionPool, str, tuple[str, ...]]:
    """A pool as the login of `conninfo`; `shared` (every visitor acts as it) refuses a superuser."""
    # One probe connection first, so a wrong password is a clear message rather than a pool timeout.
    async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10, autocommit=True) as probe:
        cur = await probe.execute("SELECT session_user::text, rolsuper FROM pg_roles WHERE rolname = session_user")
        login, superuser = await cur.fetchone()
        if shared and superuser:
            raise PermissionError(f"{login} is a superuser: the UI will not let every visitor act as it")
        cur = await probe.execute(ROLE_QUERY, [list(ROLES)])
        roles = tuple(r[0] for r in await cur.fetchall())
    pool = AsyncConnectionPool(
        # Warm connections at login: a new backend compiles each PL/pgSQL function on first use (tens of ms), and a
        # grid of thumbnails asks for several connections at once.
        conninfo,
        min_size=3,
        max_size=6,
        open=False,
        kwargs={"autocommit": True, "connect_timeout": 10},
    )
    await pool.open(wait=True, timeout=15)
    return pool, login, roles


class SessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._local: dict[str, Session] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def config(datasette) -> dict:
        return datasette.plugin_config(PLUGIN) or {}

    async def login(self, datasette, user: str, password: str) -> Session:
        base = self.config(datasette).get("login_url")
        if not base:
            raise PermissionError("logins are not configured (plugin setting login_url)")
        conninfo = make_conninfo(base, user=user, password=password)
        pool, login, roles = await _open_pool(conninfo)
        sid = secrets.token_urlsafe(24)
        s = Session(sid, login, roles, pool, read_pool=await _open_read_pool(self.config(datasette), conninfo))
        self._sessions[sid] = s
        return s

    async def logout(self, sid: str) -> None:
        s = self._sessions.pop(sid, None)
        if s is not None:
            await s.close()

    async def local(self, datasette) -> Session | None:
        url = self.config(datasette).get("local_url")
        if not url:
            return None
        async with self._lock:
            if url not in self._local:
                pool, login, roles = await _open_pool(url, shared=True)
                read_pool = await _open_read_pool(self.config(datasette), url)
                self._local[url] = Session("local", login, roles, pool, read_pool=read_pool)
        return self._local[url]

    def _sid(self, datasette, request) -> str | None:
        signed = request.cookies.get(COOKIE)
        if not signed:
            return None
        try:
            return datasette.unsign(signed, "mediatag")
        except Exception:  # a tampered or stale cookie is no session
            return None

    def actor_for(self, datasette, request):
        sid = self._sid(datasette, request)
        if sid and sid in self._sessions:
            return self._sessions[sid].actor()
        if self.config(datasette).get("local_url"):

            async def inner():
                s = await self.local(datasette)
                return s.actor() if s else None

            return inner
        return None

    def session_of(self, actor: dict | None) -> Session | None:
        if not actor:
            return None
        sid = actor.get("mediatag_sid")
        if sid == "local":
            return next(iter(self._local.values()), None)
        return self._sessions.get(sid) if sid else None

    async def close_all(self) -> None:
        for s in list(self._sessions.values()) + list(self._local.values()):
            await s.close()
        self._sessions.clear()
        self._local.clear()


STORE = SessionStore()
