"""Evaluating a tag: start one from the tag page, judge its items (or ask a vision model: issue 15), the metrics
against the threshold with the suggestions per metric, and saving the chosen threshold."""

from __future__ import annotations

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import (
    UIError,
    call,
    call_all,
    call_one,
    call_value,
    json_response,
    real,
    render,
    requires,
    url,
)
from .params import id_arg, ids, json_body, need
from .sessions import Session

METRICS = {"f1": "F1", "f05": "F0.5", "precision": "Precision", "accuracy": "Accuracy", "recall": "Recall"}


async def _summary(sess: Session, evaluation: int) -> dict | None:
    return await call_one(sess, "evaluation_summary", evaluation_id=evaluation)


def _url_id(request: Request) -> int:
    return int(request.url_vars["e"])


@requires("editor", "start evaluations")
async def evaluation_start(datasette: Datasette, request: Request, sess: Session) -> Response:
    form = await request.post_vars()
    e = await call_value(
        sess,
        "start_evaluation",
        tag_group=form.get("group") or "",
        tag=form.get("tag") or "",
        size=int(form.get("size") or 400),
        level=form.get("level") or "keyframe",
    )
    return Response.redirect(url("/mediatag/evaluation", id=e))


@requires("viewer")
async def evaluation_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    e = id_arg(request)
    summary = await _summary(sess, e)
    items = await call(sess, "evaluation_items", evaluation_id=e, include_removed=True)
    fns = await sess.functions()
    ctx = {"e": e, "s": summary, "items": items, "metrics": METRICS, "has_llm": "request_ground_truth" in fns}
    return await render(datasette, request, "mediatag_evaluation.html", ctx)


@requires("editor", "judge evaluation items")
async def api_evaluation_truth(datasette: Datasette, request: Request, sess: Session) -> Response:
    e = _url_id(request)
    data = await json_body(request)
    kfs = ids(data)
    if "removed" in data:
        n = await call_value(
            sess, "remove_evaluation_items", evaluation_id=e, keyframes=kfs, removed=bool(data["removed"])
        )
    else:
        truth = data.get("truth")
        if not isinstance(truth, bool):
            raise UIError("field 'truth' must be true or false")
        n = await call_value(sess, "set_ground_truth", evaluation_id=e, keyframes=kfs, truth=truth)
    return json_response({"ok": True, "changed": n, "summary": await _summary(sess, e)})


@requires("viewer")
async def api_evaluation_metrics(datasette: Datasette, request: Request, sess: Session) -> Response:
    e = _url_id(request)
    summary = await _summary(sess, e)
    judged = summary["judged"] if summary else None
    if not judged:
        return json_response({"ok": True, "rows": [], "suggestions": {}, "judged": 0})
    results = await call_all(
        sess,
        [("evaluation_metrics", {"evaluation_id": e})]
        + [("suggest_threshold", {"evaluation_id": e, "metric": m}) for m in METRICS],
    )
    suggestions = {m: (r[0] if r else None) for m, r in zip(METRICS, results[1:], strict=True)}
    return json_response({"ok": True, "rows": results[0], "suggestions": suggestions, "judged": judged})


@requires("editor", "save thresholds")
async def evaluation_save(datasette: Datasette, request: Request, sess: Session) -> Response:
    form = await request.post_vars()
    e = int(form.get("id") or 0)
    metric = form.get("metric") or "f1"
    if metric not in METRICS:
        raise UIError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    raw = (form.get("threshold") or "").strip()
    thr = float(raw) if raw else None
    saved = await call_value(sess, "save_threshold", evaluation_id=e, metric=metric, threshold=real(thr))
    s = await _summary(sess, e)
    datasette.add_message(request, f'Saved threshold {saved:.3f} for "{s["tag"]}".', datasette.INFO)
    return Response.redirect(url("/mediatag/tag", group=s["tag_group"], tag=s["tag"]))


@requires("editor", "ask for ground truth", needs="request_ground_truth")
async def api_request_ground_truth(datasette: Datasette, request: Request, sess: Session) -> Response:
    data = await json_body(request)
    r = await call_value(sess, "request_ground_truth", evaluation=need(data, "evaluation", int))
    return json_response({"ok": True, "result": r})


@requires("viewer")
async def api_evaluation_progress(datasette: Datasette, request: Request, sess: Session) -> Response:
    e = _url_id(request)
    summary = await _summary(sess, e)
    llm = None
    if "evaluation_progress" in await sess.functions():
        llm = await call_one(sess, "evaluation_progress", evaluation_id=e)
    return json_response({"ok": True, "summary": summary, "llm": llm})


ROUTES = [
    (r"^/mediatag/tag/evaluate$", evaluation_start),
    (r"^/mediatag/evaluation$", evaluation_page),
    (r"^/mediatag/evaluation/save$", evaluation_save),
    (r"^/mediatag/api/request_ground_truth$", api_request_ground_truth),
    (r"^/mediatag/api/evaluations/(?P<e>\d+)/truth$", api_evaluation_truth),
    (r"^/mediatag/api/evaluations/(?P<e>\d+)/metrics$", api_evaluation_metrics),
    (r"^/mediatag/api/evaluations/(?P<e>\d+)/progress$", api_evaluation_progress),
]
