"""The search bar: text or "more like this", with concept / tag / metadata filters, pages of results (ranks go on
from page to page) and one result per video (issue 13: shown once mediatag.search exists)."""

from __future__ import annotations

import time
from typing import Any

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import SQLError, call, render, requires, url
from .concepts import list_concepts
from .datasets import dataset_names
from .params import int_arg, json_text
from .sessions import Session

SEARCH_K = 48  # search results per page
METADATA_MESSAGE = 'metadata filter must be a JSON object, e.g. {"SeriesName": "x"}'


@requires("viewer")
async def search_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    t0 = time.perf_counter()
    fns = await sess.functions()
    datasets = await dataset_names(sess)
    dataset = request.args.get("dataset") or (datasets[0]["name"] if datasets else None)
    q, like = request.args.get("q") or "", int_arg(request, "like")
    concept, tagf, meta = request.args.get("concept"), request.args.get("tag"), request.args.get("meta") or ""
    k, offset = int_arg(request, "k", SEARCH_K), int_arg(request, "offset", 0)
    by_video = request.args.get("group_by_video") in ("1", "on", "true")
    rows, error, concepts = [], None, []
    available = "search" in fns
    if available and dataset:
        if "create_concept" in fns:
            concepts = await list_concepts(sess, dataset)
        if q.strip() or like:
            # The window (k, offset) is checked by mediatag.search itself; its error shows on the page.
            named: dict[str, Any] = {"dataset": dataset, "k": k, "offset": offset, "group_by_video": by_video}
            named |= {"keyframe": like} if like else {"query": q}
            if concept:
                named["concepts"] = [concept]
            if tagf:
                named["tags"] = [tagf]
            if meta.strip():
                named["metadata"] = json_text(meta, METADATA_MESSAGE)
            try:
                rows = await call(sess, "search", **named)
            except SQLError as e:
                error = e.text()
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


ROUTES = [(r"^/mediatag/search$", search_page)]
