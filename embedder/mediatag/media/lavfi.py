"""Videos made from ffmpeg's built-in sources (lavfi): the demo's sample clip, benchmark and test media.
Each source becomes one segment, so the cuts fall at known times."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def concat_sources(path: Path, sources: Sequence[str], seconds: float, *, preset: str = "medium") -> Path:
    """Encode `sources` (lavfi source specs, e.g. 'testsrc=size=320x240:rate=25'), `seconds` each, one after the
    other, as H.264 yuv420p into `path`: cuts at seconds, 2*seconds, …"""
    args: list[str] = []
    for s in sources:
        args += ["-f", "lavfi", "-t", str(seconds), "-i", s]
    n = len(sources)
    graph = "".join(f"[{i}:v]format=yuv420p[v{i}];" for i in range(n)) + "".join(f"[v{i}]" for i in range(n))
    graph += f"concat=n={n}:v=1:a=0[v]"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            *args,
            "-filter_complex",
            graph,
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path
