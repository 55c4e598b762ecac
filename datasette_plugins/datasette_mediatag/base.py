"""What every page shares: who may run a handler (`requires`), calling mediatag.* SQL functions by their argument
names (`call`), the database's errors as the page's messages, and rendering.

Handlers run as the person's own PostgreSQL login (sessions.py), so the database checks every right again; the
permission checks here decide what a page offers and answer a refused POST with 403 before any SQL runs. Forms are
POSTed with Datasette's csrftoken field (the templates put it in every form and in a meta tag); fetch() calls send
it in the x-csrftoken header; Datasette's asgi-csrf checks both (csrf_multipart.py does it for uploads).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import psycopg
from datasette.app import Datasette
from datasette.utils.asgi import Request, Response
from psycopg import sql
from psycopg.types.numeric import Float4

from .sessions import ACTIONS, STORE, Session, allowed
from .static import STATIC_VERSION

# A mediatag role -> the Datasette action that checks it (sessions.ACTIONS maps the actions to PostgreSQL roles).
ROLE_ACTIONS = {
    "viewer": "mediatag-view",
    "editor": "mediatag-edit",
    "admin": "mediatag-admin",
    "query": "mediatag-query",
}

Handler = Callable[[Datasette, Request, Session], Awaitable[Response]]
Route = Callable[[Datasette, Request], Awaitable[Response]]


class UIError(Exception):
    def __init__(self, message: str, status: int = 400, hint: str | None = None):
        super().__init__(message)
        self.status, self.hint = status, hint


class SQLError(UIError):
    """What the database said, as a page shows it: its primary message and hint; 403 when it refused the login's
    rights. `not_found`: what was named does not exist for this login (no_data_found: "unknown dataset", a face, a
    person), which a GET answers with 404 (a POST's body named it: 400, a bad request). A form POST that gets one
    goes back where it came from with the message (see `requires`)."""

    @classmethod
    def of(cls, e: psycopg.Error) -> SQLError:
        d = e.diag
        status = 403 if isinstance(e, psycopg.errors.InsufficientPrivilege) else 400
        error = cls((d.message_primary or str(e)).strip(), status, d.message_hint)
        error.not_found = isinstance(e, psycopg.errors.NoDataFound)
        return error

    not_found: bool = False

    def text(self) -> str:
        """Message and hint on one line, for a page that shows the error inline."""
        return str(self) + (f" (hint: {self.hint})" if self.hint else "")


@contextmanager
def sql_errors() -> Iterator[None]:
    """Turns a database error raised inside the block into an SQLError."""
    try:
        yield
    except psycopg.Error as e:
        raise SQLError.of(e) from e


# ---- calling mediatag.* functions ---------------------------------------------------------------------------------


def statement(fn: str, /, **named: Any) -> tuple[sql.Composed, list[Any]]:
    """`SELECT * FROM mediatag.<fn>(name => %s, …)`. The names are written in the code, never taken from a request;
    quoted, so an argument named like a keyword ("offset") needs nothing special."""
    args = sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder()) for k in named)
    return sql.SQL("SELECT * FROM {}({})").format(sql.Identifier("mediatag", fn), args), list(named.values())


async def call(sess: Session, fn: str, /, **named: Any) -> list[dict]:
    """The rows of mediatag.<fn> called with named arguments as the person; a database error is an SQLError. A
    STABLE or IMMUTABLE function reads from the replica where one is configured (sessions.py)."""
    with sql_errors():
        return await sess.rows(*statement(fn, **named), read=fn in await sess.reads())


async def call_one(sess: Session, fn: str, /, **named: Any) -> dict | None:
    rows = await call(sess, fn, **named)
    return rows[0] if rows else None


async def call_value(sess: Session, fn: str, /, **named: Any) -> Any:
    """The value a scalar function returned (`SELECT * FROM` gives it as the only column)."""
    row = await call_one(sess, fn, **named)
    return None if row is None else next(iter(row.values()))


async def call_all(sess: Session, calls: list[tuple[str, dict[str, Any]]], *, atomic: bool = False) -> list[list[dict]]:
    """Several calls on one connection (PL/Python functions import numpy once per backend); `atomic`: in one
    transaction, all of them or none."""
    statements = [statement(fn, **named) for fn, named in calls]
    with sql_errors():
        if atomic:
            return await sess.atomic(statements)
        reads = await sess.reads()
        return await sess.many(statements, read=all(fn in reads for fn, _ in calls))


def real(x: float | None) -> Float4 | None:
    """A `real` argument: psycopg sends a Python float as double precision, and double precision -> real is no
    implicit cast, so a function taking `threshold real` would not be found."""
    return None if x is None else Float4(x)


async def require_function(sess: Session, name: str) -> None:
    """Features of newer extensions show as "not available" in a database that lacks their function."""
    if name not in await sess.functions():
        raise UIError(f"mediatag.{name}() is not available in this database (a newer mediatag extension adds it)", 501)


def by_name(rows: list[dict], name: str, key: str = "name") -> dict | None:
    """The row whose `key` is `name` in any case (names of groups, tags and concepts are case-insensitive)."""
    return next((r for r in rows if r[key].lower() == name.lower()), None)


# ---- who may run a handler ------------------------------------------------------------------------------------------


def is_api(request: Request) -> bool:
    return request.path.startswith("/mediatag/api/")


def url(path: str, **params: Any) -> str:
    params = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(params)}" if params else path


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status=status, content_type="application/json; charset=utf-8")


async def _session(datasette: Datasette, request: Request, action: str, doing: str) -> Session:
    sess = STORE.session_of(request.actor)
    if sess is None:
        raise UIError("log in first", status=401)
    if not await datasette.permission_allowed(request.actor, action, default=False):
        held = ", ".join(sess.roles) or "no mediatag role"
        role = ACTIONS[action]
        message = f"{sess.login} may not {doing}: it needs the {role} role, and {sess.login} holds {held}"
        raise UIError(message, status=403, hint=grant_hint(sess.login, role))
    return sess


def grant_hint(login: str, role: str) -> str:
    """How a login gets a role it lacks (roles add up: it keeps the ones it holds)."""
    return (
        f"the operator grants it with `mediatag users grant {login} {role.removeprefix('mediatag_')}`;"
        " then log out and in again"
    )


def requires(role: str = "viewer", doing: str | None = None, needs: str | None = None) -> Callable[[Handler], Route]:
    """Wraps a handler(datasette, request, sess): the person is logged in (else the login page, or 401 for the
    API) and their login holds mediatag_<role> (else 403, "<login> may not <doing>"); the database has function
    mediatag.<needs> (else 501, "not available"); errors become the page's messages. Pages require "viewer" (the
    Query page "query"); POST handlers that change things "editor" or "admin"."""
    action = ROLE_ACTIONS[role]

    def deco(fn: Handler) -> Route:
        async def handler(datasette: Datasette, request: Request) -> Response:
            sess: Session | None = None
            try:
                what = doing or ("see this page" if request.method in ("GET", "HEAD") else "do this")
                sess = await _session(datasette, request, action, what)
                if needs:
                    await require_function(sess, needs)
                return await fn(datasette, request, sess)
            except psycopg.Error as e:  # SQL that is no function call: catalog reads
                err: UIError = SQLError.of(e)
            except UIError as e:
                err = e
            if sess is not None and isinstance(err, SQLError) and err.status == 403:
                err = await explain_denied(sess, err)
            return await _failed(datasette, request, err)

        # Not functools.wraps: Datasette reads the signature (through __wrapped__) to choose the arguments it passes.
        handler.__name__ = fn.__name__
        return handler

    return deco


# Which mediatag roles the login holds now, and which of them may run mediatag function `fn` (with `fn` NULL: use
# schema mediatag at all, what a login without any mediatag role is refused first).
DENIED_QUERY = """SELECT ARRAY(SELECT r FROM unnest(%(roles)s::text[]) r
                               WHERE pg_has_role(session_user, r, 'MEMBER')
                               ORDER BY array_position(%(roles)s::text[], r)) AS held,
                         ARRAY(SELECT r FROM unnest(%(roles)s::text[]) r
                               WHERE CASE WHEN %(fn)s::text IS NULL THEN has_schema_privilege(r, 'mediatag', 'USAGE')
                                     ELSE EXISTS (SELECT 1 FROM pg_proc p
                                                  WHERE p.pronamespace = 'mediatag'::regnamespace
                                                    AND p.proname = %(fn)s
                                                    AND has_function_privilege(r, p.oid, 'EXECUTE'))
                                     END
                               ORDER BY array_position(%(roles)s::text[], r)) AS needed"""
DENIED = re.compile(r"permission denied for (?:function (\w+)|schema mediatag$)")


async def explain_denied(sess: Session, e: SQLError) -> SQLError:
    """The database's "permission denied for function dataset_summary" (or for schema mediatag) as the missing
    right: which role it needs and which the login holds. The roles are read again: the session took them at login,
    and a role revoked since is why the page offered what the database refused; the session keeps the new ones, so
    the pages stop offering it."""
    m = DENIED.match(str(e))
    if not m:
        return e
    fn = m.group(1)
    # Least to most: the role named is the least one that grants it (editors and admins are viewers too).
    roles = [ACTIONS[a] for a in ROLE_ACTIONS.values()]
    with sql_errors():
        row = (await sess.rows(DENIED_QUERY, {"roles": roles, "fn": fn}))[0]
    sess.roles = tuple(row["held"])
    what = f"run mediatag.{fn}()" if fn else "use mediatag"
    needed = row["needed"][0] if row["needed"] else "a mediatag role"
    held = ", ".join(row["held"]) or "no mediatag role"
    message = f"{sess.login} may not {what}: that needs {needed}, and {sess.login} holds {held}"
    return SQLError(message, 403, grant_hint(sess.login, (row["needed"] or ["mediatag_viewer"])[0]))


def rows_api(
    fn: str, /, *, needs: bool = False, role: str = "viewer", doing: str | None = None, **args: Callable[[Request], Any]
) -> Route:
    """A read of the JSON API: {"ok": true, "rows": [...]} of mediatag.<fn>, each named argument read from the
    request by its reader (params.text, params.whole); `needs`: a function newer extensions add; `role`: the role
    the function itself requires, when that is more than a viewer's (refused here with the words a person needs)."""

    async def read(datasette: Datasette, request: Request, sess: Session) -> Response:
        rows = await call(sess, fn, **{name: get(request) for name, get in args.items()})
        return json_response({"ok": True, "rows": rows})

    route = requires(role, doing, needs=fn if needs else None)(read)
    route.__name__ = f"api_{fn}"
    return route


def get_or_post(get: Route, post: Route) -> Route:
    """One URL, two handlers: a POST goes to `post` (which requires its own role), anything else to `get`."""

    async def by_method(datasette: Datasette, request: Request) -> Response:
        return await (post if request.method == "POST" else get)(datasette, request)

    by_method.__name__ = get.__name__
    return by_method


async def _failed(datasette: Datasette, request: Request, e: UIError) -> Response:
    if e.status == 401 and not is_api(request) and request.method == "GET":
        return Response.redirect(url("/mediatag/login", next=request.full_path))
    if isinstance(e, SQLError) and request.method == "POST" and not is_api(request):
        # Form posts go back where they came from, with the database's words as the message.
        datasette.add_message(request, e.text(), datasette.ERROR)
        return Response.redirect(request.headers.get("referer") or "/mediatag/")
    return await error_page(datasette, request, e)


async def error_page(datasette: Datasette, request: Request, e: UIError) -> Response:
    if isinstance(e, SQLError) and e.not_found and request.method == "GET":
        e.status = 404
    if is_api(request):
        return json_response({"ok": False, "error": str(e), "hint": e.hint}, status=e.status)
    # A refusal too is a page of the UI's own (its navigation, "Back to the datasets"), not Datasette's bare 403.
    ctx = {"message": str(e), "hint": e.hint, "status": e.status}
    return await render(datasette, request, "mediatag_error.html", ctx, e.status)


# ---- rendering ------------------------------------------------------------------------------------------------------


async def render(datasette: Datasette, request: Request, template: str, ctx: dict, status: int = 200) -> Response:
    actor = request.actor
    sess = STORE.session_of(actor)
    fns = await sess.functions() if sess else set()
    base = {
        "url": url,
        "mt_login": sess.login if sess else None,
        "mt_roles": sess.roles if sess else (),
        "can_edit": allowed(actor, "mediatag-edit"),
        "can_query": allowed(actor, "mediatag-query"),
        "has_search": "search" in fns,
        "has_concepts": "create_concept" in fns,
        "local_session": bool(sess and sess.sid == "local"),
        "static_v": STATIC_VERSION,
    }
    html = await datasette.render_template(template, {**base, **ctx}, request=request)
    return Response.html(html, status=status)
