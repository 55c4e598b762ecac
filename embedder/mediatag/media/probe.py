"""Technical metadata of a video file (what ffprobe would say), for the technical-metadata view."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .containers import open_container, video_stream
from .errors import MediaError

# Packets whose timestamps are sampled to tell constant from variable frame rate; demuxing is cheap,
# decoding is not, so only the first frame is decoded.
VFR_SAMPLE_PACKETS = 600
# A frame interval further than this from the median counts as irregular ...
VFR_TOLERANCE = 0.15
# ... and a stream is variable-rate when more than this share of intervals is irregular (one dropped frame
# in a constant-rate file is not enough).
VFR_IRREGULAR_SHARE = 0.02


@dataclass(slots=True)
class MediaInfo:
    duration_ms: int | None
    width: int
    height: int
    fps: float | None
    video_codec: str
    audio_codec: str | None
    container: str
    bit_rate: int | None
    has_audio: bool
    is_vfr: bool
    extra: dict[str, Any] = field(default_factory=dict)


def probe(path: str | Path) -> MediaInfo:
    """Read container and stream metadata and decode the first frame (to prove the video is decodable).

    Raises MediaError when the file cannot be opened, has no video stream or no frame can be decoded.
    `extra` holds JSON-ready details: display size and rotation, pixel format, rates, tags, audio layout.
    """
    path = Path(path)
    with open_container(path) as container:
        stream = video_stream(container, path)
        first_frame, packet_times = _sample_stream(container, stream, path)
        return _describe(path, container, stream, first_frame, packet_times)


def _sample_stream(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path
) -> tuple[av.VideoFrame, list[float]]:
    first: av.VideoFrame | None = None
    times: list[float] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                times.append(float(packet.pts * packet.time_base))
            if first is None:
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    frames = []
                if frames:
                    first = frames[0]
            if first is not None and len(times) >= VFR_SAMPLE_PACKETS:
                break
    except av.FFmpegError as exc:
        if first is None:
            raise MediaError(path, f"no decodable video stream ({exc.strerror or exc})") from exc
    if first is None:
        raise MediaError(path, "no decodable video stream (no frame could be decoded)")
    return first, times


def is_variable_frame_rate(times_s: list[float], tick_s: float = 0.0) -> bool:
    """True when presentation intervals are irregular: not one rate, allowing for timestamp rounding."""
    pts = np.unique(np.asarray(times_s, dtype=np.float64))  # sorted; B-frames arrive out of order
    if pts.size < 4:
        return False
    deltas = np.diff(pts)
    median = float(np.median(deltas))
    if median <= 0:
        return False
    # Containers with coarse clocks (Matroska: 1 ms) round 30 fps to 33/34 ms; that is not variable.
    slack = max(VFR_TOLERANCE * median, 1.5 * tick_s)
    irregular = int(np.count_nonzero(np.abs(deltas - median) > slack))
    return irregular >= 2 and irregular / deltas.size > VFR_IRREGULAR_SHARE


def _describe(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    frame: av.VideoFrame,
    packet_times: list[float],
) -> MediaInfo:
    ctx = stream.codec_context
    width, height = ctx.width or frame.width, ctx.height or frame.height
    rotation = int(frame.rotation or 0)
    sar = _fraction(stream.sample_aspect_ratio) or Fraction(1)
    display_w, display_h = display_size(width, height, sar, rotation)
    audio = [s for s in container.streams.audio]
    tick = float(stream.time_base) if stream.time_base else 0.0
    extra: dict[str, Any] = {
        "format_name": container.format.name,
        "format_long_name": container.format.long_name,
        "codec_long_name": ctx.codec.long_name,
        "profile": stream.profile,
        "pixel_format": frame.format.name,
        "display_width": display_w,
        "display_height": display_h,
        "rotation": rotation,
        "sample_aspect_ratio": str(sar),
        "avg_frame_rate": _rate_text(stream.average_rate),
        "r_frame_rate": _rate_text(stream.base_rate),
        "frame_count": stream.frames or None,
        "start_time_ms": _ms(container.start_time / 1_000_000) if container.start_time is not None else None,
        "video_bit_rate": ctx.bit_rate or None,
        "interlaced": bool(frame.interlaced_frame),
        "audio_streams": len(audio),
        "subtitle_streams": [
            {"codec": s.codec_context.name if s.codec_context else None, "language": s.metadata.get("language")}
            for s in container.streams.subtitles
        ],
        "tags": {str(k): str(v) for k, v in container.metadata.items()},
    }
    if audio:
        actx = audio[0].codec_context
        extra["audio_sample_rate"] = actx.sample_rate or None
        extra["audio_channels"] = actx.layout.nb_channels if actx.layout else None
        extra["audio_bit_rate"] = actx.bit_rate or None
    return MediaInfo(
        duration_ms=_duration_ms(container, stream),
        width=width,
        height=height,
        fps=_fps(stream),
        video_codec=ctx.name,
        audio_codec=audio[0].codec_context.name if audio else None,
        container=_container_name(container.format.name, path),
        bit_rate=container.bit_rate or None,
        has_audio=bool(audio),
        is_vfr=is_variable_frame_rate(packet_times, tick),
        extra=extra,
    )


def display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """Size a player shows: anamorphic pixels stretched by the sample aspect ratio, then quarter-turns."""
    if sar > 0 and sar != 1:
        width = max(1, round(width * sar))
    if rotation % 180 != 0:
        width, height = height, width
    return width, height


# Extensions whose demuxer FFmpeg names differently.
_EXTENSION_FORMATS = {"mkv": "matroska", "m4v": "mp4"}


def _container_name(format_name: str, path: Path) -> str:
    # FFmpeg names demuxers by family ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"). Report the file's extension
    # when the family agrees with it (mp4, mov, mkv, webm, avi, m4v), else the demuxer's own name, which also
    # exposes a mislabelled file (a .mp4 that is really Matroska reads "matroska").
    names = format_name.split(",")
    suffix = path.suffix.lower().lstrip(".")
    if suffix in names or _EXTENSION_FORMATS.get(suffix) in names:
        return suffix
    return names[0]


def _duration_ms(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int | None:
    if stream.duration and stream.time_base:
        return _ms(float(stream.duration * stream.time_base))
    if container.duration:
        return _ms(container.duration / 1_000_000)
    return None


def _fps(stream: av.video.stream.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return round(float(rate), 3)
    return None


def _fraction(value: Any) -> Fraction | None:
    if value is None:
        return None
    try:
        frac = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return frac if frac > 0 else None


def _rate_text(rate: Any) -> str | None:
    return str(rate) if rate else None


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
