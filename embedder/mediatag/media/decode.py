"""Decoding a video once, front to back, into frames stamped with their presentation time.

Times come from each frame's pts, never from a frame counter, so variable-frame-rate files (phones, screen
recordings) get true times. They are measured from the container's start, which is the origin that players
show and that `ffmpeg -ss` seeks from, so a keyframe's time can be used to cut the clip later.

Real files have defects: a packet the decoder rejects is skipped and counted, and a file truncated mid-way
yields the frames before the damage. Both end up as warnings; only a file with no decodable frame at all is
an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av

from .containers import decoded_frames, open_container, video_stream
from .errors import MediaError


@dataclass(slots=True)
class TimedFrame:
    time_ms: float
    frame: av.VideoFrame


@dataclass(slots=True)
class DecodeReport:
    frames: int = 0
    bad_packets: int = 0
    end_ms: float = 0.0  # end of the last frame shown (its time plus its duration)
    warnings: list[str] = field(default_factory=list)


class VideoDecoder:
    """Iterate `frames()` once; afterwards `report` holds the frame count, end time and warnings.

    threads=0 lets FFmpeg use every core with frame threading, which is ~1.5x faster on 2 cores for H.264.
    """

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        self.path = Path(path)
        self.threads = threads
        self.report = DecodeReport()

    def frames(self) -> Iterator[TimedFrame]:
        with open_container(self.path) as container:
            stream = video_stream(container, self.path)
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
            origin = container.start_time / 1_000_000 if container.start_time is not None else None
            yield from self._decode(container, stream, origin)
        if self.report.frames == 0:
            detail = f" ({self.report.warnings[-1]})" if self.report.warnings else ""
            raise MediaError(self.path, f"no decodable video frames{detail}")

    def _decode(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, origin: float | None
    ) -> Iterator[TimedFrame]:
        report = self.report
        tick = float(stream.time_base) if stream.time_base else 0.0  # float maths: Fractions cost ~10 us a frame
        last_ms: float | None = None
        last_duration_ms = 0.0
        for frame in decoded_frames(container, stream, report):
            seconds = frame.pts * tick if frame.pts is not None and tick else None
            if seconds is None:
                # No pts at all (some AVI/raw streams): continue from the previous frame.
                time_ms = 0.0 if last_ms is None else last_ms + (last_duration_ms or _fallback_ms(stream))
            else:
                if origin is None:
                    origin = seconds
                time_ms = max(0.0, (seconds - origin) * 1000.0)
            if last_ms is not None and time_ms < last_ms:
                # Broken timestamps going backwards would make shots overlap; hold the clock instead.
                time_ms = last_ms
            duration_ms = frame.duration * tick * 1000.0 if frame.duration else 0.0
            if duration_ms <= 0 and last_ms is not None and time_ms > last_ms:
                duration_ms = time_ms - last_ms  # best guess for a frame without duration: the last interval
            last_ms, last_duration_ms = time_ms, duration_ms or last_duration_ms
            report.frames += 1
            report.end_ms = time_ms + (last_duration_ms or _fallback_ms(stream))
            yield TimedFrame(time_ms, frame)
        if report.bad_packets:
            report.warnings.append(f"{report.bad_packets} undecodable packet(s) skipped")


def _fallback_ms(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return 1000.0 / float(rate) if rate else 40.0
