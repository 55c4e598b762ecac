"""Which files are media: decided by extension, because ingestion walks folders full of other files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
# Audio-only files become assets with a transcript and no keyframes (a podcast, an interview).
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".mp3", ".m4a", ".wav", ".flac", ".ogg", ".opus"})

MediaKind = Literal["image", "video", "audio"]


def media_kind(path: str | Path) -> MediaKind | None:
    """'image', 'video', 'audio' or None for anything else (case-insensitive extension)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None
