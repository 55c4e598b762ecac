"""The "Filter indexes" page of a dataset: the metadata filters that have a graph of their own
(mediatag.create_filter_index), so searches with them run like unfiltered ones. Everyone who sees the dataset sees
the list; editors and admins create and drop (the database checks the role again)."""

from __future__ import annotations

import json

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import UIError, call, call_value, get_or_post, render, requires
from .datasets import dataset_change, dataset_summary_or_404
from .params import arg, json_text
from .sessions import Session

METADATA_MESSAGE = 'metadata must be a JSON object such as {"SeriesName": "Friends"}'


@requires("viewer")
async def dataset_filters(datasette: Datasette, request: Request, sess: Session) -> Response:
    name = arg(request, "name")
    await dataset_summary_or_404(sess, name)
    indexes = await call(sess, "filter_indexes", dataset=name)
    for i in indexes:
        i["metadata_json"] = json.dumps(i["metadata"], ensure_ascii=False)
    return await render(datasette, request, "mediatag_dataset_filters.html", {"name": name, "indexes": indexes})


# action -> the function that does it
FILTER_ACTIONS = {"create": "create_filter_index", "drop": "drop_filter_index"}


@dataset_change("/mediatag/dataset/filters", "editor", "change filter indexes")
async def change_filters(sess: Session, name: str, form: dict) -> tuple[bool, str]:
    action, metadata = form.get("action"), json_text(form.get("metadata") or "", METADATA_MESSAGE)
    fn = FILTER_ACTIONS.get(action or "")
    if fn is None:
        raise UIError(f"unknown action {action!r}: use create or drop")
    done = await call_value(sess, fn, dataset=name, metadata=metadata)
    shown = json.dumps(metadata.obj)  # as the database reads it
    if action == "create":
        return True, f"Built the filter index of {shown}."
    return done, f"Dropped the filter index of {shown}." if done else f"No filter index of {shown} to drop."


ROUTES = [(r"^/mediatag/dataset/filters$", get_or_post(dataset_filters, change_filters))]
