"""datasette-mediatag: the mediatag web UI as a Datasette plugin.

The hooks below only register things: each page is a module of its own with its ROUTES (shared helpers in
`base.py`), connections live in `sessions.py`.
Every page calls the extension's `mediatag.*` SQL functions as the person's own PostgreSQL login, so the UI
never holds more rights than the person using it.
"""

from __future__ import annotations

from datasette import hookimpl

from . import (
    access,
    asset_time,
    concept_uploads,
    concepts,
    csrf_multipart,
    datasets,
    evaluation,
    filter_indexes,
    groups,
    hosts,
    login,
    media_uploads,
    people,
    person_uses,
    query,
    search,
    static,
    tag,
    video,
)
from .sessions import ACTIONS, PLUGIN, STORE, allowed

PAGES = (
    login,
    static,
    datasets,
    media_uploads,
    access,
    filter_indexes,
    groups,
    tag,
    evaluation,
    query,
    search,
    concepts,
    concept_uploads,
    video,
    people,
    person_uses,
    asset_time,
)
ROUTES = [route for page in PAGES for route in page.ROUTES]


@hookimpl
def register_routes(datasette):
    return ROUTES


@hookimpl
def asgi_wrapper(datasette):
    # Outside Datasette's CSRF middleware: upload forms' tokens reach it in a header (see csrf_multipart). The Host
    # check is outermost, so a request by a name this UI does not serve (DNS rebinding) reaches nothing.
    extra = list((datasette.plugin_config(PLUGIN) or {}).get("allowed_hosts") or [])
    return lambda app: hosts.wrap(csrf_multipart.wrap(app, datasette), extra)


@hookimpl
def actor_from_request(datasette, request):
    return STORE.actor_for(datasette, request)


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    if action not in ACTIONS:
        return None  # not ours: Datasette's defaults decide
    return allowed(actor, action)


@hookimpl
def menu_links(datasette, actor, request):
    links = [
        {"href": "/mediatag/", "label": "mediatag: datasets"},
        {"href": "/mediatag/groups", "label": "mediatag: tag groups"},
        {"href": "/mediatag/concepts", "label": "mediatag: concepts"},
        {"href": "/mediatag/search", "label": "mediatag: search"},
    ]
    if allowed(actor, "mediatag-query"):
        links.append({"href": "/mediatag/query", "label": "mediatag: query"})
    return links
