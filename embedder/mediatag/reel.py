"""A reel: segments cut from their videos with ffmpeg and joined in order into one file.

Stream copy is exact only when a cut starts on a keyframe, and segments joined by the concat demuxer must share
one codec and its parameters: so a reel is stream-copied when every segment starts on a keyframe of a video with
the same codec, size and rate as the others, and re-encoded to one codec (H.264 + AAC) otherwise, each piece cut
with an accurate seek. The joined file is then one codec either way.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

KEYFRAME_SLACK_S = 0.002  # a cut this close to a keyframe is on it (container timestamps are rounded)


@dataclass(frozen=True)
class Cut:
    path: str
    start_s: float
    end_s: float


def plan_cuts(segments: Iterable[dict[str, Any]], padding_ms: int = 0, max_seconds: float | None = None) -> list[Cut]:
    """Segments as cuts in order, widened by `padding_ms` on each side (inside the video), the last one shortened
    and later ones left out where the total would pass `max_seconds`."""
    cuts: list[Cut] = []
    total = 0.0
    for s in segments:
        start = max(0, s["start_ms"] - padding_ms) / 1000
        end = s["end_ms"] + padding_ms
        end = min(end, s["duration_ms"]) if s.get("duration_ms") else end
        end_s = end / 1000
        if max_seconds is not None:
            end_s = min(end_s, start + max_seconds - total)
        if end_s <= start:
            break
        cuts.append(Cut(s["path"], start, end_s))
        total += end_s - start
    return cuts


def _probe(path: str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", path], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def keyframe_times(path: str) -> list[float]:
    """The video stream's keyframe times, from packet flags (no decoding)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
         "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rows = (line.split(",") for line in out.splitlines())
    return [float(r[0]) for r in rows if len(r) > 1 and "K" in r[1] and r[0] not in ("", "N/A")]


def _video_signature(path: str) -> tuple:
    streams = _probe(path)["streams"]
    v = next(s for s in streams if s["codec_type"] == "video")
    return (
        v["codec_name"],
        v["width"],
        v["height"],
        v.get("r_frame_rate"),
        any(s["codec_type"] == "audio" for s in streams),
    )


def can_copy(cuts: Sequence[Cut]) -> bool:
    """True when every cut starts on a keyframe and all videos share codec, size, rate and audio presence."""
    paths = sorted({c.path for c in cuts})
    if len({_video_signature(p) for p in paths}) != 1:
        return False
    keys = {p: keyframe_times(p) for p in paths}
    return all(any(abs(k - c.start_s) <= KEYFRAME_SLACK_S for k in keys[c.path]) for c in cuts)


Progress = Callable[[float], None]  # told the seconds of output written so far


def _ffmpeg(cmd: list[str], seconds: float, progress: bool, on_progress: Progress | None = None) -> None:
    """Run ffmpeg with a progress bar over the output's seconds (from its -progress key=value lines); `on_progress`
    is told them too (the web UI's reel shows its own bar)."""
    with tqdm(total=round(seconds, 2), desc="reel", unit="s", disable=not progress) as bar:
        argv = [*cmd, "-progress", "pipe:1", "-nostats"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in proc.stdout or ():
            if line.startswith("out_time_us=") and line.strip()[12:].isdigit():
                done = min(int(line.strip()[12:]) / 1e6, seconds)
                bar.update(round(done - bar.n, 2))
                if on_progress:
                    on_progress(done)
        err = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed: {err.strip()[-2000:]}")


def _copy_join(cuts: Sequence[Cut], out: Path, seconds: float, progress: bool, on_progress: Progress | None) -> None:
    """Stream copy: each cut copied from its keyframe on, then the pieces joined by the concat demuxer."""
    with tempfile.TemporaryDirectory(prefix="mediatag-reel-") as tmp:
        pieces = []
        for i, cut in enumerate(cuts):
            piece = Path(tmp) / f"{i:05d}{Path(cut.path).suffix}"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-ss", f"{cut.start_s:.3f}", "-i", cut.path,
                 "-t", f"{cut.end_s - cut.start_s:.3f}", "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
                 "-avoid_negative_ts", "make_zero", str(piece)],
                check=True, capture_output=True,
            )  # fmt: skip
            pieces.append(piece)
        listing = Path(tmp) / "pieces.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in pieces))
        join = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
        _ffmpeg([*join, str(out)], seconds, progress, on_progress)


def _reencode_join(
    cuts: Sequence[Cut], out: Path, seconds: float, progress: bool, on_progress: Progress | None
) -> None:
    """Re-encode: one ffmpeg run, each cut an input with an accurate seek, joined by the concat filter, so the
    output's timestamps are continuous (joining separately encoded pieces leaves encoder delay at every join)."""
    audio = all(_video_signature(p)[-1] for p in {c.path for c in cuts})
    inputs = [a for c in cuts for a in ("-ss", f"{c.start_s:.3f}", "-t", f"{c.end_s - c.start_s:.3f}", "-i", c.path)]
    labels = "".join(f"[{i}:v:0]" + (f"[{i}:a:0]" if audio else "") for i in range(len(cuts)))
    graph = f"{labels}concat=n={len(cuts)}:v=1:a={int(audio)}[v]" + ("[a]" if audio else "")
    codecs = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
    codecs += ["-map", "[a]", "-c:a", "aac", "-ar", "48000", "-ac", "2"] if audio else ["-an"]
    _ffmpeg(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]", *codecs, str(out)],
            seconds, progress, on_progress)  # fmt: skip


def make_reel(
    segments: Iterable[dict[str, Any]],
    out: Path,
    *,
    padding_ms: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    reencode: bool = False,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Cut and join (`reencode`: even where stream copy would do; `on_progress`: told the seconds written); returns
    what was done: cuts, mode (copy | reencode), seconds of output."""
    cuts = plan_cuts(segments, padding_ms, max_seconds)
    if not cuts:
        raise ValueError("no segments to put in a reel")
    copy = not reencode and can_copy(cuts)
    seconds = sum(c.end_s - c.start_s for c in cuts)
    (_copy_join if copy else _reencode_join)(cuts, out, seconds, progress, on_progress)
    return {
        "cuts": len(cuts),
        "mode": "copy" if copy else "reencode",
        "seconds": seconds,
    }
