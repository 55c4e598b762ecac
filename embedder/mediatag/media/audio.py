"""Audio tracks → 16 kHz mono 16-bit PCM, decoded with PyAV in blocks so a six-hour file never sits in memory.

Times are measured from the container's start, the origin keyframe and subtitle times use, so a transcript line
points at the frames where it is spoken. A damaged packet is skipped and counted; a stream that stops decoding
yields what came before, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from .containers import decoded_frames, open_container
from .errors import MediaError

SAMPLE_RATE = 16_000
BLOCK_SECONDS = 30.0


@dataclass(slots=True)
class AudioBlock:
    start_ms: float  # time of the block's first sample
    samples: np.ndarray  # int16, mono, SAMPLE_RATE


@dataclass(slots=True)
class AudioReport:
    seconds: float = 0.0  # audio decoded
    bad_packets: int = 0
    warnings: list[str] = field(default_factory=list)


def has_audio(path: str | Path) -> bool:
    with open_container(path) as container:
        return bool(container.streams.audio)


def audio_blocks(path: str | Path, report: AudioReport, block_s: float = BLOCK_SECONDS) -> Iterator[AudioBlock]:
    """The first audio stream as consecutive blocks of about block_s seconds.

    Raises MediaError when the file has no audio stream or not one packet of it decodes.
    """
    path = Path(path)
    with open_container(path) as container:
        if not container.streams.audio:
            raise MediaError(path, "no audio stream")
        stream = container.streams.audio[0]
        origin = container.start_time / 1_000_000 if container.start_time is not None else None
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        block_len = int(block_s * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        pending_len = 0
        start_ms: float | None = None
        for frame in decoded_frames(container, stream, report, what="audio "):
            if start_ms is None:
                t = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else 0.0
                start_ms = max(0.0, (t - (origin if origin is not None else t)) * 1000.0)
            for out in resampler.resample(frame):
                pcm = out.to_ndarray().reshape(-1)
                pending.append(pcm)
                pending_len += pcm.size
            while pending_len >= block_len:
                joined = np.concatenate(pending)
                yield AudioBlock(start_ms, joined[:block_len])
                start_ms += block_len * 1000.0 / SAMPLE_RATE
                report.seconds += block_s
                pending, pending_len = [joined[block_len:]], joined.size - block_len
        for out in resampler.resample(None):
            pending.append(out.to_ndarray().reshape(-1))
        if pending and start_ms is not None:
            joined = np.concatenate(pending)
            if joined.size:
                report.seconds += joined.size / SAMPLE_RATE
                yield AudioBlock(start_ms, joined)
    if report.bad_packets:
        report.warnings.append(f"{report.bad_packets} undecodable audio packet(s) skipped")
    if start_ms is None:
        detail = f" ({report.warnings[-1]})" if report.warnings else ""
        raise MediaError(path, f"no decodable audio{detail}")


@dataclass(slots=True)
class AudioInfo:
    duration_ms: int | None
    codec: str
    container: str
    sample_rate: int | None
    channels: int | None
    bit_rate: int | None


def probe_audio(path: str | Path) -> AudioInfo:
    """Container and first audio stream facts of an audio-only file; MediaError when it has no audio stream."""
    path = Path(path)
    with open_container(path) as container:
        if not container.streams.audio:
            raise MediaError(path, "no audio stream")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        if stream.duration and stream.time_base:
            duration = int(round(float(stream.duration * stream.time_base) * 1000))
        elif container.duration:
            duration = int(round(container.duration / 1000))
        else:
            duration = None
        return AudioInfo(
            duration_ms=duration,
            codec=ctx.name,
            container=container.format.name.split(",")[0],
            sample_rate=ctx.sample_rate or None,
            channels=ctx.layout.nb_channels if ctx.layout else None,
            bit_rate=container.bit_rate or None,
        )
