"""Time on the asset page: a group's scores against time (the score timeline), one video's segments of a tag as a
file an editor opens (EDL, OTIO, CSV: segment_export, the CLI's renderer) and as a reel cut in the background.

Every read goes through the person's own login: the segments through `mediatag.tag_segments` (its dataset check)
restricted to this video, the reel's file only after `asset_detail` answers for them. A reel is made in this
process (ffmpeg, reel.py) into a cache folder of the UI's (plugin setting reel_dir, else beside the thumbnails),
named by what went into it, so asking again for the same segments offers the file already made.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from mediatag.reel import make_reel
from mediatag.segment_export import render

from . import thumbs
from .base import UIError, call, call_value, json_response, requires, rows_api
from .params import arg, id_arg, json_body, need, text
from .sessions import PLUGIN, Session

# What the asset page offers (the CLI writes every format; these are what editors asked for on the page).
EXPORTS = {
    "edl": ("application/octet-stream", ".edl"),
    "otio": ("application/json", ".otio"),
    "csv": ("text/csv", ".csv"),
}


def reel_dir(datasette: Datasette) -> Path:
    cfg = datasette.plugin_config(PLUGIN) or {}
    return Path(cfg["reel_dir"]) if cfg.get("reel_dir") else thumbs.default_cache_dir().parent / "reels"


async def _video_segments(sess: Session, asset: int, group: str, tag: str) -> tuple[dict, list[dict]]:
    """The video (asset_detail, as the person) and its segments of one tag, in time order."""
    detail = await call_value(sess, "asset_detail", asset=asset)
    if detail["kind"] != "video":
        raise UIError(f"asset {asset} is not a video", status=404)
    rows = await call(sess, "tag_segments", dataset=detail["dataset"], tag_group=group, tag=tag)
    return detail, [r for r in rows if r["asset_id"] == asset]


def _file_name(detail: dict, tag: str, suffix: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{Path(detail['path']).stem}-{tag}")
    return stem + suffix


@requires("viewer", needs="tag_segments")
async def asset_export(datasette: Datasette, request: Request, sess: Session) -> Response:
    """GET /mediatag/asset/export?id=&group=&tag=&format=edl|otio|csv: this video's segments of the tag as a file."""
    fmt = arg(request, "format")
    if fmt not in EXPORTS:
        raise UIError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORTS)}")
    asset, tag = id_arg(request), arg(request, "tag")
    detail, segments = await _video_segments(sess, asset, arg(request, "group"), tag)
    kind, suffix = EXPORTS[fmt]
    body = await asyncio.to_thread(render, segments, fmt, tag)
    disposition = f'attachment; filename="{_file_name(detail, tag, suffix)}"'
    return Response(body, content_type=kind, headers={"content-disposition": disposition})


# ---- reels ----------------------------------------------------------------------------------------------------------


@dataclass
class Reel:
    """A reel being made (or made) in this process: what the page polls."""

    key: str
    asset: int
    path: Path
    name: str
    seconds: float
    state: str = "running"  # running | done | error
    done_s: float = 0.0
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def status(self) -> dict[str, Any]:
        url = f"/mediatag/reel/{self.key}.mp4" if self.state == "done" else None
        return {"key": self.key, "state": self.state, "done_s": round(self.done_s, 2),
                "seconds": round(self.seconds, 2), "error": self.error, "url": url, "name": self.name}  # fmt: skip


REELS: dict[str, Reel] = {}
_TASKS: set[asyncio.Task] = set()  # the running ones, so none is collected before it ends


def _reel_key(asset: int, group: str, tag: str, segments: list[dict]) -> str:
    what = [asset, group.lower(), tag.lower(), [(s["path"], s["start_ms"], s["end_ms"]) for s in segments]]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]


def _cut(reel: Reel, segments: list[dict]) -> None:
    tmp = reel.path.with_suffix(".part.mp4")
    try:
        reel.path.parent.mkdir(parents=True, exist_ok=True)
        done = make_reel(segments, tmp, progress=False, on_progress=lambda s: setattr(reel, "done_s", s))
        tmp.replace(reel.path)  # whole files only: a reel cut halfway is never offered
        reel.seconds, reel.done_s, reel.state = done["seconds"], done["seconds"], "done"
    except Exception as e:  # ffmpeg's own words, shown on the page
        tmp.unlink(missing_ok=True)
        reel.state, reel.error = "error", str(e)


@requires("editor", "make reels", needs="tag_segments")
async def api_reel_start(datasette: Datasette, request: Request, sess: Session) -> Response:
    """POST {asset, group, tag}: starts cutting this video's segments of the tag into a reel (or finds it made)."""
    data = await json_body(request)
    asset, group, tag = need(data, "asset", int), need(data, "group"), need(data, "tag")
    detail, segments = await _video_segments(sess, asset, group, tag)
    if not segments:
        raise UIError(f'"{tag}" has no segments in this video: nothing to put in a reel', status=400)
    key = _reel_key(asset, group, tag, segments)
    reel = REELS.get(key)
    path = reel_dir(datasette) / f"{key}.mp4"
    if reel is None or reel.state == "error":
        seconds = sum(s["end_ms"] - s["start_ms"] for s in segments) / 1000
        reel = REELS[key] = Reel(key, asset, path, _file_name(detail, tag, ".mp4"), seconds)
        if path.is_file():  # made before (this process or an earlier one)
            reel.state, reel.done_s = "done", seconds
        else:
            task = asyncio.get_running_loop().create_task(asyncio.to_thread(_cut, reel, segments))
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
    return json_response({"ok": True, **reel.status()})


def _reel_of(request: Request) -> Reel:
    reel = REELS.get(request.url_vars["key"])
    if reel is None:
        raise UIError("no such reel (they are kept while the UI runs: make it again)", status=404)
    return reel


@requires("viewer")
async def api_reel_status(datasette: Datasette, request: Request, sess: Session) -> Response:
    reel = _reel_of(request)
    await call_value(sess, "asset_detail", asset=reel.asset)  # only for people who may see the video
    return json_response({"ok": True, **reel.status()})


@requires("viewer")
async def reel_file(datasette: Datasette, request: Request, sess: Session) -> Response:
    reel = _reel_of(request)
    await call_value(sess, "asset_detail", asset=reel.asset)
    if reel.state != "done" or not reel.path.is_file():
        raise UIError("the reel is not ready yet", status=409)
    data = await asyncio.to_thread(reel.path.read_bytes)
    headers = {"content-disposition": f'attachment; filename="{reel.name}"', "cache-control": "private, max-age=3600"}
    return Response(data, content_type="video/mp4", headers=headers)


reel_file._datasette_static = True  # type: ignore[attr-defined]

ROUTES = [
    (r"^/mediatag/asset/export$", asset_export),
    (
        r"^/mediatag/api/asset_score_timeline$",
        rows_api("asset_score_timeline", needs=True, asset=lambda r: id_arg(r, "asset"), tag_group=text("group")),
    ),
    (r"^/mediatag/api/reels$", api_reel_start),
    (r"^/mediatag/api/reels/(?P<key>[0-9a-f]{32})$", api_reel_status),
    (r"^/mediatag/reel/(?P<key>[0-9a-f]{32})\.mp4$", reel_file),
]
