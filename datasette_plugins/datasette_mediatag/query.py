"""The Query page: one read-only SQL statement as the UI's query login, shown as a table or downloaded as CSV /
JSON, beside the mediatag_data tables and views (dt_* first) with their columns."""

from __future__ import annotations

import csv
import io
import json
import time

import psycopg
from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import SQLError, UIError, render, requires, sql_errors
from .params import arg
from .sessions import STORE, Session

QUERY_ROW_LIMIT = 1000  # rows shown on the Query page; downloads take up to DOWNLOAD_ROW_LIMIT
DOWNLOAD_ROW_LIMIT = 100_000
QUERY_TIMEOUT = "15s"
TABLES = """SELECT c.table_name AS name, t.table_type AS type,
                   array_agg(c.column_name || ' ' || c.data_type ORDER BY c.ordinal_position) AS columns
            FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'mediatag_data' AND c.table_name !~ '_scores(_ds[0-9]+.*)?$'
            GROUP BY c.table_name, t.table_type
            ORDER BY c.table_name NOT LIKE 'dt\\_%%', c.table_name"""


async def _run_query(datasette: Datasette, sql: str, limit: int) -> tuple[list[str], list[tuple], bool]:
    """One statement on a fresh read-only connection as the UI's query login, with a statement timeout.

    The connection is that login's own (a member of mediatag_query alone): a `SET ROLE` on the person's connection
    would be undone by `RESET ROLE` or `set_config('role', 'none', …)` inside the statement. A pipeline forces the
    extended protocol, which refuses several statements in one string (so no COMMIT can end the read-only
    transaction); the connection is closed afterwards, so no setting outlives the query.
    """
    conninfo = STORE.config(datasette).get("query_url")
    if not conninfo:
        raise UIError("the Query page needs a query login: plugin setting query_url (mediatag ui makes one)", 503)
    opts = f"-c default_transaction_read_only=on -c statement_timeout={QUERY_TIMEOUT}"
    with sql_errors():
        async with await psycopg.AsyncConnection.connect(conninfo, options=opts, autocommit=True) as conn:
            cur = await conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user")
            if (await cur.fetchone())[0]:  # a misconfigured query_url would make the page a superuser's console
                raise UIError("the Query page's login is a superuser: give it a mediatag_query login", status=503)
            async with conn.transaction():
                await conn.execute("SET TRANSACTION READ ONLY")
                async with conn.pipeline():
                    cur = conn.cursor()
                    await cur.execute(sql)
                if cur.description is None:
                    return [], [], False
                cols = [c.name for c in cur.description]
                rows = await cur.fetchmany(limit + 1)
    return cols, rows[:limit], len(rows) > limit


@requires("query")
async def query_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    sql = request.args.get("sql") or ""
    cols, rows, more, error, ms = [], [], False, None, None
    if sql.strip():
        t0 = time.perf_counter()
        try:
            cols, rows, more = await _run_query(datasette, sql, QUERY_ROW_LIMIT)
        except SQLError as e:
            error = e.text()
        ms = round((time.perf_counter() - t0) * 1000, 1)
    ctx = {
        "sql": sql,
        "cols": cols,
        "rows": rows,
        "more": more,
        "error": error,
        "ms": ms,
        "tables": await sess.rows(TABLES),
        "limit": QUERY_ROW_LIMIT,
    }
    return await render(datasette, request, "mediatag_query.html", ctx)


@requires("query")
async def query_download(datasette: Datasette, request: Request, sess: Session) -> Response:
    fmt = request.url_vars["fmt"]
    cols, rows, _ = await _run_query(datasette, arg(request, "sql"), DOWNLOAD_ROW_LIMIT)
    headers = {"content-disposition": f'attachment; filename="mediatag-query.{fmt}"'}
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v) for v in r])
        return Response(buf.getvalue(), content_type="text/csv; charset=utf-8", headers=headers)
    body = json.dumps([dict(zip(cols, r, strict=True)) for r in rows], default=str)
    return Response(body, content_type="application/json; charset=utf-8", headers=headers)


ROUTES = [
    (r"^/mediatag/query$", query_page),
    (r"^/mediatag/query\.(?P<fmt>csv|json)$", query_download),
]
