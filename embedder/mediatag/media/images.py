"""Image files in (decoded, upright, RGB) and keyframe images out (JPEG)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import MediaError

JPEG_QUALITY = 90


def load_image(path: str | Path, max_pixels: int | None = None) -> Image.Image:
    """Decode the whole image, apply its EXIF orientation and return it as RGB.

    Raises MediaError for missing, unrecognised, truncated or corrupt files: the pixels are decoded here, not
    only the header, so a broken file fails at ingestion rather than later in the embedder. With max_pixels,
    an image with more pixels is refused from its header, before its pixels are decoded.
    """
    path = Path(path)
    try:
        with pillow_pixel_limit(max_pixels), Image.open(path) as img:
            if max_pixels is not None and img.width * img.height > max_pixels:
                raise MediaError(
                    path,
                    f"image has {img.width}x{img.height} = {img.width * img.height / 1e6:.1f} megapixels, above the "
                    f"cap of {max_pixels / 1e6:g} (max_image_pixels)",
                )
            img.seek(0)  # animated GIF/WebP/TIFF: the first frame stands for the file
            img.load()
            upright = ImageOps.exif_transpose(img)
            return _to_rgb(upright)
    except FileNotFoundError as exc:
        raise MediaError(path, "file not found") from exc
    except UnidentifiedImageError as exc:
        raise MediaError(path, "not a recognised image format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's guard fired before our header check (it sits above our cap, or warnings are errors).
        cap = f"the cap of {max_pixels / 1e6:g} megapixels (max_image_pixels)" if max_pixels else "Pillow's limit"
        raise MediaError(path, f"image too large: more pixels than {cap}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncated and corrupt data as OSError/SyntaxError/ValueError depending on the codec.
        raise MediaError(path, f"corrupt or unreadable image ({exc})") from exc


_limit_lock = threading.Lock()


@contextmanager
def pillow_pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Pillow refuses images above twice its own MAX_IMAGE_PIXELS before we see the header; a cap set above
    Pillow's (~179 MP) is honoured by raising Pillow's for the duration of the open."""
    if max_pixels is None or Image.MAX_IMAGE_PIXELS is None or max_pixels <= Image.MAX_IMAGE_PIXELS:
        yield
        return
    with _limit_lock:
        before = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = before


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Scientific/16-bit greyscale: a plain convert() clips everything above 255 to white.
        values = np.asarray(img, dtype=np.float64)
        top = float(values.max()) or 1.0
        return Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels keep arbitrary colours (often black); show them on white as viewers do.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale (width, height) down so the longer side is at most max_side; never up; sizes stay >= 1."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def save_jpeg(img: Image.Image, path: str | Path, quality: int = JPEG_QUALITY) -> None:
    """Write a JPEG atomically: a crashed worker must not leave a half-written keyframe behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    img.save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, path)
