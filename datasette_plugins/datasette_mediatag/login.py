"""Logging in with a PostgreSQL login and password (checked by connecting: sessions.py) and logging out."""

from __future__ import annotations

import psycopg
from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import render
from .sessions import COOKIE, STORE


def _local_path(nxt: str | None) -> str:
    """Where to go after logging in: a path on this site only ("//host" would leave it: never an open redirect)."""
    if not nxt or not nxt.startswith("/") or nxt.startswith(("//", "/\\")):
        return "/mediatag/"
    return nxt


async def login(datasette: Datasette, request: Request) -> Response:
    nxt = _local_path(request.args.get("next"))
    error = None
    if request.method == "POST":
        form = await request.post_vars()
        nxt = _local_path(form.get("next") or nxt)
        user, password = (form.get("username") or "").strip(), form.get("password") or ""
        if not user or not password:
            error = "enter your PostgreSQL login and password"
        else:
            try:
                sess = await STORE.login(datasette, user, password)
            except psycopg.OperationalError:
                error = "login failed: wrong login or password, or the database is not reachable"
            except PermissionError as e:
                error = str(e)
            else:
                resp = Response.redirect(nxt)
                resp.set_cookie(COOKIE, datasette.sign(sess.sid, "mediatag"), httponly=True, samesite="lax")
                return resp
    return await render(datasette, request, "mediatag_login.html", {"error": error, "next": nxt})


async def logout(datasette: Datasette, request: Request) -> Response:
    sess = STORE.session_of(request.actor)
    if sess is not None and sess.sid != "local":
        await STORE.logout(sess.sid)
    resp = Response.redirect("/mediatag/login")
    resp.set_cookie(COOKIE, "", expires=0)
    return resp


ROUTES = [(r"^/mediatag/login$", login), (r"^/mediatag/logout$", logout)]
