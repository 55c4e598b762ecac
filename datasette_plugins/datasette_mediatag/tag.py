"""One tag: its preview (Video Frames / Video Shots / Transcripts, redrawn by the threshold slider), its prompts,
labels from the preview, from a search and from uncertain keyframes, its threshold, and suggested prompts (issue 15:
shown once the functions exist)."""

from __future__ import annotations

import time

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import (
    SQLError,
    UIError,
    by_name,
    call,
    call_value,
    json_response,
    real,
    render,
    requires,
    rows_api,
    url,
)
from .params import arg, float_arg, ids, json_body, need, text, whole
from .sessions import Session

PREVIEW_N = 24
TABS = ("keyframe", "shot", "transcript", "stratified")
STRATIFIED_PER_BUCKET = 10  # keyframes per 0.1-wide score bucket of the scored training dataset
PROMPT_ACTIONS = {"add": "add_prompt", "edit": "edit_prompt", "remove": "remove_prompt"}


TRANSCRIPT_KINDS = ("positives", "negatives", "all")
TRANSCRIPT_SORTS = ("score", "time")


async def _preview(
    sess: Session, group: str, tag: str, level: str, kind: str, threshold: float | None, sort: str = "score"
) -> list[dict]:
    """Transcript segments (positives first unless asked otherwise, by score or time), or keyframe / shot samples
    with a fixed seed: moving the threshold moves tiles between the sides rather than reshuffling them."""
    if level == "transcript":
        kind = kind if kind in TRANSCRIPT_KINDS else "positives"
        sort = sort if sort in TRANSCRIPT_SORTS else "score"
        return await call(
            sess, "preview_transcripts", tag_group=group, tag=tag, kind=kind, threshold=real(threshold), sort=sort
        )
    return await call(
        sess,
        "preview",
        tag_group=group,
        tag=tag,
        kind=kind,
        level=level,
        threshold=real(threshold),
        n=PREVIEW_N,
        seed=1,
    )


async def _stratified(sess: Session, group: str, tag: str) -> tuple[list[tuple[str, list[dict]]], str | None]:
    """After publish: the scored training dataset's keyframes, STRATIFIED_PER_BUCKET per score bucket, highest
    bucket first; before its scoring, no rows and the database's reason."""
    try:
        rows = await call(sess, "stratified_preview", tag_group=group, tag=tag, per_bucket=STRATIFIED_PER_BUCKET)
    except SQLError as e:
        if e.status == 403:
            raise
        return [], e.text()
    by_bucket: dict[str, list[dict]] = {}
    for r in rows:
        by_bucket.setdefault(f"{r['bucket_low']:.1f}–{r['bucket_high']:.1f}", []).append(r)
    return sorted(by_bucket.items(), reverse=True), None


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


@requires("viewer")
async def tag_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    group, tag = arg(request, "group"), arg(request, "tag")
    tab = request.args.get("tab") or "keyframe"
    if tab not in TABS:
        raise UIError(f"unknown tab {tab!r}: use keyframe, shot, transcript or stratified")
    kind = request.args.get("kind") or ("positives" if tab == "transcript" else "compare")
    sort = request.args.get("sort") or "score"
    t0 = time.perf_counter()
    row = by_name(await call(sess, "group_overview", tag_group=group), tag, key="tag")
    if row is None:
        raise UIError(f'unknown tag "{tag}" in group "{group}"', status=404)
    threshold = float_arg(request, "threshold")
    thr = row["threshold"] if threshold is None else threshold
    rows = [] if tab == "stratified" else await _preview(sess, group, tag, tab, kind, thr, sort)
    buckets, not_scored = await _stratified(sess, group, tag) if tab == "stratified" else ([], None)
    evaluations = await call(sess, "list_evaluations", tag_group=group, tag=tag)
    # The training dataset: the header's search box searches it, and without videos there are no shots or
    # transcripts to preview.
    info = by_name(await call(sess, "list_tag_groups"), group)
    dataset = info["training_dataset"] if info else None
    summary = await call(sess, "dataset_summary", dataset=dataset) if dataset else []
    ctx = {
        "group": group,
        "tag": row["tag"],
        "t": row,
        "tab": tab,
        "kind": kind,
        "sort": sort,
        "threshold": thr,
        "samples": [] if tab == "transcript" else rows,
        "buckets": buckets,
        "not_scored": not_scored,
        "per_bucket": STRATIFIED_PER_BUCKET,
        "published": bool(info and info["published_version"]),
        "transcripts": rows if tab == "transcript" else [],
        "evaluations": evaluations,
        "has_suggest": "suggest_prompts" in await sess.functions(),
        "has_video": bool(summary and summary[0]["videos"]),
        "mt_dataset": dataset,
        "server_ms": _ms_since(t0),
    }
    resp = await render(datasette, request, "mediatag_tag.html", ctx)
    # The browser tests read the server's share of the page time from here.
    resp.headers["server-timing"] = f"app;dur={_ms_since(t0)}"
    return resp


@requires("editor", "change prompts")
async def tag_prompts(datasette: Datasette, request: Request, sess: Session) -> Response:
    form = await request.post_vars()
    group, tag, action = form.get("group") or "", form.get("tag") or "", form.get("action")
    fn = PROMPT_ACTIONS.get(action or "")
    if fn is None:
        raise UIError(f"unknown prompt action {action!r}: use add, edit or remove")
    args = {
        "tag_group": group,
        "tag": tag,
        "prompt": form.get("prompt") or "",
        "polarity": form.get("polarity") or "positive",
        "modality": form.get("modality") or "visual",
    }
    if action == "edit":
        args["new_prompt"] = form.get("new_prompt") or ""
    await call(sess, fn, **args)
    back = url("/mediatag/tag", group=group, tag=tag, tab=form.get("tab") or None)
    return Response.redirect(back + "#prompts")


@requires("viewer")
async def api_preview(datasette: Datasette, request: Request, sess: Session) -> Response:
    group, tag = arg(request, "group"), arg(request, "tag")
    level = request.args.get("level") or "keyframe"
    kind = request.args.get("kind") or "compare"
    thr = float_arg(request, "threshold")
    t0 = time.perf_counter()
    rows = await _preview(sess, group, tag, level, kind, thr, request.args.get("sort") or "score")
    return json_response({"ok": True, "rows": rows, "server_ms": _ms_since(t0)})


@requires("editor", "label keyframes")
async def api_label(datasette: Datasette, request: Request, sess: Session) -> Response:
    data = await json_body(request)
    group, tag, kfs = need(data, "group"), need(data, "tag"), ids(data)
    label = data.get("label")
    if label == "clear":
        n = await call_value(sess, "unlabel_keyframes", tag_group=group, tag=tag, keyframes=kfs)
    elif isinstance(label, bool):
        origin = data.get("origin") or "preview"
        n = await call_value(
            sess, "label_keyframes", tag_group=group, tag=tag, keyframes=kfs, label=label, origin=origin
        )
    else:
        raise UIError("field 'label' must be true, false or \"clear\"")
    return json_response({"ok": True, "labeled": n})


@requires("editor", "set thresholds")
async def api_threshold(datasette: Datasette, request: Request, sess: Session) -> Response:
    data = await json_body(request)
    thr = need(data, "threshold", (int, float))
    await call(sess, "set_threshold", tag_group=need(data, "group"), tag=need(data, "tag"), threshold=real(float(thr)))
    return json_response({"ok": True, "threshold": thr})


api_search_for_labeling = rows_api("search_for_labeling", tag_group=text("group"), query=text("q"), k=whole("k", 24))
api_uncertain = rows_api("uncertain_keyframes", tag_group=text("group"), tag=text("tag"), k=whole("k", 12))
# mediatag.suggest_prompts is an editor's (it may ask the LLM, which costs): the tag page offers it to editors only.
api_suggest_prompts = rows_api(
    "suggest_prompts",
    needs=True,
    role="editor",
    doing="get prompt suggestions",
    tag_group=text("group"),
    tag=text("tag"),
)


@requires("viewer")
async def api_tag_overview(datasette: Datasette, request: Request, sess: Session) -> Response:
    """The tag's row of group_overview (counts, classifier version, prompts): what a page shows after a change."""
    group, tag = arg(request, "group"), arg(request, "tag")
    row = by_name(await call(sess, "group_overview", tag_group=group), tag, key="tag")
    if row is None:
        raise UIError(f'unknown tag "{tag}" in group "{group}"', status=404)
    return json_response({"ok": True, "tag": row})


@requires("editor", "add prompts", needs="add_suggested_prompts")
async def api_add_suggested(datasette: Datasette, request: Request, sess: Session) -> Response:
    data = await json_body(request)
    n = await call_value(sess, "add_suggested_prompts", tag_group=need(data, "group"), tag=need(data, "tag"))
    return json_response({"ok": True, "added": n})


@requires("editor", "add prompts")
async def api_add_prompt(datasette: Datasette, request: Request, sess: Session) -> Response:
    data = await json_body(request)
    await call(
        sess,
        "add_prompt",
        tag_group=need(data, "group"),
        tag=need(data, "tag"),
        prompt=need(data, "prompt"),
        polarity=need(data, "polarity"),
        modality=need(data, "modality"),
        origin="llm" if data.get("origin") == "llm" else "user",
    )
    return json_response({"ok": True})


ROUTES = [
    (r"^/mediatag/tag$", tag_page),
    (r"^/mediatag/tag/prompts$", tag_prompts),
    (r"^/mediatag/api/preview$", api_preview),
    (r"^/mediatag/api/label$", api_label),
    (r"^/mediatag/api/threshold$", api_threshold),
    (r"^/mediatag/api/search_for_labeling$", api_search_for_labeling),
    (r"^/mediatag/api/uncertain$", api_uncertain),
    (r"^/mediatag/api/suggest_prompts$", api_suggest_prompts),
    (r"^/mediatag/api/tag_overview$", api_tag_overview),
    (r"^/mediatag/api/add_suggested_prompts$", api_add_suggested),
    (r"^/mediatag/api/prompt$", api_add_prompt),
]
