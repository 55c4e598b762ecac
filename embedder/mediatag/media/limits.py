"""Input bounds for ingestion: caps on sidecar/subtitle file sizes, image pixels and video duration.

Defaults are generous for real media (a feature film's subtitles are ~100 KB, a metadata.csv for 100k files
a few MB) and stop pathological inputs before they are read into memory. Files are read in chunks and the
read stops at the cap, so a multi-gigabyte "subtitle" costs one chunk past the cap, not its size.
"""

from __future__ import annotations

from pathlib import Path

from .errors import MediaError

MAX_SUBTITLE_BYTES = 16 * 1024 * 1024
MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # metadata.csv and JSON sidecars
MAX_IMAGE_PIXELS = 100_000_000  # 100 megapixels (e.g. 12,000 x 8,000)
MAX_VIDEO_SECONDS = 6 * 3600.0
_CHUNK = 1 << 20


def read_capped(path: Path, max_bytes: int, what: str) -> bytes:
    """The file's bytes, read in chunks; MediaError naming the file and the cap when it is larger than max_bytes."""
    parts: list[bytes] = []
    total = 0
    try:
        with path.open("rb") as f:
            while block := f.read(min(_CHUNK, max_bytes + 1 - total)):
                parts.append(block)
                total += len(block)
                if total > max_bytes:
                    raise MediaError(path, f"{what} larger than the {_human(max_bytes)} cap (refused, not read whole)")
    except FileNotFoundError as exc:
        raise MediaError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise MediaError(path, "is a directory") from exc
    return b"".join(parts)


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.4g} {unit}"
        n /= 1024
    return f"{n} bytes"
