"""Face boxes with names over keyframes (issue 27): where mediatag.faces() found a face, as percentages of the picture
the page shows, so the boxes follow the image at any size.

A face's box is in the pixels of its keyframe's image as the face scan decoded it (EXIF orientation applied); the
image's size is read from its file header here (the file the thumbnail is made of, found through the person's access
check), so no column beyond what faces() returns is needed. Keyframe tiles show their image cropped to 4:3
(`object-fit: cover`): `frame_style` places the box layer over the part of the picture a tile shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from PIL import Image

from .base import call
from .sessions import Session

# keyframe id -> its image file, after the person's access check (datasets.py's lookup, which thumbnails use too)
KeyframeFile = Callable[[Session, int], Awaitable[Path]]

TILE_RATIO = 4 / 3  # the keyframe tiles' box (mediatag.css: .mt-tile img)
# EXIF orientations that turn the picture a quarter: width and height swap once applied.
QUARTER_TURNS = {5, 6, 7, 8}


def image_size(src: Path) -> tuple[int, int]:
    """The picture's width and height upright (EXIF orientation applied), read from the header only."""
    with Image.open(src) as im:
        w, h = im.size
        if im.getexif().get(0x0112) in QUARTER_TURNS:
            return h, w
        return w, h


def _pct(v: float) -> str:
    return f"{100 * v:.3f}%"


def frame_style(width: int, height: int, ratio: float = TILE_RATIO) -> str:
    """CSS placing the box layer over a picture of width x height shown centred in a `ratio` box with
    `object-fit: cover`: the layer is the whole picture, overflowing the box where the tile crops it."""
    r = width / height
    if r >= ratio:  # wider than the box: full height, cut left and right
        w = r / ratio
        return f"left: {_pct((1 - w) / 2)}; top: {_pct(0)}; width: {_pct(w)}; height: {_pct(1)}"
    h = ratio / r
    return f"left: {_pct(0)}; top: {_pct((1 - h) / 2)}; width: {_pct(1)}; height: {_pct(h)}"


def box_style(face: dict, width: int, height: int) -> str:
    """CSS placing one face's box on its picture's layer, clipped to the picture."""
    x0, y0 = max(face["x"], 0), max(face["y"], 0)
    x1, y1 = min(face["x"] + face["w"], width), min(face["y"] + face["h"], height)
    return (
        f"left: {_pct(x0 / width)}; top: {_pct(y0 / height)};"
        f" width: {_pct(max(x1 - x0, 0) / width)}; height: {_pct(max(y1 - y0, 0) / height)}"
    )


def person_label(person_id: int | None, name: str | None) -> str:
    """What a face box and the People pages call a person: their name, else their number."""
    if name:
        return name
    return f"Person {person_id}" if person_id is not None else "no person"


async def _boxes(sess: Session, rows: list[dict], keyframe_file: KeyframeFile) -> dict[int, dict]:
    """faces() rows as keyframe id -> {"size", "frame": tile layer CSS, "boxes": [{style, label, person_id}]}."""
    by_kf: dict[int, dict] = {}
    for f in rows:
        kf = f["keyframe_id"]
        if kf not in by_kf:
            src = await keyframe_file(sess, kf)
            w, h = await asyncio.to_thread(image_size, src)
            by_kf[kf] = {"size": (w, h), "frame": frame_style(w, h), "boxes": []}
        w, h = by_kf[kf]["size"]
        label = person_label(f["person_id"], f["person_name"])
        by_kf[kf]["boxes"].append({"style": box_style(f, w, h), "label": label, "person_id": f["person_id"]})
    return by_kf


async def asset_faces(sess: Session, dataset: str, asset: int, keyframe_file: KeyframeFile) -> dict:
    """The asset page's face boxes: keyframe id -> {"frame": tile layer CSS, "boxes": [...]}, and the people seen
    in the asset; nothing where the database has no faces() or the asset no face."""
    if "faces" not in await sess.functions():
        return {}
    rows = await call(sess, "faces", dataset=dataset, asset=asset)
    if not rows:
        return {}
    people: dict[int, dict] = {}
    for f in rows:
        if f["person_id"] is not None:
            label = person_label(f["person_id"], f["person_name"])
            seen = people.setdefault(f["person_id"], {"person_id": f["person_id"], "label": label, "faces": 0})
            seen["faces"] += 1
    return {"face_boxes": await _boxes(sess, rows, keyframe_file), "asset_people": list(people.values())}


async def tile_faces(sess: Session, dataset: str | None, keyframes: list[int], keyframe_file: KeyframeFile) -> dict:
    """The face boxes of a page of keyframe tiles (a dataset's grid, search results): {"face_boxes": keyframe id ->
    boxes} for the tiles with a face, in one faces() call (by the faces' keyframe key: cheap where there are
    none); nothing where the database has no faces()."""
    if not dataset or not keyframes or "faces" not in await sess.functions():
        return {}
    rows = await call(sess, "faces", dataset=dataset, keyframes=keyframes)
    return {"face_boxes": await _boxes(sess, rows, keyframe_file)} if rows else {}
