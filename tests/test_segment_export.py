"""Exports of segments read back with the same library (OpenTimelineIO and its adapters), frame by frame, at each
video's own rate; SRT/VTT/CSV/JSON read back with the standard library."""

from __future__ import annotations

import csv
import io
import json
import re

import opentimelineio as otio
import pytest

from mediatag.segment_export import FORMATS, frames, render

SEGMENTS = [
    {"path": "/media/a.mp4", "asset_id": 1, "fps": 25.0, "duration_ms": 12000, "start_ms": 0, "end_ms": 2000,
     "peak_score": 0.9, "mean_score": 0.8, "keyframes": 1, "sources": "visual"},
    {"path": "/media/a.mp4", "asset_id": 1, "fps": 25.0, "duration_ms": 12000, "start_ms": 4013, "end_ms": 6020,
     "peak_score": 0.7, "mean_score": 0.6, "keyframes": 2, "sources": "both"},
    {"path": "/media/b.mov", "asset_id": 2, "fps": 29.97, "duration_ms": 9000, "start_ms": 1001, "end_ms": 7507,
     "peak_score": 0.95, "mean_score": 0.9, "keyframes": 3, "sources": "transcript"},
]  # fmt: skip


def expected_frames(segments: list[dict]) -> list[tuple[int, int]]:
    return [frames(s)[1:] for s in segments]


def clip_frames(timeline, rates: list[float]) -> list[tuple[int, int]]:
    """Each clip's (first frame, number of frames), at the rate the segment was written at."""
    out = []
    for clip, rate in zip(timeline.find_clips(), rates, strict=True):
        r = clip.source_range
        out.append((round(r.start_time.rescaled_to(rate).value), round(r.duration.rescaled_to(rate).value)))
    return out


@pytest.mark.parametrize("fmt,adapter", [("otio", "otio_json"), ("fcpxml", "fcp_xml")])
def test_timeline_exports_read_back_frame_by_frame(fmt: str, adapter: str):
    tl = otio.adapters.read_from_string(render(SEGMENTS, fmt, "red"), adapter)
    assert clip_frames(tl, [s["fps"] for s in SEGMENTS]) == expected_frames(SEGMENTS)
    urls = [c.media_reference.target_url for c in tl.find_clips()]
    assert [u.rsplit("/", 1)[-1] for u in urls] == ["a.mp4", "a.mp4", "b.mov"]


def test_edl_reads_back_frame_by_frame():
    # CMX 3600 has one rate per list: an EDL per rate (the CLI writes what it is given).
    same_rate = SEGMENTS[:2]
    tl = otio.adapters.read_from_string(render(same_rate, "edl", "red"), "cmx_3600", rate=25)
    assert clip_frames(tl, [25.0, 25.0]) == expected_frames(same_rate) == [(0, 50), (100, 51)]


def test_text_exports():
    rows = list(csv.DictReader(io.StringIO(render(SEGMENTS, "csv", "red"))))
    assert [(r["path"], int(r["start_ms"]), int(r["end_ms"])) for r in rows] == [
        (s["path"], s["start_ms"], s["end_ms"]) for s in SEGMENTS
    ]
    assert json.loads(render(SEGMENTS, "json", "red"))[2]["sources"] == "transcript"
    srt = render(SEGMENTS, "srt", "red")
    assert re.findall(r"(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})", srt)[1] == ("00:00:04,013", "00:00:06,020")
    vtt = render(SEGMENTS, "vtt", "red")
    assert vtt.startswith("WEBVTT\n") and "00:00:07.507" in vtt and "b.mov" in vtt
    assert set(FORMATS) == {"csv", "json", "edl", "otio", "fcpxml", "srt", "vtt"}
