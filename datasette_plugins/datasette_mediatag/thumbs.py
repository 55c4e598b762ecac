"""Thumbnails: made once per (file, size) with Pillow and kept on disk, so grids never resize full images twice.

The cache key is the file's resolved path, its byte size and mtime (a replaced file gets new thumbnails) and the
requested width; the key doubles as the HTTP ETag.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

# The grid asks for one of these widths (CSS pixels x 2 for sharp tiles); anything else is refused.
WIDTHS = (160, 320, 640)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mediatag" / "thumbs"


def cache_key(src: Path, width: int) -> str:
    st = src.stat()
    return hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{width}".encode()).hexdigest()


def thumbnail(src: Path, width: int, cache_dir: Path) -> tuple[Path, str]:
    """The cached JPEG thumbnail of `src` at most `width` pixels wide (and 3/4 of that high), and its key."""
    if width not in WIDTHS:
        raise ValueError(f"thumbnail width must be one of {WIDTHS}, got {width}")
    key = cache_key(src, width)
    out = cache_dir / key[:2] / f"{key}.jpg"
    if out.exists():
        return out, key
    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im)
        im.draft("RGB", (width, width))  # JPEG decoders scale down while decoding: much faster for big photos
        im = im.convert("RGB")
        im.thumbnail((width, width * 3 // 4), Image.Resampling.LANCZOS)
        # Write beside the target and rename: two requests for the same thumbnail never see half a file.
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            im.save(f, "JPEG", quality=82, optimize=True)
    os.replace(tmp, out)
    return out, key
