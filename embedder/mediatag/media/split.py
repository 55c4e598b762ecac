"""Video → shots and keyframes in one decoding pass.

Decoding is the expensive part of ingesting a video (fingerprints and keyframe choice cost a few percent of
it), so `split_video` decodes each frame exactly once: every frame is fingerprinted for the cut detector, the
detector hands frames on a few frames later with its decision, and the keyframe picker sees them with their
shot already known. `detect_shots` and `extract_keyframes` are the same pass with one half switched off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from .cuts import DEFAULT_MIN_SHOT_MS, DEFAULT_THRESHOLD, CutDetector, Decision
from .decode import VideoDecoder
from .errors import MediaError
from .keyframes import Keyframe, KeyframePicker, KeyframeWriter
from .probe import MediaInfo, probe
from .shots import Shot, shots_from_cuts
from .signature import frame_signature

DEFAULT_EVERY_S = 5.0
DEFAULT_MAX_SIDE = 512


@dataclass(slots=True)
class VideoSplit:
    info: MediaInfo
    shots: list[Shot]
    keyframes: list[Keyframe]
    warnings: list[str] = field(default_factory=list)
    frames_decoded: int = 0
    seconds: float = 0.0  # wall time of the decoding pass


def split_video(
    path: str | Path,
    out_dir: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_shot_ms: float = DEFAULT_MIN_SHOT_MS,
    every_s: float = DEFAULT_EVERY_S,
    max_side: int = DEFAULT_MAX_SIDE,
    threads: int = 0,
    max_duration_s: float | None = None,
) -> VideoSplit:
    """Probe, detect hard cuts and write keyframes (JPEG) to out_dir, decoding the video once.

    threshold: cut score (0..1, see cuts.py) above the shot's motion baseline that counts as a cut.
    min_shot_ms: a cut closer than this to the previous cut (or the start) is ignored.
    every_s / max_side: keyframe spacing inside long shots, and the longest side of keyframe images.
    max_duration_s: a longer video (by its container duration) is refused before decoding.
    Raises MediaError when the file is unreadable or has no decodable video frame; damage after the first
    frames is reported in `warnings` and the decodable part is kept.
    """
    info = probe(path)
    if max_duration_s is not None and info.duration_ms and info.duration_ms > max_duration_s * 1000:
        raise MediaError(
            path,
            f"video lasts {info.duration_ms / 1000:.0f} s, above the cap of {max_duration_s:g} s (max_video_seconds)",
        )
    writer = KeyframeWriter(out_dir, max_side, _sample_aspect_ratio(info))
    picker: KeyframePicker[av.VideoFrame] = KeyframePicker(every_s * 1000.0, writer.write)
    return _run(path, info, CutDetector(threshold, min_shot_ms), None, picker, writer, threads)


def detect_shots(
    path: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    min_shot_ms: float = DEFAULT_MIN_SHOT_MS,
    threads: int = 0,
) -> list[Shot]:
    """Shots of a video (hard cuts), without writing keyframes."""
    return _run(path, probe(path), CutDetector(threshold, min_shot_ms), None, None, None, threads).shots


def extract_keyframes(
    path: str | Path,
    shots: Sequence[Shot],
    out_dir: str | Path,
    every_s: float = DEFAULT_EVERY_S,
    max_side: int = DEFAULT_MAX_SIDE,
    threads: int = 0,
) -> list[Keyframe]:
    """Keyframes for shots found earlier (or elsewhere): one per shot and one at least every `every_s`."""
    info = probe(path)
    writer = KeyframeWriter(out_dir, max_side, _sample_aspect_ratio(info))
    picker: KeyframePicker[av.VideoFrame] = KeyframePicker(every_s * 1000.0, writer.write)
    return _run(path, info, None, list(shots), picker, writer, threads).keyframes


def _run(
    path: str | Path,
    info: MediaInfo,
    detector: CutDetector[av.VideoFrame] | None,
    given_shots: list[Shot] | None,
    picker: KeyframePicker[av.VideoFrame] | None,
    writer: KeyframeWriter | None,
    threads: int,
) -> VideoSplit:
    decoder = VideoDecoder(path, threads)
    cuts: list[float] = []
    shot, next_start = _shot_starts(given_shots)

    def route(decisions: list[Decision[av.VideoFrame]]) -> None:
        nonlocal shot
        for decision in decisions:
            if decision.is_cut:
                cuts.append(decision.time_ms)
            if decision.is_cut or shot < 0:
                shot += 1
            if picker is not None:
                picker.push(decision.time_ms, decision.payload, shot)

    started = time.perf_counter()
    for timed in decoder.frames():
        if detector is not None:
            route(detector.push(timed.time_ms, frame_signature(timed.frame), timed.frame))
        else:
            # Shots given: a frame opens the next shot once it reaches that shot's start.
            while next_start and timed.time_ms >= next_start[0][0] - 0.5:
                shot = next_start.pop(0)[1]
            if picker is not None:
                picker.push(timed.time_ms, timed.frame, shot)
    if detector is not None:
        route(detector.finish())
    end_ms = decoder.report.end_ms
    if picker is not None:
        picker.finish(end_ms)
    seconds = time.perf_counter() - started

    warnings = list(decoder.report.warnings)
    if info.duration_ms and end_ms < info.duration_ms - max(500.0, 0.02 * info.duration_ms):
        # Typically a file cut short after its index (moov first): the frames before the damage are used.
        warnings.append(f"decoded only {end_ms / 1000:.1f} s of {info.duration_ms / 1000:.1f} s (truncated?)")
    shots = given_shots if given_shots is not None else shots_from_cuts(cuts, end_ms)
    return VideoSplit(
        info=info,
        shots=list(shots),
        keyframes=writer.keyframes if writer is not None else [],
        warnings=warnings,
        frames_decoded=decoder.report.frames,
        seconds=seconds,
    )


def _shot_starts(shots: list[Shot] | None) -> tuple[int, list[tuple[float, int]]]:
    # The first shot's index, then the later shots as (start, index): frames before the second shot's start
    # belong to the first. Without given shots, -1 means "none yet" for the detector path.
    if not shots:
        return (-1 if shots is None else 0), []
    ordered = sorted(shots, key=lambda s: s.start_ms)
    return ordered[0].index, [(float(s.start_ms), s.index) for s in ordered[1:]]


def _sample_aspect_ratio(info: MediaInfo) -> Fraction:
    try:
        return Fraction(str(info.extra.get("sample_aspect_ratio", "1")))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
