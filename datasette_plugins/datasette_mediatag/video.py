"""A video's file for the asset page's player, with HTTP Range requests (browsers seek by asking for byte ranges).

The file is found through `mediatag.asset_detail`, called as the person's login: a video of a dataset they may not
see is an error there, so this serves only what they may see. An open-ended range is answered in chunks of at most
CHUNK bytes (the browser asks for the rest), so no request reads a whole film into memory.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import UIError, call_value, requires
from .sessions import Session

CHUNK = 4 * 1024 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single-range `Range` header, clipped to CHUNK bytes; None: the whole file asked."""
    if not header:
        return None
    m = RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise UIError("unsupported Range header", status=416)
    if m.group(1):
        first = int(m.group(1))
        last = min(int(m.group(2)) if m.group(2) else size - 1, size - 1, first + CHUNK - 1)
    else:  # the last N bytes
        first, last = max(0, size - int(m.group(2))), size - 1
    if first >= size or first > last:
        raise UIError("range not satisfiable", status=416)
    return first, last


def _read(path: Path, first: int, last: int) -> bytes:
    with path.open("rb") as f:
        f.seek(first)
        return f.read(last - first + 1)


@requires("viewer")
async def video_file(datasette: Datasette, request: Request, sess: Session) -> Response:
    detail = await call_value(sess, "asset_detail", asset=int(request.url_vars["asset"]))
    src = Path(detail["path"])
    if detail["kind"] != "video" or not src.is_file():
        raise UIError(f"asset {detail['asset_id']} has no video file here", status=404)
    size = src.stat().st_size
    kind = mimetypes.guess_type(src.name)[0] or "video/mp4"
    headers = {"accept-ranges": "bytes", "cache-control": "private, max-age=3600"}
    wanted = byte_range(request.headers.get("range"), size)
    first, last = wanted or (0, min(size, CHUNK) - 1)
    data = await asyncio.to_thread(_read, src, first, last)
    if wanted is None and size <= CHUNK:
        return Response(data, content_type=kind, headers=headers)
    headers["content-range"] = f"bytes {first}-{last}/{size}"
    return Response(data, status=206, content_type=kind, headers=headers)


# Its own caching headers (private: the asset lookup checked the person's access first).
video_file._datasette_static = True  # type: ignore[attr-defined]

ROUTES = [(r"^/mediatag/video/(?P<asset>\d+)$", video_file)]
