"""Opening video files with PyAV, with every failure turned into a MediaError that names the file, and reading
a stream's frames past damaged packets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import av
import av.container

from .errors import MediaError


def open_container(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        raise MediaError(path, f"unreadable container ({_reason(exc)})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MediaError(path, f"unreadable file ({exc})") from exc


def video_stream(container: av.container.InputContainer, path: str | Path) -> av.video.stream.VideoStream:
    """The main video stream: the default-flagged one if several, and never an attached cover picture."""
    streams = [s for s in container.streams.video if not _is_cover_art(s)]
    if not streams:
        raise MediaError(path, "no decodable video stream")
    default = [s for s in streams if s.disposition & av.stream.Disposition.default]
    return (default or streams)[0]


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    # MP3/M4A/MKV files carry album art as a one-picture "video" stream; it is not a video.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _reason(exc: av.FFmpegError) -> str:
    # FFmpeg messages are like "[Errno 1094995529] Invalid data found when processing input: 'x.mp4'";
    # keep the human part only, the file name is already in the MediaError.
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0]


class DamageReport(Protocol):
    """Where `decoded_frames` counts skipped packets and says why demuxing stopped (a decoder's report)."""

    bad_packets: int
    warnings: list[str]


def decoded_frames(
    container: av.container.InputContainer, stream: av.stream.Stream, report: DamageReport, what: str = ""
) -> Iterator[av.frame.Frame]:
    """Every frame of `stream`, in decoding order. A packet the decoder rejects is skipped and counted; a container
    that stops demuxing mid-way (truncated, damaged) ends with the frames the decoder still holds and a warning
    ("<what>demuxing stopped early: ..."). At a clean end, demux's final empty packet drains the decoder."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            report.warnings.append(f"{what}demuxing stopped early: {exc.strerror or exc}")
            yield from _drain(stream)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            report.bad_packets += 1
            continue
        yield from frames


def _drain(stream: av.stream.Stream) -> Iterator[av.frame.Frame]:
    try:
        yield from stream.codec_context.decode(None)
    except av.FFmpegError:
        return
