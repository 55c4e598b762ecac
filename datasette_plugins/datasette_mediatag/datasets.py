"""The home page (datasets, tag groups, jobs), a dataset's assets as a grid, one asset (a video's timeline), and the
keyframe thumbnails those pages show."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from . import faceboxes, thumbs
from .base import Route, UIError, call, call_one, call_value, render, requires, url
from .params import arg, id_arg, int_arg
from .sessions import PLUGIN, Session

ASSETS_PER_PAGE = 60
# change(sess, dataset, form) -> (whether it changed anything, the message saying what it did)
Change = Callable[[Session, str, dict], Awaitable[tuple[bool, str]]]


@requires("viewer")
async def home(datasette: Datasette, request: Request, sess: Session) -> Response:
    ctx = {
        "datasets": await call(sess, "dataset_summary"),
        "groups": await call(sess, "list_tag_groups"),
        "jobs": await call_value(sess, "job_progress"),
    }
    return await render(datasette, request, "mediatag_home.html", ctx)


async def dataset_summary_or_404(sess: Session, name: str) -> dict:
    """The dataset's summary row; a dataset that does not exist, or that this login may not see, is a 404."""
    summary = await call_one(sess, "dataset_summary", dataset=name)
    if summary is None:
        raise UIError(f'unknown dataset "{name}"', status=404)
    return summary


async def dataset_names(sess: Session) -> list[dict]:
    """The datasets this login sees, for a form's choice of dataset."""
    return [{"name": d["name"]} for d in await call(sess, "dataset_summary")]


def dataset_change(page: str, role: str, doing: str) -> Callable[[Change], Route]:
    """The POST handler of a dataset's page (Manage groups, Dataset access, Filter indexes) from its change: the
    person goes back to the page with the change's message, a warning when it changed nothing."""

    def deco(change: Change) -> Route:
        async def post(datasette: Datasette, request: Request, sess: Session) -> Response:
            name = arg(request, "name")
            changed, message = await change(sess, name, await request.post_vars())
            datasette.add_message(request, message, datasette.INFO if changed else datasette.WARNING)
            return Response.redirect(url(page, name=name))

        post.__name__ = change.__name__
        return requires(role, doing)(post)

    return deco


@requires("viewer")
async def dataset_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    name = arg(request, "name")
    page = max(int_arg(request, "page", 1) or 1, 1)
    per = ASSETS_PER_PAGE
    summary = await dataset_summary_or_404(sess, name)
    assets = await call(sess, "list_assets", dataset=name, lim=per, off=(page - 1) * per)
    total = assets[0]["total"] if assets else 0
    ctx = {"name": name, "summary": summary, "assets": assets, "page": page, "pages": max(1, -(-total // per))}
    ctx["mt_dataset"] = name
    # People in the dataset's links where faces are on; where they are off, how to turn them on.
    if "face_status" in await sess.functions():
        ctx["faces"] = await call_one(sess, "face_status", dataset=name)
        if ctx["faces"] and ctx["faces"]["faces"]:
            tiles = [a["first_keyframe_id"] for a in assets if a["first_keyframe_id"]]
            ctx |= await faceboxes.tile_faces(sess, name, tiles, image_file)
    from .media_uploads import ingest_ctx  # it builds on dataset_change, defined here

    ctx |= await ingest_ctx(sess, name)
    return await render(datasette, request, "mediatag_dataset.html", ctx)


@requires("viewer")
async def asset_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    asset = id_arg(request)
    detail = await call_value(sess, "asset_detail", asset=asset)
    # What the classifiers say about it (a database without asset_scores shows the asset alone).
    scores = await call(sess, "asset_scores", asset=asset) if "asset_scores" in await sess.functions() else []
    ctx = {"a": detail, "scores": scores, "mt_dataset": detail["dataset"]}
    # Its time segments for the player (a database without asset_segments shows none).
    if detail["kind"] == "video" and "asset_segments" in await sess.functions():
        ctx["segments"] = await call(sess, "asset_segments", asset=asset)
    ctx |= await faceboxes.asset_faces(sess, detail["dataset"], asset, image_file)
    ctx["has_timeline"] = "asset_score_timeline" in await sess.functions()
    return await render(datasette, request, "mediatag_asset.html", ctx)


def _thumb_dir(datasette: Datasette) -> Path:
    cfg = datasette.plugin_config(PLUGIN) or {}
    return Path(cfg["thumb_dir"]) if cfg.get("thumb_dir") else thumbs.default_cache_dir()


async def image_file(sess: Session, kf: int) -> Path:
    """A keyframe's image file, looked up through the person's access check once per session."""
    path = sess.images.get(kf)
    if path is None:
        path = await call_value(sess, "keyframe_image", keyframe=kf)
        if len(sess.images) > 200_000:
            sess.images.clear()
        sess.images[kf] = path
    src = Path(path)
    if not src.is_file():
        raise UIError(f"image file of keyframe {kf} is missing", status=404)
    return src


@requires("viewer")
async def thumb(datasette: Datasette, request: Request, sess: Session) -> Response:
    kf, width = int(request.url_vars["kf"]), int(request.url_vars["w"])
    if width not in thumbs.WIDTHS:
        raise UIError(f"thumbnail width must be one of {thumbs.WIDTHS}", status=404)
    src = await image_file(sess, kf)
    out, key = await asyncio.to_thread(thumbs.thumbnail, src, width, _thumb_dir(datasette))
    etag = f'"{key[:32]}"'
    # private: the image is only for people who may see the dataset; a week, then revalidated by ETag.
    headers = {"cache-control": "private, max-age=604800", "etag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response("", status=304, headers=headers)
    return Response(out.read_bytes(), content_type="image/jpeg", headers=headers)


@requires("viewer")
async def image(datasette: Datasette, request: Request, sess: Session) -> Response:
    """A keyframe's image at full size (the asset page links it), as stored."""
    src = await image_file(sess, int(request.url_vars["kf"]))
    kind = mimetypes.guess_type(src.name)[0] or "application/octet-stream"
    if not kind.startswith("image/"):
        raise UIError(f"keyframe {request.url_vars['kf']} has no image file", status=404)
    data = await asyncio.to_thread(src.read_bytes)
    return Response(data, content_type=kind, headers={"cache-control": "private, max-age=3600"})


# Datasette marks responses to requests with an actor "private, no-store" unless the view is static; thumbnails set
# their own caching headers (private: the keyframe lookup checked the person's access first).
thumb._datasette_static = True  # type: ignore[attr-defined]
image._datasette_static = True  # type: ignore[attr-defined]


async def site_root(datasette: Datasette, request: Request) -> Response:
    """Datasette's own index lists only its empty `_memory` database: "home" is the UI's."""
    return Response.redirect("/mediatag/")


ROUTES = [
    (r"^/$", site_root),
    (r"^/mediatag/?$", home),
    (r"^/mediatag/thumb/(?P<kf>\d+)/(?P<w>\d+)\.jpg$", thumb),
    (r"^/mediatag/image/(?P<kf>\d+)$", image),
    (r"^/mediatag/dataset$", dataset_page),
    (r"^/mediatag/asset$", asset_page),
]
