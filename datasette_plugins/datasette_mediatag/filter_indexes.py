"""The "Filter indexes" page of a dataset: the metadata filters that have a graph of their own
(mediatag.create_filter_index), so searches with them run like unfiltered ones. Everyone who sees the dataset sees
the list; editors and admins create and drop (the database checks the role again)."""

from __future__ import annotations

import json

from datasette.utils.asgi import Response

from .sessions import Session, allowed
from .views import UIError, arg, dataset_summary_or_404, render, url, view


def _metadata(text: str) -> str:
    """The form's JSON, normalised; the database says what else is wrong with it (not an object, empty)."""
    try:
        return json.dumps(json.loads(text))
    except json.JSONDecodeError as e:
        raise UIError(f'metadata must be a JSON object such as {{"SeriesName": "Friends"}}: {e}') from e


@view()
async def dataset_filters(datasette, request, sess: Session):
    name = arg(request, "name")
    if request.method == "POST":
        if not allowed(request.actor, "mediatag-edit"):
            raise UIError(f"{sess.login} may not change filter indexes: it needs the mediatag_editor role", status=403)
        form = await request.post_vars()
        action, metadata = form.get("action"), _metadata(form.get("metadata") or "")
        if action == "create":
            await sess.value(
                "SELECT mediatag.create_filter_index(dataset => %s, metadata => %s::jsonb)", [name, metadata]
            )
            datasette.add_message(request, f"Built the filter index of {metadata}.", datasette.INFO)
        elif action == "drop":
            dropped = await sess.value(
                "SELECT mediatag.drop_filter_index(dataset => %s, metadata => %s::jsonb)", [name, metadata]
            )
            msg = f"Dropped the filter index of {metadata}." if dropped else f"No filter index of {metadata} to drop."
            datasette.add_message(request, msg, datasette.INFO if dropped else datasette.WARNING)
        else:
            raise UIError(f"unknown action {action!r}: use create or drop")
        return Response.redirect(url("/mediatag/dataset/filters", name=name))
    await dataset_summary_or_404(sess, name)
    indexes = await sess.rows("SELECT * FROM mediatag.filter_indexes(%s)", [name])
    for i in indexes:
        i["metadata_json"] = json.dumps(i["metadata"], ensure_ascii=False)
    return await render(datasette, request, "mediatag_dataset_filters.html", {"name": name, "indexes": indexes})


ROUTES = [(r"^/mediatag/dataset/filters$", dataset_filters)]
