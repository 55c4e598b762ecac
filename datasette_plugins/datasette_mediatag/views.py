"""Request handling: each view checks the person's permission, calls mediatag.* SQL functions as that person and
renders what they return. No tagging logic lives here; where a page needed data no function gave, the function
was added to the extension (sql/src/ui.sql).

Names of datasets, groups, tags and concepts travel in query strings (they may hold any printable character).
Forms are POSTed with Datasette's csrftoken; fetch() calls send it in the x-csrftoken header.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import datasette as datasette_pkg
import psycopg
from datasette import Forbidden
from datasette.utils.asgi import Response

from . import thumbs, uploads
from .sessions import ACTIONS, PLUGIN, STORE, Session, allowed

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Datasette's own stylesheet, served from here with caching headers (Datasette serves it uncached, and a
# render-blocking stylesheet fetched on every page costs more than the page itself).
DATASETTE_CSS = Path(datasette_pkg.__file__).parent / "static" / "app.css"
STATIC_TYPES = {".js": "application/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
QUERY_ROW_LIMIT = 1000  # rows shown on the Query page; downloads take up to DOWNLOAD_ROW_LIMIT
DOWNLOAD_ROW_LIMIT = 100_000
QUERY_TIMEOUT = "15s"
PREVIEW_N = 24
SEARCH_K = 48  # search results per page
METRICS = {"f1": "F1", "f05": "F0.5", "precision": "Precision", "accuracy": "Accuracy", "recall": "Recall"}


class UIError(Exception):
    def __init__(self, message: str, status: int = 400, hint: str | None = None):
        super().__init__(message)
        self.status, self.hint = status, hint


def url(path: str, **params: Any) -> str:
    params = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(params)}" if params else path


def db_message(e: psycopg.Error) -> tuple[str, str | None]:
    d = e.diag
    return (d.message_primary or str(e)).strip(), d.message_hint


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status=status, content_type="application/json; charset=utf-8")


async def function_rows_response(sess: Session, fn: str, /, **args: Any) -> Response:
    """The JSON API answer {"ok": true, "rows": [...]} of the set-returning SQL function mediatag.<fn>, called with
    named arguments (keyword names are the SQL argument names, written in the code, never taken from a request)."""
    named = ", ".join(f"{name} => %s" for name in args)
    rows = await sess.rows(f"SELECT * FROM mediatag.{fn}({named})", list(args.values()))
    return json_response({"ok": True, "rows": rows})


def is_api(request) -> bool:
    return request.path.startswith("/mediatag/api/")


async def _session(datasette, request, action: str) -> Session:
    sess = STORE.session_of(request.actor)
    if sess is None:
        raise UIError("log in first", status=401)
    if not await datasette.permission_allowed(request.actor, action, default=False):
        need = ACTIONS.get(action, "mediatag_viewer")
        raise UIError(f"{sess.login} may not do this: it needs the {need} role", status=403)
    return sess


def view(action: str = "mediatag-view"):
    """Wraps a handler(datasette, request, sess): login, permission, and errors shown as the database said them."""

    def deco(fn):
        async def handler(datasette, request):
            try:
                sess = await _session(datasette, request, action)
                return await fn(datasette, request, sess)
            except UIError as e:
                if e.status == 401 and not is_api(request) and request.method == "GET":
                    return Response.redirect(url("/mediatag/login", next=request.full_path))
                return await _error(datasette, request, str(e), e.hint, e.status)
            except psycopg.Error as e:
                msg, hint = db_message(e)
                status = 403 if isinstance(e, psycopg.errors.InsufficientPrivilege) else 400
                if request.method == "POST" and not is_api(request):
                    # Form posts go back where they came from, with the database's words as the message.
                    datasette.add_message(request, msg + (f" (hint: {hint})" if hint else ""), datasette.ERROR)
                    return Response.redirect(request.headers.get("referer") or "/mediatag/")
                return await _error(datasette, request, msg, hint, status)

        handler.__name__ = fn.__name__
        return handler

    return deco


async def _error(datasette, request, message: str, hint: str | None, status: int) -> Response:
    if is_api(request):
        return json_response({"ok": False, "error": message, "hint": hint}, status=status)
    if status == 403:
        raise Forbidden(message)
    return await render(datasette, request, "mediatag_error.html", {"message": message, "hint": hint}, status)


async def render(datasette, request, template: str, ctx: dict, status: int = 200, sess: Session | None = None):
    actor = request.actor
    sess = sess or STORE.session_of(actor)
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


def arg(request, name: str, required: bool = True) -> str | None:
    v = request.args.get(name)
    if v is None or v.strip() == "":
        if required:
            raise UIError(f"missing parameter {name!r}")
        return None
    return v


def int_arg(request, name: str, default: int | None = None) -> int | None:
    v = request.args.get(name)
    if v in (None, ""):
        return default
    try:
        return int(v)
    except ValueError as e:
        raise UIError(f"parameter {name!r} must be a whole number, got {v!r}") from e


def float_arg(request, name: str) -> float | None:
    v = request.args.get(name)
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except ValueError as e:
        raise UIError(f"parameter {name!r} must be a number, got {v!r}") from e
    if not 0 <= x <= 1:
        raise UIError(f"parameter {name!r} must be between 0 and 1, got {x}")
    return x


async def json_body(request) -> dict:
    body = await request.post_body()
    try:
        data = json.loads(body or b"{}")
    except json.JSONDecodeError as e:
        raise UIError(f"request body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise UIError("request body must be a JSON object")
    return data


def need(data: dict, key: str, kind: type | tuple = str):
    v = data.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise UIError(f"missing field {key!r}")
    if not isinstance(v, kind):
        raise UIError(f"field {key!r} has the wrong type")
    return v


def ids(data: dict, key: str = "keyframes") -> list[int]:
    v = data.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise UIError(f"field {key!r} must be a non-empty list of keyframe ids")
    return v


# ---- login -------------------------------------------------------------------------------------------------------


def _local_path(nxt: str | None) -> str:
    """Where to go after logging in: a path on this site only ("//host" would leave it: never an open redirect)."""
    if not nxt or not nxt.startswith("/") or nxt.startswith(("//", "/\\")):
        return "/mediatag/"
    return nxt


async def login(datasette, request):
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
                resp.set_cookie("mediatag_session", datasette.sign(sess.sid, "mediatag"), httponly=True, samesite="lax")
                return resp
    return await render(datasette, request, "mediatag_login.html", {"error": error, "next": nxt})


async def logout(datasette, request):
    sess = STORE.session_of(request.actor)
    if sess is not None and sess.sid != "local":
        await STORE.logout(sess.sid)
    resp = Response.redirect("/mediatag/login")
    resp.set_cookie("mediatag_session", "", expires=0)
    return resp


# ---- static files and thumbnails ------------------------------------------------------------------------------------


def static_version() -> str:
    """Part of every static URL: a changed file gets a new URL, so the files can be cached for good."""
    h = hashlib.sha256(DATASETTE_CSS.read_bytes())
    for f in sorted(STATIC.iterdir()):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


STATIC_VERSION = static_version()


async def static(datasette, request):
    name = request.url_vars["name"]
    path = DATASETTE_CSS if name == "datasette-app.css" else STATIC / name
    if name != "datasette-app.css" and (not path.is_file() or path.parent != STATIC or path.suffix not in STATIC_TYPES):
        return Response.text("not found", status=404)
    return Response(
        path.read_bytes(),
        content_type=STATIC_TYPES[path.suffix],
        headers={"cache-control": "public, max-age=31536000, immutable"},
    )


# Datasette marks responses to requests with an actor "private, no-store" unless the view is static; these two set
# their own caching headers (thumbnails are private: the keyframe lookup checked the person's access first).
static._datasette_static = True


def _thumb_dir(datasette) -> Path:
    cfg = datasette.plugin_config(PLUGIN) or {}
    return Path(cfg["thumb_dir"]) if cfg.get("thumb_dir") else thumbs.default_cache_dir()


@view()
async def thumb(datasette, request, sess: Session):
    kf, width = int(request.url_vars["kf"]), int(request.url_vars["w"])
    if width not in thumbs.WIDTHS:
        raise UIError(f"thumbnail width must be one of {thumbs.WIDTHS}", status=404)
    path = sess.images.get(kf)
    if path is None:
        path = await sess.value("SELECT mediatag.keyframe_image(%s)", [kf])
        if len(sess.images) > 200_000:
            sess.images.clear()
        sess.images[kf] = path
    src = Path(path)
    if not src.is_file():
        return Response.text(f"image file of keyframe {kf} is missing", status=404)
    out, key = await asyncio.to_thread(thumbs.thumbnail, src, width, _thumb_dir(datasette))
    etag = f'"{key[:32]}"'
    # private: the image is only for people who may see the dataset; a week, then revalidated by ETag.
    headers = {"cache-control": "private, max-age=604800", "etag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response("", status=304, headers=headers)
    return Response(out.read_bytes(), content_type="image/jpeg", headers=headers)


thumb._datasette_static = True


# ---- datasets ---------------------------------------------------------------------------------------------------


@view()
async def home(datasette, request, sess: Session):
    datasets = await sess.rows("SELECT * FROM mediatag.dataset_summary()")
    groups = await sess.rows("SELECT * FROM mediatag.list_tag_groups()")
    jobs = await sess.value("SELECT mediatag.job_progress()")
    return await render(
        datasette, request, "mediatag_home.html", {"datasets": datasets, "groups": groups, "jobs": jobs}
    )


async def dataset_summary_or_404(sess: Session, name: str) -> dict:
    """The dataset's summary row; a dataset that does not exist, or that this login may not see, is a 404."""
    summary = await sess.one("SELECT * FROM mediatag.dataset_summary(%s)", [name])
    if summary is None:
        raise UIError(f'unknown dataset "{name}"', status=404)
    return summary


@view()
async def dataset_page(datasette, request, sess: Session):
    name = arg(request, "name")
    page = max(int_arg(request, "page", 1) or 1, 1)
    per = 60
    summary = await dataset_summary_or_404(sess, name)
    assets = await sess.rows("SELECT * FROM mediatag.list_assets(%s, %s, %s)", [name, per, (page - 1) * per])
    total = assets[0]["total"] if assets else 0
    ctx = {"name": name, "summary": summary, "assets": assets, "page": page, "pages": max(1, -(-total // per))}
    return await render(datasette, request, "mediatag_dataset.html", ctx)


@view()
async def asset_page(datasette, request, sess: Session):
    asset = int_arg(request, "id")
    if asset is None:
        raise UIError("missing parameter 'id'")
    detail = await sess.value("SELECT mediatag.asset_detail(%s)", [asset])
    return await render(datasette, request, "mediatag_asset.html", {"a": detail})


@view()
async def dataset_groups(datasette, request, sess: Session):
    name = arg(request, "name")
    if request.method == "POST":
        if not allowed(request.actor, "mediatag-edit"):
            raise UIError(f"{sess.login} may not apply tag groups: it needs the mediatag_editor role", status=403)
        form = await request.post_vars()
        group, action = form.get("group") or "", form.get("action")
        if action == "apply":
            await sess.value("SELECT mediatag.apply_tag_group(tag_group => %s, dataset => %s)", [group, name])
            datasette.add_message(request, f'Applied "{group}"; scoring is queued.', datasette.INFO)
        elif action == "update":
            await sess.value("SELECT mediatag.update_tag_group(tag_group => %s, dataset => %s)", [group, name])
            datasette.add_message(request, f'Updating "{group}" to its latest version; scoring is queued.')
        else:
            raise UIError(f"unknown action {action!r}: use apply or update")
        return Response.redirect(url("/mediatag/dataset/groups", name=name))
    await dataset_summary_or_404(sess, name)
    groups = await sess.rows("SELECT * FROM mediatag.list_tag_groups(%s)", [name])
    ctx = {"name": name, "groups": groups}
    return await render(datasette, request, "mediatag_dataset_groups.html", ctx)


ACCESS_LEVELS = ("viewer", "editor")


@view()
async def dataset_access(datasette, request, sess: Session):
    """Who may see / change a dataset (mediatag.dataset_access); admins grant and revoke. The database checks the
    admin role again in grant_dataset_access / revoke_dataset_access."""
    name = arg(request, "name")
    if request.method == "POST":
        if not allowed(request.actor, "mediatag-admin"):
            raise UIError(f"{sess.login} may not change dataset access: it needs the mediatag_admin role", status=403)
        form = await request.post_vars()
        role, action = (form.get("role") or "").strip(), form.get("action")
        if not role:
            raise UIError("enter the role or login to grant access to")
        if action == "grant":
            level = form.get("level") or "viewer"
            await sess.value(
                "SELECT mediatag.grant_dataset_access(dataset => %s, role => %s, level => %s)", [name, role, level]
            )
            datasette.add_message(request, f'Granted {level} access to "{role}".', datasette.INFO)
        elif action == "revoke":
            n = await sess.value("SELECT mediatag.revoke_dataset_access(dataset => %s, role => %s)", [name, role])
            msg = f'Revoked the access of "{role}".' if n else f'"{role}" had no access of its own to revoke.'
            datasette.add_message(request, msg, datasette.INFO if n else datasette.WARNING)
        else:
            raise UIError(f"unknown action {action!r}: use grant or revoke")
        return Response.redirect(url("/mediatag/dataset/access", name=name))
    await dataset_summary_or_404(sess, name)
    grants = await sess.rows("SELECT * FROM mediatag.dataset_access(%s)", [name])
    is_admin = allowed(request.actor, "mediatag-admin")
    roles = []
    if is_admin:
        # Suggestions for the grant box: the mediatag roles and the logins (the catalog every login may read).
        roles = await sess.rows(
            "SELECT rolname AS name, rolcanlogin AS login FROM pg_catalog.pg_roles"
            " WHERE rolname !~ '^pg_' AND rolname <> 'mediatag_owner' AND (rolcanlogin OR rolname ~ '^mediatag_')"
            " ORDER BY NOT rolname ~ '^mediatag_', rolname LIMIT 500"
        )
    ctx = {"name": name, "grants": grants, "is_admin": is_admin, "roles": roles, "levels": ACCESS_LEVELS}
    return await render(datasette, request, "mediatag_dataset_access.html", ctx)


# ---- tag groups -------------------------------------------------------------------------------------------------


@view()
async def groups_page(datasette, request, sess: Session):
    groups = await sess.rows("SELECT * FROM mediatag.list_tag_groups()")
    return await render(datasette, request, "mediatag_groups.html", {"groups": groups})


@view()
async def group_new(datasette, request, sess: Session):
    datasets = await sess.rows("SELECT name FROM mediatag.dataset_summary()")
    if request.method == "POST":
        if not allowed(request.actor, "mediatag-edit"):
            raise UIError(f"{sess.login} may not create tag groups: it needs the mediatag_editor role", status=403)
        form = await request.post_vars()
        name, dataset = (form.get("name") or "").strip(), form.get("dataset") or ""
        keywords, visibility = form.get("keywords") or "", form.get("visibility") or "secret"
        try:
            await sess.value(
                "SELECT mediatag.create_tag_group(dataset => %s, name => %s, keywords => %s, visibility => %s)",
                [dataset, name, keywords, visibility],
            )
        except psycopg.Error as e:
            msg, hint = db_message(e)
            ctx = {"datasets": datasets, "error": msg, "hint": hint, "form": form}
            return await render(datasette, request, "mediatag_group_new.html", ctx, status=400)
        return Response.redirect(url("/mediatag/group", name=name))
    ctx = {"datasets": datasets, "form": {"dataset": request.args.get("dataset")}, "error": None}
    return await render(datasette, request, "mediatag_group_new.html", ctx)


@view()
async def group_page(datasette, request, sess: Session):
    name = arg(request, "name")
    tags = await sess.rows("SELECT * FROM mediatag.group_overview(%s)", [name])
    info = await sess.one("SELECT * FROM mediatag.list_tag_groups() WHERE lower(name) = lower(%s)", [name])
    status = await sess.rows("SELECT * FROM mediatag.tag_group_status(%s)", [name])
    ctx = {"name": info["name"] if info else name, "info": info, "tags": tags, "status": status}
    return await render(datasette, request, "mediatag_group.html", ctx)


@view("mediatag-edit")
async def group_publish(datasette, request, sess: Session):
    form = await request.post_vars()
    name, visibility = form.get("name") or "", form.get("visibility") or None
    v = await sess.value(
        "SELECT mediatag.publish_tag_group(tag_group => %s, visibility => %s, note => %s)",
        [name, visibility, form.get("note") or ""],
    )
    datasette.add_message(request, f'Published "{name}" version {v}; scoring is queued.', datasette.INFO)
    return Response.redirect(url("/mediatag/group", name=name))


# ---- one tag: preview, prompts, labels --------------------------------------------------------------------------


@view()
async def tag_page(datasette, request, sess: Session):
    group, tag = arg(request, "group"), arg(request, "tag")
    tab = request.args.get("tab") or "keyframe"
    if tab not in ("keyframe", "shot", "transcript"):
        raise UIError(f"unknown tab {tab!r}: use keyframe, shot or transcript")
    kind = request.args.get("kind") or "compare"
    t0 = time.perf_counter()
    overview = await sess.rows("SELECT * FROM mediatag.group_overview(%s)", [group])
    row = next((r for r in overview if r["tag"].lower() == tag.lower()), None)
    if row is None:
        raise UIError(f'unknown tag "{tag}" in group "{group}"', status=404)
    threshold = float_arg(request, "threshold")
    thr = row["threshold"] if threshold is None else threshold
    samples, transcripts = [], []
    if tab == "transcript":
        tkind = kind if kind in ("positives", "negatives") else "all"
        transcripts = await sess.rows(
            "SELECT * FROM mediatag.preview_transcripts(tag_group => %s, tag => %s, kind => %s, threshold => %s::real)",
            [group, tag, tkind, thr],
        )
    else:
        samples = await sess.rows(
            "SELECT * FROM mediatag.preview(tag_group => %s, tag => %s, kind => %s, level => %s, threshold => %s::real,"
            " n => %s, seed => 1)",
            [group, tag, kind, tab, thr, PREVIEW_N],
        )
    evaluations = await sess.rows("SELECT * FROM mediatag.list_evaluations(%s, %s)", [group, tag])
    fns = await sess.functions()
    ctx = {
        "group": group,
        "tag": row["tag"],
        "t": row,
        "tab": tab,
        "kind": kind,
        "threshold": thr,
        "samples": samples,
        "transcripts": transcripts,
        "evaluations": evaluations,
        "has_suggest": "suggest_prompts" in fns,
        "server_ms": round((time.perf_counter() - t0) * 1000, 1),
    }
    resp = await render(datasette, request, "mediatag_tag.html", ctx)
    # The browser tests read the server's share of the page time from here.
    resp.headers["server-timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
    return resp


@view("mediatag-edit")
async def tag_prompts(datasette, request, sess: Session):
    form = await request.post_vars()
    group, tag, action = form.get("group") or "", form.get("tag") or "", form.get("action")
    polarity, modality = form.get("polarity") or "positive", form.get("modality") or "visual"
    prompt, new_prompt = form.get("prompt") or "", form.get("new_prompt") or ""
    args = {"tag_group": group, "tag": tag, "polarity": polarity, "modality": modality}
    if action == "add":
        await sess.value(
            "SELECT mediatag.add_prompt(tag_group => %(tag_group)s, tag => %(tag)s, prompt => %(p)s,"
            " polarity => %(polarity)s, modality => %(modality)s)",
            {**args, "p": prompt},
        )
    elif action == "edit":
        await sess.value(
            "SELECT mediatag.edit_prompt(tag_group => %(tag_group)s, tag => %(tag)s, prompt => %(p)s,"
            " new_prompt => %(np)s, polarity => %(polarity)s, modality => %(modality)s)",
            {**args, "p": prompt, "np": new_prompt},
        )
    elif action == "remove":
        await sess.value(
            "SELECT mediatag.remove_prompt(tag_group => %(tag_group)s, tag => %(tag)s, prompt => %(p)s,"
            " polarity => %(polarity)s, modality => %(modality)s)",
            {**args, "p": prompt},
        )
    else:
        raise UIError(f"unknown prompt action {action!r}: use add, edit or remove")
    back = url("/mediatag/tag", group=group, tag=tag, tab=form.get("tab") or None)
    return Response.redirect(back + "#prompts")


@view()
async def api_preview(datasette, request, sess: Session):
    group, tag = arg(request, "group"), arg(request, "tag")
    level = request.args.get("level") or "keyframe"
    kind = request.args.get("kind") or "compare"
    thr = float_arg(request, "threshold")
    t0 = time.perf_counter()
    if level == "transcript":
        rows = await sess.rows(
            "SELECT * FROM mediatag.preview_transcripts(tag_group => %s, tag => %s, kind => %s, threshold => %s::real)",
            [group, tag, kind if kind in ("positives", "negatives") else "all", thr],
        )
    else:
        rows = await sess.rows(
            "SELECT * FROM mediatag.preview(tag_group => %s, tag => %s, kind => %s, level => %s, threshold => %s::real,"
            " n => %s, seed => 1)",
            [group, tag, kind, level, thr, PREVIEW_N],
        )
    return json_response({"ok": True, "rows": rows, "server_ms": round((time.perf_counter() - t0) * 1000, 1)})


@view("mediatag-edit")
async def api_label(datasette, request, sess: Session):
    data = await json_body(request)
    group, tag, kfs = need(data, "group"), need(data, "tag"), ids(data)
    label = data.get("label")
    origin = data.get("origin") or "preview"
    if label == "clear":
        n = await sess.value(
            "SELECT mediatag.unlabel_keyframes(tag_group => %s, tag => %s, keyframes => %s)", [group, tag, kfs]
        )
    elif isinstance(label, bool):
        n = await sess.value(
            "SELECT mediatag.label_keyframes(tag_group => %s, tag => %s, keyframes => %s, label => %s, origin => %s)",
            [group, tag, kfs, label, origin],
        )
    else:
        raise UIError("field 'label' must be true, false or \"clear\"")
    return json_response({"ok": True, "labeled": n})


@view("mediatag-edit")
async def api_threshold(datasette, request, sess: Session):
    data = await json_body(request)
    thr = need(data, "threshold", (int, float))
    await sess.value(
        "SELECT mediatag.set_threshold(tag_group => %s, tag => %s, threshold => %s::real)",
        [need(data, "group"), need(data, "tag"), float(thr)],
    )
    return json_response({"ok": True, "threshold": thr})


@view()
async def api_search_for_labeling(datasette, request, sess: Session):
    return await function_rows_response(
        sess,
        "search_for_labeling",
        tag_group=arg(request, "group"),
        query=arg(request, "q"),
        k=int_arg(request, "k", 24),
    )


@view()
async def api_uncertain(datasette, request, sess: Session):
    return await function_rows_response(
        sess,
        "uncertain_keyframes",
        tag_group=arg(request, "group"),
        tag=arg(request, "tag"),
        k=int_arg(request, "k", 12),
    )


@view()
async def api_status(datasette, request, sess: Session):
    group = request.args.get("group")
    status, tags = [], []
    if group:
        status = await sess.rows("SELECT * FROM mediatag.tag_group_status(%s)", [group])
        tags = await sess.rows(
            "SELECT tag, keyframes_above_threshold, keyframes_scored FROM mediatag.group_overview(%s)", [group]
        )
    jobs = await sess.value("SELECT mediatag.job_progress(%s)", [group])
    return json_response({"ok": True, "status": status, "tags": tags, "jobs": jobs})


# ---- LLM features (issue 15): shown once the functions exist ------------------------------------------------------


async def _require_function(sess: Session, name: str) -> None:
    if name not in await sess.functions():
        raise UIError(f"mediatag.{name}() is not available in this database (a newer mediatag extension adds it)", 501)


@view()
async def api_suggest_prompts(datasette, request, sess: Session):
    await _require_function(sess, "suggest_prompts")
    return await function_rows_response(
        sess, "suggest_prompts", tag_group=arg(request, "group"), tag=arg(request, "tag")
    )


@view("mediatag-edit")
async def api_add_suggested(datasette, request, sess: Session):
    await _require_function(sess, "add_suggested_prompts")
    data = await json_body(request)
    n = await sess.value(
        "SELECT mediatag.add_suggested_prompts(tag_group => %s, tag => %s)", [need(data, "group"), need(data, "tag")]
    )
    return json_response({"ok": True, "added": n})


@view("mediatag-edit")
async def api_add_prompt(datasette, request, sess: Session):
    data = await json_body(request)
    await sess.value(
        "SELECT mediatag.add_prompt(tag_group => %s, tag => %s, prompt => %s, polarity => %s, modality => %s,"
        " origin => %s)",
        [
            need(data, "group"),
            need(data, "tag"),
            need(data, "prompt"),
            need(data, "polarity"),
            need(data, "modality"),
            "llm" if data.get("origin") == "llm" else "user",
        ],
    )
    return json_response({"ok": True})


@view("mediatag-edit")
async def api_request_ground_truth(datasette, request, sess: Session):
    await _require_function(sess, "request_ground_truth")
    data = await json_body(request)
    r = await sess.value("SELECT mediatag.request_ground_truth(evaluation => %s)", [need(data, "evaluation", int)])
    return json_response({"ok": True, "result": r})


@view()
async def api_evaluation_progress(datasette, request, sess: Session):
    e = int(request.url_vars["e"])
    summary = await sess.one("SELECT * FROM mediatag.evaluation_summary(%s)", [e])
    llm = None
    if "evaluation_progress" in await sess.functions():
        llm = await sess.one("SELECT * FROM mediatag.evaluation_progress(%s)", [e])
    return json_response({"ok": True, "summary": summary, "llm": llm})


# ---- evaluation -------------------------------------------------------------------------------------------------


@view("mediatag-edit")
async def evaluation_start(datasette, request, sess: Session):
    form = await request.post_vars()
    size = int(form.get("size") or 400)
    e = await sess.value(
        "SELECT mediatag.start_evaluation(tag_group => %s, tag => %s, size => %s)",
        [form.get("group") or "", form.get("tag") or "", size],
    )
    return Response.redirect(url("/mediatag/evaluation", id=e))


@view()
async def evaluation_page(datasette, request, sess: Session):
    e = int_arg(request, "id")
    if e is None:
        raise UIError("missing parameter 'id'")
    summary = await sess.one("SELECT * FROM mediatag.evaluation_summary(%s)", [e])
    items = await sess.rows("SELECT * FROM mediatag.evaluation_items(%s, include_removed => true)", [e])
    fns = await sess.functions()
    ctx = {"e": e, "s": summary, "items": items, "metrics": METRICS, "has_llm": "request_ground_truth" in fns}
    return await render(datasette, request, "mediatag_evaluation.html", ctx)


@view("mediatag-edit")
async def api_evaluation_truth(datasette, request, sess: Session):
    e = int(request.url_vars["e"])
    data = await json_body(request)
    kfs = ids(data)
    if "removed" in data:
        n = await sess.value(
            "SELECT mediatag.remove_evaluation_items(%s, %s, removed => %s)", [e, kfs, bool(data["removed"])]
        )
    else:
        truth = data.get("truth")
        if not isinstance(truth, bool):
            raise UIError("field 'truth' must be true or false")
        n = await sess.value("SELECT mediatag.set_ground_truth(%s, %s, %s)", [e, kfs, truth])
    summary = await sess.one("SELECT * FROM mediatag.evaluation_summary(%s)", [e])
    return json_response({"ok": True, "changed": n, "summary": summary})


@view()
async def api_evaluation_metrics(datasette, request, sess: Session):
    e = int(request.url_vars["e"])
    judged = await sess.value("SELECT judged FROM mediatag.evaluation_summary(%s)", [e])
    if not judged:
        return json_response({"ok": True, "rows": [], "suggestions": {}, "judged": 0})
    results = await sess.many(
        [("SELECT * FROM mediatag.evaluation_metrics(%s)", [e])]
        + [("SELECT * FROM mediatag.suggest_threshold(%s, %s)", [e, m]) for m in METRICS]
    )
    rows = results[0]
    suggestions = {m: (r[0] if r else None) for m, r in zip(METRICS, results[1:], strict=True)}
    return json_response({"ok": True, "rows": rows, "suggestions": suggestions, "judged": judged})


@view("mediatag-edit")
async def evaluation_save(datasette, request, sess: Session):
    form = await request.post_vars()
    e = int(form.get("id") or 0)
    metric = form.get("metric") or "f1"
    if metric not in METRICS:
        raise UIError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    raw = (form.get("threshold") or "").strip()
    thr = float(raw) if raw else None
    saved = await sess.value("SELECT mediatag.save_threshold(%s, %s, %s::real)", [e, metric, thr])
    s = await sess.one("SELECT * FROM mediatag.evaluation_summary(%s)", [e])
    datasette.add_message(request, f'Saved threshold {saved:.3f} for "{s["tag"]}".', datasette.INFO)
    return Response.redirect(url("/mediatag/tag", group=s["tag_group"], tag=s["tag"]))


# ---- query ------------------------------------------------------------------------------------------------------


async def _run_query(datasette, sql: str, limit: int) -> tuple[list[str], list[tuple], bool]:
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


async def _tables(sess: Session) -> list[dict]:
    return await sess.rows(
        """SELECT c.table_name AS name, t.table_type AS type,
                  array_agg(c.column_name || ' ' || c.data_type ORDER BY c.ordinal_position) AS columns
           FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
           WHERE c.table_schema = 'mediatag_data' AND c.table_name !~ '_scores(_ds[0-9]+.*)?$'
           GROUP BY c.table_name, t.table_type
           ORDER BY c.table_name NOT LIKE 'dt\\_%%', c.table_name"""
    )


@view("mediatag-query")
async def query_page(datasette, request, sess: Session):
    sql = request.args.get("sql") or ""
    cols, rows, more, error, ms = [], [], False, None, None
    if sql.strip():
        t0 = time.perf_counter()
        try:
            cols, rows, more = await _run_query(datasette, sql, QUERY_ROW_LIMIT)
        except psycopg.Error as e:
            msg, hint = db_message(e)
            error = msg + (f" (hint: {hint})" if hint else "")
        ms = round((time.perf_counter() - t0) * 1000, 1)
    ctx = {
        "sql": sql,
        "cols": cols,
        "rows": rows,
        "more": more,
        "error": error,
        "ms": ms,
        "tables": await _tables(sess),
        "limit": QUERY_ROW_LIMIT,
    }
    return await render(datasette, request, "mediatag_query.html", ctx)


@view("mediatag-query")
async def query_download(datasette, request, sess: Session):
    fmt = request.url_vars["fmt"]
    sql = arg(request, "sql")
    cols, rows, _ = await _run_query(datasette, sql, DOWNLOAD_ROW_LIMIT)
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


# ---- search and concepts (issue 13): shown once the functions exist -----------------------------------------------


@view()
async def search_page(datasette, request, sess: Session):
    t0 = time.perf_counter()
    fns = await sess.functions()
    datasets = await sess.rows("SELECT name FROM mediatag.dataset_summary()")
    dataset = request.args.get("dataset") or (datasets[0]["name"] if datasets else None)
    q, like = request.args.get("q") or "", int_arg(request, "like")
    concept, tagf, meta = request.args.get("concept"), request.args.get("tag"), request.args.get("meta") or ""
    k, offset = int_arg(request, "k", SEARCH_K), int_arg(request, "offset", 0)
    by_video = request.args.get("group_by_video") in ("1", "on", "true")
    rows, error, concepts = [], None, []
    available = "search" in fns
    if available and dataset:
        if "create_concept" in fns:
            concepts = await _concepts(sess, dataset)
        if q.strip() or like:
            # The window (k, offset) is checked by mediatag.search itself; its error shows on the page.
            named = ["dataset => %(dataset)s", "k => %(k)s", '"offset" => %(offset)s', "group_by_video => %(gbv)s"]
            params: dict[str, Any] = {"dataset": dataset, "k": k, "offset": offset, "gbv": by_video}
            if like:
                named.append("keyframe => %(like)s")
                params["like"] = like
            else:
                named.append("query => %(q)s")
                params["q"] = q
            if concept:
                named.append("concepts => %(concepts)s")
                params["concepts"] = [concept]
            if tagf:
                named.append("tags => %(tags)s")
                params["tags"] = [tagf]
            if meta.strip():
                try:
                    params["meta"] = json.dumps(json.loads(meta))
                except json.JSONDecodeError as e:
                    raise UIError(f'metadata filter must be a JSON object, e.g. {{"SeriesName": "x"}}: {e}') from e
                named.append("metadata => %(meta)s::jsonb")
            try:
                rows = await sess.rows(f"SELECT * FROM mediatag.search({', '.join(named)})", params)
            except psycopg.Error as e:
                msg, hint = db_message(e)
                error = msg + (f" (hint: {hint})" if hint else "")
    ctx = {
        "available": available,
        "datasets": datasets,
        "dataset": dataset,
        "q": q,
        "like": like,
        "rows": rows,
        "error": error,
        "concepts": concepts,
        "concept": concept,
        "tagf": tagf,
        "meta": meta,
        "k": k,
        "offset": offset,
        "by_video": by_video,
    }
    if rows or offset:
        # Paging links keep every argument but the window; a full page may have a next one.
        keep = {"dataset": dataset, "q": q or None, "like": like, "concept": concept or None, "tag": tagf or None}
        keep |= {"meta": meta or None, "k": k if k != SEARCH_K else None, "group_by_video": "1" if by_video else None}
        if offset:
            ctx["prev_url"] = url("/mediatag/search", **keep, offset=max(0, offset - k) or None)
        if len(rows) == k:
            ctx["next_url"] = url("/mediatag/search", **keep, offset=offset + k)
    resp = await render(datasette, request, "mediatag_search.html", ctx)
    resp.headers["server-timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
    return resp


async def _concepts(sess: Session, dataset: str | None = None) -> list[dict]:
    fns = await sess.functions()
    if "list_concepts" in fns:
        return await sess.rows("SELECT * FROM mediatag.list_concepts(%s)", [dataset])
    if await sess.value("SELECT to_regclass('mediatag.concept') IS NOT NULL"):
        # Issue 13's table as its design names it; a different shape just means no list (the pages still work).
        try:
            return await sess.rows(
                "SELECT c.name, d.name AS dataset, c.description FROM mediatag.concept c"
                " JOIN mediatag.dataset d ON d.id = c.dataset_id WHERE %(ds)s::text IS NULL OR d.name = %(ds)s"
                " ORDER BY c.name",
                {"ds": dataset},
            )
        except psycopg.Error:
            return []
    return []


async def _concepts_ctx(sess: Session) -> dict:
    fns = await sess.functions()
    available = "create_concept" in fns
    datasets = await sess.rows("SELECT name FROM mediatag.dataset_summary()")
    concepts = await _concepts(sess) if available else []
    return {
        "available": available,
        "concepts": concepts,
        "datasets": datasets,
        "has_import": "import_concept_labels_csv" in fns,
        "has_examples": "add_concept_examples" in fns,
        "max_images": uploads.MAX_IMAGES,
        "form": {},
    }


@view()
async def concepts_page(datasette, request, sess: Session):
    if request.method == "POST":
        if not allowed(request.actor, "mediatag-edit"):
            raise UIError(f"{sess.login} may not create concepts: it needs the mediatag_editor role", status=403)
        await _require_function(sess, "create_concept")
        form = await request.post_vars()
        name = (form.get("name") or "").strip()
        await sess.value(
            "SELECT mediatag.create_concept(dataset => %s, name => %s, description => %s)",
            [form.get("dataset") or "", name, form.get("description") or ""],
        )
        return Response.redirect(url("/mediatag/concept", name=name, q=form.get("description") or None))
    return await render(datasette, request, "mediatag_concepts.html", await _concepts_ctx(sess))


async def _concept_ctx(sess: Session, name: str) -> dict:
    fns = await sess.functions()
    available = {"continue_labeling", "label_concept", "concept_top"} <= fns
    top, info = [], None
    if available:
        top = await sess.rows("SELECT * FROM mediatag.concept_top(concept => %s, n => %s)", [name, 12])
        if "list_concepts" in fns:
            info = await sess.one("SELECT * FROM mediatag.list_concepts() WHERE lower(name) = lower(%s)", [name])
    return {
        "available": available,
        "name": info["name"] if info else name,
        "info": info,
        "top": top,
        "has_import": "import_concept_labels_csv" in fns,
        "has_examples": "add_concept_examples" in fns,
        "max_images": uploads.MAX_IMAGES,
    }


@view()
async def concept_page(datasette, request, sess: Session):
    ctx = await _concept_ctx(sess, arg(request, "name"))
    return await render(datasette, request, "mediatag_concept.html", ctx)


def _upload_dir(datasette) -> Path | None:
    cfg = datasette.plugin_config(PLUGIN) or {}
    return Path(cfg["upload_dir"]) if cfg.get("upload_dir") else None


async def _concept_upload(datasette, request, sess: Session, kind: str) -> Response:
    """Labels from a CSV (kind "csv") or example images (kind "images"), for a new concept (the form's dataset,
    name, description: created in the same transaction) or an existing one (field `concept`)."""
    await _require_function(sess, "import_concept_labels_csv" if kind == "csv" else "add_concept_examples")
    fields: dict[str, str] = {}
    existing = None
    try:
        fields, files = await uploads.read_form(request)
        existing = (fields.get("concept") or "").strip() or None
        name = existing or (fields.get("name") or "").strip()
        if not name:
            raise uploads.UploadError("enter the concept's name")
        if kind == "csv":
            csv_file = next((f for f in files if f.field == "csv"), None)
            text = uploads.csv_text(csv_file)
            work = [("SELECT * FROM mediatag.import_concept_labels_csv(concept => %s, csv_text => %s)", [name, text])]
        else:
            folder = _upload_dir(datasette)
            if folder is None:
                raise uploads.UploadError(
                    "image uploads are not configured (plugin setting upload_dir: a folder under the embedding"
                    " service's media roots; `mediatag ui --upload-dir`)",
                    501,
                )
            images = [f for f in files if f.field == "images"]
            paths = await asyncio.to_thread(uploads.store_images, images, folder)
            work = [("SELECT mediatag.add_concept_examples(concept => %s, paths => %s) AS version", [name, paths])]
        if existing is None:
            create = "SELECT mediatag.create_concept(dataset => %s, name => %s, description => %s)"
            work.insert(0, (create, [fields.get("dataset") or "", name, fields.get("description") or ""]))
        results = await sess.atomic(work)
    except uploads.UploadError as e:
        return await _upload_failed(datasette, request, sess, kind, existing, fields, str(e), None, e.status)
    except psycopg.Error as e:
        msg, hint = db_message(e)
        status = 403 if isinstance(e, psycopg.errors.InsufficientPrivilege) else 400
        return await _upload_failed(datasette, request, sess, kind, existing, fields, msg, hint, status)
    out = results[-1]
    if kind == "csv":
        counts: dict[str, int] = {}
        for r in out:
            counts[r["label"]] = counts.get(r["label"], 0) + r["keyframes"]
        done = ", ".join(f"{n} {lab}" for lab, n in sorted(counts.items()))
        msg = f"Imported {len(out)} rows of {csv_file.filename}: {done} (keyframes labeled)."
    else:
        n = len(paths)
        msg = f"Added {n} example image{'s' if n != 1 else ''}; the concept is at version {out[0]['version']}."
    datasette.add_message(request, msg, datasette.INFO)
    return Response.redirect(url("/mediatag/concept", name=name))


async def _upload_failed(datasette, request, sess, kind, existing, fields, message, hint, status) -> Response:
    """The page the form was on, with the error by the form and what was typed kept."""
    if existing:
        ctx = await _concept_ctx(sess, existing)
        template = "mediatag_concept.html"
    else:
        ctx = await _concepts_ctx(sess)
        ctx["form"] = {k: fields.get(k) for k in ("dataset", "name", "description")}
        template = "mediatag_concepts.html"
    ctx |= {"upload_error": message, "upload_hint": hint, "upload_kind": kind}
    return await render(datasette, request, template, ctx, status=status)


@view("mediatag-edit")
async def concept_import(datasette, request, sess: Session):
    return await _concept_upload(datasette, request, sess, "csv")


@view("mediatag-edit")
async def concept_examples(datasette, request, sess: Session):
    return await _concept_upload(datasette, request, sess, "images")


@view()
async def api_concept_next(datasette, request, sess: Session):
    await _require_function(sess, "continue_labeling")
    return await function_rows_response(
        sess, "continue_labeling", concept=arg(request, "concept"), n=int_arg(request, "n", 12)
    )


@view()
async def api_concept_top(datasette, request, sess: Session):
    await _require_function(sess, "concept_top")
    return await function_rows_response(
        sess, "concept_top", concept=arg(request, "concept"), n=int_arg(request, "n", 3)
    )


@view("mediatag-edit")
async def api_concept_label(datasette, request, sess: Session):
    await _require_function(sess, "label_concept")
    data = await json_body(request)
    concept = need(data, "concept")
    labels = data.get("labels")
    if not isinstance(labels, dict):
        raise UIError("field 'labels' must map yes / no / skip to lists of keyframe ids")
    n = 0
    for label in ("yes", "no", "skip"):
        kfs = labels.get(label) or []
        if kfs:
            await sess.value(
                "SELECT mediatag.label_concept(concept => %s, keyframes => %s, label => %s)",
                [concept, ids({"k": kfs}, "k"), label],
            )
            n += len(kfs)
    return json_response({"ok": True, "labeled": n})


ROUTES = [
    (r"^/mediatag/?$", home),
    (r"^/mediatag/login$", login),
    (r"^/mediatag/logout$", logout),
    (r"^/mediatag/static/(?P<name>[A-Za-z0-9_.-]+)$", static),
    (r"^/mediatag/thumb/(?P<kf>\d+)/(?P<w>\d+)\.jpg$", thumb),
    (r"^/mediatag/dataset$", dataset_page),
    (r"^/mediatag/dataset/groups$", dataset_groups),
    (r"^/mediatag/dataset/access$", dataset_access),
    (r"^/mediatag/asset$", asset_page),
    (r"^/mediatag/groups$", groups_page),
    (r"^/mediatag/groups/new$", group_new),
    (r"^/mediatag/group$", group_page),
    (r"^/mediatag/group/publish$", group_publish),
    (r"^/mediatag/tag$", tag_page),
    (r"^/mediatag/tag/prompts$", tag_prompts),
    (r"^/mediatag/tag/evaluate$", evaluation_start),
    (r"^/mediatag/evaluation$", evaluation_page),
    (r"^/mediatag/evaluation/save$", evaluation_save),
    (r"^/mediatag/query$", query_page),
    (r"^/mediatag/query\.(?P<fmt>csv|json)$", query_download),
    (r"^/mediatag/search$", search_page),
    (r"^/mediatag/concepts$", concepts_page),
    (r"^/mediatag/concept$", concept_page),
    (r"^/mediatag/concepts/import$", concept_import),
    (r"^/mediatag/concepts/examples$", concept_examples),
    (r"^/mediatag/api/preview$", api_preview),
    (r"^/mediatag/api/label$", api_label),
    (r"^/mediatag/api/threshold$", api_threshold),
    (r"^/mediatag/api/search_for_labeling$", api_search_for_labeling),
    (r"^/mediatag/api/uncertain$", api_uncertain),
    (r"^/mediatag/api/status$", api_status),
    (r"^/mediatag/api/prompt$", api_add_prompt),
    (r"^/mediatag/api/suggest_prompts$", api_suggest_prompts),
    (r"^/mediatag/api/add_suggested_prompts$", api_add_suggested),
    (r"^/mediatag/api/request_ground_truth$", api_request_ground_truth),
    (r"^/mediatag/api/evaluations/(?P<e>\d+)/truth$", api_evaluation_truth),
    (r"^/mediatag/api/evaluations/(?P<e>\d+)/metrics$", api_evaluation_metrics),
    (r"^/mediatag/api/evaluations/(?P<e>\d+)/progress$", api_evaluation_progress),
    (r"^/mediatag/api/concepts/next$", api_concept_next),
    (r"^/mediatag/api/concepts/top$", api_concept_top),
    (r"^/mediatag/api/concepts/label$", api_concept_label),
]
