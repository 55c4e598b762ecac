"""Face boxes over keyframes (datasette_mediatag.faceboxes): a picture's upright size from its header, and the CSS
that places the box layer over the part of a picture a 4:3 tile shows and each box on it."""

from __future__ import annotations

import re
from pathlib import Path

from datasette_mediatag.faceboxes import box_style, frame_style, image_size
from PIL import Image


def _numbers(css: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"([a-z]+): (-?[\d.]+)%", css)}


def test_image_size_is_upright(tmp_path: Path):
    """A camera's portrait photo: stored 400x300 with EXIF orientation 6 (turn a quarter), shown 300x400 — the
    pixels the face scan's boxes are in."""
    src = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (400, 300), "gray").save(src, exif=exif)
    assert image_size(src) == (300, 400)
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (400, 300), "gray").save(plain)
    assert image_size(plain) == (400, 300)


def test_tile_layer_covers_the_picture_as_the_tile_crops_it():
    # A square picture in a 4:3 tile: full width, a sixth cut off at the top and at the bottom.
    square = _numbers(frame_style(150, 150))
    assert square["left"] == 0 and square["width"] == 100
    assert abs(square["height"] - 400 / 3) < 1e-3 and abs(square["top"] + 50 / 3) < 1e-3
    # A 2:1 picture: full height, cut left and right.
    wide = _numbers(frame_style(800, 400))
    assert wide["top"] == 0 and abs(wide["width"] - 150) < 1e-3 and abs(wide["left"] + 25) < 1e-3
    # Exactly 4:3: the layer is the tile.
    assert _numbers(frame_style(640, 480)) == {"left": 0, "top": 0, "width": 100, "height": 100}


def test_boxes_are_fractions_of_the_picture_clipped_to_it():
    box = _numbers(box_style({"x": 30, "y": 15, "w": 60, "h": 75}, 150, 150))
    assert box == {"left": 20, "top": 10, "width": 40, "height": 50}
    # A face the detector found partly outside the picture stops at its edge.
    edge = _numbers(box_style({"x": -10, "y": 120, "w": 40, "h": 50}, 150, 150))
    assert edge["left"] == 0 and abs(edge["width"] - 20) < 1e-3 and abs(edge["top"] + edge["height"] - 100) < 1e-3
