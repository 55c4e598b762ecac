"""Subtitle tracks inside the container (Matroska/WebM, MP4/MOV) → timed text segments.

FFmpeg's text subtitle decoders (SubRip, ASS/SSA, WebVTT, mov_text) all hand out ASS dialogue lines, so one path
reads every text codec: PyAV decodes each packet, override blocks ({\\an8}, {\\b1}) and HTML-ish markup are
stripped by the same cleaner as sidecars. Times are the packet's pts minus the container's start time, the origin
keyframe times use (decode.py), so an MP4 written with a start offset still lines up with its frames.

Bitmap tracks (PGS, VobSub, DVB) hold pictures of text: they are listed as skipped with the reason, never OCR'd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av

from .containers import open_container
from .languages import canonical_language, parse_preferences
from .subtitles import Segment, clean_text

TEXT_CODECS: dict[str, str] = {  # decoder name → the name recorded in a segment's source
    "subrip": "subrip",
    "srt": "subrip",
    "ass": "ass",
    "ssa": "ass",
    "webvtt": "webvtt",
    "mov_text": "mov_text",
    "text": "text",
}
BITMAP_CODECS: frozenset[str] = frozenset(
    {"hdmv_pgs_subtitle", "pgssub", "dvd_subtitle", "dvdsub", "dvb_subtitle", "dvbsub", "xsub"}
)
# An ASS "drawing" ({\p1} m 0 0 l 100 0 …) is vector art, not words.
_DRAWING = "\\p1"


@dataclass(slots=True)
class SubtitleTrack:
    index: int  # the stream's index in the container
    codec: str  # canonical name (TEXT_CODECS values) or the decoder's own name
    language: str  # ISO 639-2/T, "und" when the track has no tag
    default: bool
    forced: bool
    title: str | None = None

    @property
    def is_text(self) -> bool:
        return self.codec in TEXT_CODECS.values()

    @property
    def source(self) -> str:
        return f"embedded:{self.codec}:{self.language}"


@dataclass(slots=True)
class EmbeddedSubtitles:
    track: SubtitleTrack | None
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped tracks and why, for the asset's ingest notes


def list_tracks(container: av.container.InputContainer) -> list[SubtitleTrack]:
    tracks = []
    for s in container.streams.subtitles:
        name = s.codec_context.name if s.codec_context else "unknown"
        tracks.append(
            SubtitleTrack(
                index=s.index,
                codec=TEXT_CODECS.get(name, name),
                language=canonical_language(s.metadata.get("language")),
                default=bool(s.disposition & av.stream.Disposition.default),
                forced=bool(s.disposition & av.stream.Disposition.forced),
                title=s.metadata.get("title") or None,
            )
        )
    return tracks


def choose_track(tracks: Sequence[SubtitleTrack], languages: str | None = None) -> SubtitleTrack | None:
    """The text track to use: the first asked-for language (in preference order), else the default-flagged
    track, else the first; forced-only tracks (signs, foreign lines) lose to full ones of the same language."""
    text = sorted((t for t in tracks if t.is_text), key=lambda t: t.forced)  # stable: container order kept
    if not text:
        return None
    for wanted in parse_preferences(languages):
        for t in text:
            if t.language == wanted:
                return t
    return next((t for t in text if t.default), text[0])


def read_embedded_subtitles(path: str | Path, languages: str | None = None) -> EmbeddedSubtitles:
    """The chosen text track's segments, and a note for every bitmap or unknown track passed over.

    Returns an empty result (no track) for a file without subtitle streams. Damage in the track costs the cues
    after it, noted; a container that cannot be opened raises MediaError.
    """
    path = Path(path)
    with open_container(path) as container:
        tracks = list_tracks(container)
        result = EmbeddedSubtitles(track=choose_track(tracks, languages))
        for t in tracks:
            if t.codec in BITMAP_CODECS:
                result.notes.append(
                    f"subtitle track {t.index} ({t.codec}, {t.language}) skipped: bitmap subtitles are pictures "
                    "of text, not text"
                )
            elif not t.is_text:
                result.notes.append(f"subtitle track {t.index} ({t.codec}, {t.language}) skipped: unsupported codec")
        if result.track is None:
            return result
        origin = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        stream = container.streams[result.track.index]
        result.segments = _decode_track(container, stream, origin, result.notes)
    if not result.segments:
        result.notes.append(f"subtitle track {result.track.index} ({result.track.source}) holds no text")
    return result


def _decode_track(
    container: av.container.InputContainer, stream: av.stream.Stream, origin_s: float, notes: list[str]
) -> list[Segment]:
    segments: list[Segment] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue  # the demuxer's end-of-stream flush packet
            start_s = float(packet.pts * packet.time_base) - origin_s
            end_s = start_s + (float(packet.duration * packet.time_base) if packet.duration else 0.0)
            try:
                lines = [r.dialogue.decode("utf-8", "replace") for r in packet.decode() if r.type == b"ass"]
            except av.FFmpegError:
                continue  # one broken cue, not the track
            text = clean_text([ln for ln in "\n".join(lines).split("\n") if _DRAWING not in ln])
            if text:
                segments.append(Segment(_ms(start_s), _ms(max(end_s, start_s)), text))
    except av.FFmpegError as exc:
        notes.append(f"subtitle track {stream.index}: reading stopped early ({exc.strerror or exc})")
    segments.sort(key=lambda s: (s.start_ms, s.end_ms))
    return segments


def _ms(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


__all__ = [
    "BITMAP_CODECS",
    "TEXT_CODECS",
    "EmbeddedSubtitles",
    "SubtitleTrack",
    "choose_track",
    "list_tracks",
    "read_embedded_subtitles",
]
