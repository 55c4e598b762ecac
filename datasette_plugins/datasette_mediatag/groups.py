"""Tag groups: the list, "Add group" (one tag per line), a group's overview and publishing, a dataset's "Manage
groups" (apply / update), and the status the pages poll."""

from __future__ import annotations

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import SQLError, UIError, by_name, call, call_value, get_or_post, json_response, render, requires, url
from .datasets import dataset_change, dataset_names, dataset_summary_or_404
from .params import arg
from .sessions import Session

# The tag columns the status poll sends (the page updates its counts from them).
STATUS_TAG_COLUMNS = ("tag", "keyframes_above_threshold", "keyframes_scored")


@requires("viewer")
async def groups_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    groups = await call(sess, "list_tag_groups")
    return await render(datasette, request, "mediatag_groups.html", {"groups": groups})


@requires("viewer")
async def group_new(datasette: Datasette, request: Request, sess: Session) -> Response:
    ctx = {"datasets": await dataset_names(sess), "form": {"dataset": request.args.get("dataset")}, "error": None}
    return await render(datasette, request, "mediatag_group_new.html", ctx)


@requires("editor", "create tag groups")
async def create_group(datasette: Datasette, request: Request, sess: Session) -> Response:
    form = await request.post_vars()
    name = (form.get("name") or "").strip()
    try:
        await call(
            sess,
            "create_tag_group",
            dataset=form.get("dataset") or "",
            name=name,
            keywords=form.get("keywords") or "",
            visibility=form.get("visibility") or "secret",
        )
    except SQLError as e:
        # The form again, with what was typed and the database's words (they name the bad line).
        ctx = {"datasets": await dataset_names(sess), "error": str(e), "hint": e.hint, "form": form}
        return await render(datasette, request, "mediatag_group_new.html", ctx, status=400)
    return Response.redirect(url("/mediatag/group", name=name))


async def _workers(sess: Session) -> int | None:
    """Job workers connected to the database (None where the extension is too old to say)."""
    return await call_value(sess, "job_workers") if "job_workers" in await sess.functions() else None


async def _group_ctx(sess: Session, name: str) -> dict:
    tags = await call(sess, "group_overview", tag_group=name)
    info = by_name(await call(sess, "list_tag_groups"), name)
    status = await call(sess, "tag_group_status", tag_group=name)
    return {
        "name": info["name"] if info else name,
        "info": info,
        "tags": tags,
        "status": status,
        "workers": await _workers(sess),
        "unreviewed": [],
        "form": {},
    }


@requires("viewer")
async def group_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    return await render(datasette, request, "mediatag_group.html", await _group_ctx(sess, arg(request, "name")))


@requires("editor", "publish tag groups")
async def group_publish(datasette: Datasette, request: Request, sess: Session) -> Response:
    form = await request.post_vars()
    name = form.get("name") or ""
    visibility = form.get("visibility") or None
    before = by_name(await call(sess, "list_tag_groups"), name)
    changes_tags = before is None or before["state"] != "published" or before["unpublished_changes"]
    if changes_tags and not form.get("confirm") and "unreviewed_tags" in await sess.functions():
        # Tags nobody labeled, evaluated or gave a prompt score by their bare name: ask first (the page again,
        # with the tags named and a "Publish anyway" button that sends confirm).
        unreviewed = [r["tag"] for r in await call(sess, "unreviewed_tags", tag_group=name)]
        if unreviewed:
            ctx = await _group_ctx(sess, name)
            ctx |= {"unreviewed": unreviewed, "form": form}
            return await render(datasette, request, "mediatag_group.html", ctx)
    v = await call_value(sess, "publish_tag_group", tag_group=name, visibility=visibility, note=form.get("note") or "")
    if before and before["state"] == "published" and v == before["published_version"]:
        message = f'"{name}" is now {visibility}; still version {v}, nothing to score again.'
    else:
        message = f'Published "{name}" version {v}; scoring is queued.'
    datasette.add_message(request, message, datasette.INFO)
    return Response.redirect(url("/mediatag/group", name=name))


@requires("viewer")
async def dataset_groups(datasette: Datasette, request: Request, sess: Session) -> Response:
    name = arg(request, "name")
    await dataset_summary_or_404(sess, name)
    groups = await call(sess, "list_tag_groups", dataset=name)
    return await render(datasette, request, "mediatag_dataset_groups.html", {"name": name, "groups": groups})


# action on Manage groups -> the function that does it, and what it did
GROUP_ACTIONS = {
    "apply": ("apply_tag_group", 'Applied "{}"; scoring is queued.'),
    "update": ("update_tag_group", 'Updating "{}" to its latest version; scoring is queued.'),
}


@dataset_change("/mediatag/dataset/groups", "editor", "apply tag groups")
async def apply_group(sess: Session, name: str, form: dict) -> tuple[bool, str]:
    group, action = form.get("group") or "", form.get("action")
    if action not in GROUP_ACTIONS:
        raise UIError(f"unknown action {action!r}: use apply or update")
    fn, done = GROUP_ACTIONS[action]
    await call(sess, fn, tag_group=group, dataset=name)
    return True, done.format(group)


@requires("viewer")
async def api_status(datasette: Datasette, request: Request, sess: Session) -> Response:
    group = request.args.get("group")
    status, tags = [], []
    if group:
        status = await call(sess, "tag_group_status", tag_group=group)
        overview = await call(sess, "group_overview", tag_group=group)
        tags = [{k: t[k] for k in STATUS_TAG_COLUMNS} for t in overview]
    jobs = await call_value(sess, "job_progress", tag_group=group)
    return json_response({"ok": True, "status": status, "tags": tags, "jobs": jobs, "workers": await _workers(sess)})


ROUTES = [
    (r"^/mediatag/groups$", groups_page),
    (r"^/mediatag/groups/new$", get_or_post(group_new, create_group)),
    (r"^/mediatag/group$", group_page),
    (r"^/mediatag/group/publish$", group_publish),
    (r"^/mediatag/dataset/groups$", get_or_post(dataset_groups, apply_group)),
    (r"^/mediatag/api/status$", api_status),
]
