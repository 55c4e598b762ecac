"""The search bar: text or "more like this", with concept / tag / metadata filters, pages of results (ranks go on
from page to page) and one result per video (issue 13: shown once mediatag.search exists)."""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from . import faceboxes
from .base import SQLError, UIError, call, call_all, call_value, render, requires, url
from .concepts import list_concepts
from .datasets import dataset_names, image_file
from .params import int_arg, json_text
from .sessions import Session

SEARCH_K = 48  # search results per page
METADATA_MESSAGE = 'metadata filter must be a JSON object, e.g. {"SeriesName": "x"}'


async def _tag_options(sess: Session, dataset: str) -> list[str]:
    """The "group:tag" names a search of `dataset` can filter by: the tags of the groups trained on it or applied
    to it (mediatag.search refuses the others), for the tag filter's picker."""
    groups = [
        g["name"]
        for g in await call(sess, "list_tag_groups", dataset=dataset)
        if g["training_dataset"] == dataset or g["applied_version"] is not None
    ]
    tags = await call_all(sess, [("group_overview", {"tag_group": g}) for g in groups])
    return [f"{g}:{t['tag']}" for g, rows in zip(groups, tags, strict=True) for t in rows]


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
    rows, error, concepts, tag_options, total, like_name = [], None, [], [], None, None
    available = "search" in fns
    if available and dataset:
        if "create_concept" in fns:
            concepts = await list_concepts(sess, dataset)
        tag_options = await _tag_options(sess, dataset)
        if like:
            # "More like" names the photo it started from, not its internal id.
            try:
                like_name = PurePosixPath(await call_value(sess, "keyframe_image", keyframe=like)).name
            except SQLError:
                pass  # an unknown keyframe: the search below says so
        if q.strip() or like:
            # The window (k, offset) is checked by mediatag.search itself; its error shows on the page.
            named: dict[str, Any] = {"dataset": dataset, "k": k, "offset": offset, "group_by_video": by_video}
            named |= {"keyframe": like} if like else {"query": q}
            if concept:
                named["concepts"] = [concept]
            if tagf:
                named["tags"] = [tagf]
            try:
                if meta.strip():
                    named["metadata"] = json_text(meta, METADATA_MESSAGE)
                rows = await call(sess, "search", **named)
                if "search_total" in fns:
                    filters = {f: named.get(f) for f in ("concepts", "tags", "metadata")}
                    total = await call_value(sess, "search_total", dataset=dataset, group_by_video=by_video, **filters)
            except SQLError as e:
                error = e.text()
            except UIError as e:  # the metadata typed is not JSON: said above the form, which keeps what was typed
                error = str(e)
        elif concept or tagf or meta.strip():
            # Filters narrow a search; alone they would give an empty page with no word of why.
            error = 'Type some text (or choose "more like this" on a result) to search: the filters narrow a search.'
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
        "tag_options": tag_options,
        "total": total,
        "like_name": like_name,
        "mt_dataset": dataset,
    }
    # Face boxes with names on the result tiles (where the dataset has faces).
    ctx |= await faceboxes.tile_faces(sess, dataset, [r["keyframe_id"] for r in rows], image_file)
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
