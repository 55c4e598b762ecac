"""Concepts (issue 13: shown once the functions exist): the list and "create from a text search", a concept's page
with its top content, and labeling in batches (click once = yes, twice = no). Concepts from files are in
concept_uploads.py."""

from __future__ import annotations

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from . import uploads
from .base import (
    SQLError,
    UIError,
    by_name,
    call,
    call_all,
    get_or_post,
    json_response,
    render,
    requires,
    rows_api,
    url,
)
from .datasets import dataset_names
from .params import arg, ids, json_body, need, text, whole
from .sessions import Session

LABELS = ("yes", "no", "skip")
TOP_N = 12  # top keyframes on a concept's page
SEARCH_N = 12  # search results to label first on a concept's page


async def list_concepts(sess: Session, dataset: str | None = None) -> list[dict]:
    # create_concept and list_concepts came in one extension version: a database with one has the other.
    return await call(sess, "list_concepts", dataset=dataset)


def _upload_ctx(fns: set[str]) -> dict:
    """What the upload forms (_mediatag_uploads.html) need on either page."""
    return {
        "has_import": "import_concept_labels_csv" in fns,
        "has_examples": "add_concept_examples" in fns,
        "max_images": uploads.MAX_IMAGES,
    }


async def concepts_ctx(sess: Session) -> dict:
    fns = await sess.functions()
    available = "create_concept" in fns
    return {
        "available": available,
        "concepts": await list_concepts(sess) if available else [],
        "datasets": await dataset_names(sess),
        "form": {},
        **_upload_ctx(fns),
    }


async def labeled_top(sess: Session, name: str) -> list[dict]:
    """The concept's top content, each row with the label it holds now (None if none): an editor labels it there."""
    top = await call(sess, "concept_top", concept=name, n=TOP_N)
    labels = {r["keyframe_id"]: r["label"] for r in await call(sess, "concept_labels", concept=name)}
    return [{**r, "current_label": labels.get(r["keyframe_id"])} for r in top]


async def concept_ctx(sess: Session, name: str, query: str | None = None, can_edit: bool = False) -> dict:
    """The concept's page. For an editor also the labeling steps: the results of a text search (`query`, else the
    concept's description) to label first, as a concept starts from what its words find, and the labels already
    on the top content, which takes labels too."""
    fns = await sess.functions()
    available = {"continue_labeling", "label_concept", "concept_top"} <= fns
    top, info, search, search_error = [], None, [], None
    if available:
        top = await labeled_top(sess, name) if can_edit else await call(sess, "concept_top", concept=name, n=TOP_N)
        info = by_name(await list_concepts(sess), name)
    query = (query or (info["description"] if info else "") or "").strip()
    if available and can_edit:
        if query and "search_for_concept" in fns:
            try:
                search = await call(sess, "search_for_concept", concept=name, query=query, k=SEARCH_N)
            except SQLError as e:  # the embedding service down, a query without letters: said in the section
                search_error = e.text()
    return {
        "available": available,
        "name": info["name"] if info else name,
        "info": info,
        "top": top,
        "query": query if available and can_edit else "",
        "search": search,
        "search_error": search_error,
        "mt_dataset": info["dataset"] if info else None,
        **_upload_ctx(fns),
    }


@requires("viewer")
async def concepts_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    return await render(datasette, request, "mediatag_concepts.html", await concepts_ctx(sess))


@requires("editor", "create concepts", needs="create_concept")
async def create_concept(datasette: Datasette, request: Request, sess: Session) -> Response:
    form = await request.post_vars()
    name = (form.get("name") or "").strip()
    description = form.get("description") or ""
    await call(sess, "create_concept", dataset=form.get("dataset") or "", name=name, description=description)
    return Response.redirect(url("/mediatag/concept", name=name, q=description or None))


@requires("viewer")
async def concept_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    can_edit = await datasette.permission_allowed(request.actor, "mediatag-edit", default=False)
    ctx = await concept_ctx(sess, arg(request, "name"), request.args.get("q"), can_edit)
    return await render(datasette, request, "mediatag_concept.html", ctx)


api_concept_next = rows_api("continue_labeling", needs=True, concept=text("concept"), n=whole("n", 12))
api_concept_top = rows_api("concept_top", needs=True, concept=text("concept"), n=whole("n", 3))


@requires("editor", "label concepts", needs="label_concept")
async def api_concept_label(datasette: Datasette, request: Request, sess: Session) -> Response:
    data = await json_body(request)
    concept = need(data, "concept")
    labels = data.get("labels")
    if not isinstance(labels, dict):
        raise UIError("field 'labels' must map yes / no / skip to lists of keyframe ids")
    batches = [(label, ids(labels, label)) for label in LABELS if labels.get(label)]
    # One save, one new classifier version: every label but the last is written without retraining, all in one
    # transaction (a refused one keeps none).
    calls = [
        ("label_concept", {"concept": concept, "keyframes": kfs, "label": label, "retrain": i == len(batches) - 1})
        for i, (label, kfs) in enumerate(batches)
    ]
    if calls:
        await call_all(sess, calls, atomic=True)
    n = sum(len(kfs) for _, kfs in batches)
    # What the labels changed, for the page to show at once: the header's counts and classifier version, and the
    # top content as the retrained classifier ranks it.
    info = by_name(await list_concepts(sess), concept)
    return json_response({"ok": True, "labeled": n, "concept": info, "top": await labeled_top(sess, concept)})


ROUTES = [
    (r"^/mediatag/concepts$", get_or_post(concepts_page, create_concept)),
    (r"^/mediatag/concept$", concept_page),
    (r"^/mediatag/api/concepts/next$", api_concept_next),
    (r"^/mediatag/api/concepts/top$", api_concept_top),
    (r"^/mediatag/api/concepts/label$", api_concept_label),
]
