"""Segments (rows of mediatag.tag_segments / concept_segments) as files an editor or a player opens.

EDL (CMX 3600), OTIO and FCP XML are written by OpenTimelineIO and its adapter packages, so what an editing tool
reads is what OTIO itself would read back. Times are frames at each video's own rate (a VFR video: its average
rate, nearest frame): a segment's first frame is the one nearest its start, its length the frames up to the one
nearest its end. SRT/VTT are chapter cues; CSV/JSON carry the video path, times and scores as stored.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FORMATS = ("csv", "json", "edl", "otio", "fcpxml", "srt", "vtt")
TIMELINE_FORMATS = ("edl", "otio", "fcpxml")  # written by OpenTimelineIO
DEFAULT_FPS = 25.0  # a video whose probe gave no rate (never the case for ingested videos, which store it)
COLUMNS = ("path", "asset_id", "start_ms", "end_ms", "peak_score", "mean_score", "keyframes", "sources", "fps")


def _fields(seg: dict[str, Any]) -> dict[str, Any]:
    """The exported columns; reals to 6 decimals, so the server's float4-as-double and a client's float4-as-text
    give the same file."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in ((k, seg.get(k)) for k in COLUMNS)}


def nearest_frame(ms: int, rate: float) -> int:
    """The frame nearest a time, halves up (round() would send 150.5 to 150 and 151.5 to 152)."""
    return math.floor(ms * rate / 1000 + 0.5)


def frames(seg: dict[str, Any]) -> tuple[float, int, int]:
    """(rate, first frame, number of frames) of a segment, at least one frame long."""
    rate = float(seg.get("fps") or DEFAULT_FPS)
    first = nearest_frame(seg["start_ms"], rate)
    last = nearest_frame(seg["end_ms"], rate)
    return rate, first, max(1, last - first)


def _timeline(segments: Sequence[dict[str, Any]], name: str):
    import opentimelineio as otio

    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Video)
    for i, seg in enumerate(segments, 1):
        rate, first, n = frames(seg)
        ref = otio.schema.ExternalReference(target_url=Path(seg["path"]).resolve().as_uri())
        if seg.get("duration_ms"):
            ref.available_range = otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate),
                otio.opentime.RationalTime(nearest_frame(seg["duration_ms"], rate), rate),
            )
        track.append(
            otio.schema.Clip(
                name=f"{Path(seg['path']).stem} {i}",
                media_reference=ref,
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(n, rate)
                ),
                metadata={"mediatag": _fields(seg)},
            )
        )
    timeline = otio.schema.Timeline(name=name)
    timeline.tracks.append(track)
    return timeline


def _otio(adapter: str) -> Callable[[Sequence[dict[str, Any]], str], str]:
    def write(segments: Sequence[dict[str, Any]], name: str) -> str:
        import opentimelineio as otio

        return otio.adapters.write_to_string(_timeline(segments, name), adapter)

    return write


def _csv(segments: Sequence[dict[str, Any]], name: str) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(map(_fields, segments))
    return out.getvalue()


def _json(segments: Sequence[dict[str, Any]], name: str) -> str:
    return json.dumps([_fields(s) for s in segments], indent=1) + "\n"


def _clock(ms: int, sep: str) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _cue_text(seg: dict[str, Any], name: str, many: bool) -> str:
    where = f" — {Path(seg['path']).name}" if many else ""
    return f"{name}{where} (peak {seg['peak_score']:.2f}, {seg['sources']})"


def _subtitles(vtt: bool) -> Callable[[Sequence[dict[str, Any]], str], str]:
    """Chapter cues, one per segment; a file naming several videos says which one in each cue."""

    def write(segments: Sequence[dict[str, Any]], name: str) -> str:
        many = len({s["path"] for s in segments}) > 1
        sep = "." if vtt else ","
        cues = []
        for i, s in enumerate(segments, 1):
            number = "" if vtt else f"{i}\n"  # SRT numbers its cues, WebVTT does not need to
            span = f"{_clock(s['start_ms'], sep)} --> {_clock(s['end_ms'], sep)}"
            cues.append(f"{number}{span}\n{_cue_text(s, name, many)}\n")
        return ("WEBVTT\n\n" if vtt else "") + "\n".join(cues)

    return write


WRITERS: dict[str, Callable[[Sequence[dict[str, Any]], str], str]] = {
    "csv": _csv,
    "json": _json,
    "edl": _otio("cmx_3600"),
    "otio": _otio("otio_json"),
    "fcpxml": _otio("fcp_xml"),
    "srt": _subtitles(vtt=False),
    "vtt": _subtitles(vtt=True),
}


def render(segments: Sequence[dict[str, Any]], fmt: str, name: str) -> str:
    """The segments as text in `fmt` (one of FORMATS); `name` titles the timeline or the cues."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return WRITERS[fmt](segments, name)
