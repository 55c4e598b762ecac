"""Real media for tests, made with ffmpeg: videos with known cuts, subtitles, corrupt files."""

from __future__ import annotations

from pathlib import Path

from mediatag.media.lavfi import concat_sources
from mediatag.sample_data import coco_dir

COCO = coco_dir()


def video_with_cuts(
    path: Path,
    segments: tuple[str, ...] = ("testsrc", "red", "mandelbrot"),
    seconds: float = 2.0,
    size: str = "320x240",
) -> Path:
    """Segments of clearly different content, concatenated: cuts at seconds, 2*seconds, …"""
    sources = {
        "testsrc": f"testsrc=size={size}:rate=25",
        "red": f"color=c=red:size={size}:rate=25",
        "blue": f"color=c=blue:size={size}:rate=25",
        "mandelbrot": f"mandelbrot=size={size}:rate=25",
        "smpte": f"smptebars=size={size}:rate=25",
    }
    concat_sources(path, [sources[s] for s in segments], seconds)
    return path


def write_srt(path: Path, cues: list[tuple[int, int, str]]) -> Path:
    def ts(ms: int) -> str:
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    path.write_text("\n".join(f"{i}\n{ts(a)} --> {ts(b)}\n{t}\n" for i, (a, b, t) in enumerate(cues, 1)))
    return path


def corrupt_copy(src: Path, dst: Path, keep: int = 2000) -> Path:
    """The first bytes of a real file: a truncated, undecodable copy."""
    dst.write_bytes(src.read_bytes()[:keep])
    return dst


def coco_labels() -> dict[str, set[str]]:
    import csv

    with (COCO / "labels.csv").open() as f:
        return {r["file"]: set(filter(None, r["classes"].split(";"))) for r in csv.DictReader(f)}
