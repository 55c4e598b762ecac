"""The plugin's CSS and JS, and Datasette's own stylesheet, under versioned URLs that browsers cache for good."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasette as datasette_pkg
from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

STATIC = Path(__file__).parent / "static"
# Datasette's own stylesheet, served from here with caching headers (Datasette serves it uncached, and a
# render-blocking stylesheet fetched on every page costs more than the page itself).
DATASETTE_CSS = Path(datasette_pkg.__file__).parent / "static" / "app.css"
DATASETTE_CSS_NAME = "datasette-app.css"
STATIC_TYPES = {".js": "application/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def static_version() -> str:
    """Part of every static URL: a changed file gets a new URL, so the files can be cached for good."""
    h = hashlib.sha256(DATASETTE_CSS.read_bytes())
    for f in sorted(STATIC.iterdir()):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


STATIC_VERSION = static_version()


async def static(datasette: Datasette, request: Request) -> Response:
    name = request.url_vars["name"]
    path = DATASETTE_CSS if name == DATASETTE_CSS_NAME else STATIC / name
    if name != DATASETTE_CSS_NAME and (not path.is_file() or path.parent != STATIC or path.suffix not in STATIC_TYPES):
        return Response.text("not found", status=404)
    return Response(
        path.read_bytes(),
        content_type=STATIC_TYPES[path.suffix],
        headers={"cache-control": "public, max-age=31536000, immutable"},
    )


# Datasette marks responses to requests with an actor "private, no-store" unless the view is static; this one sets
# its own caching headers.
static._datasette_static = True  # type: ignore[attr-defined]

ROUTES = [(r"^/mediatag/static/(?P<name>[A-Za-z0-9_.-]+)$", static)]
