"""SubRip (.srt) and WebVTT (.vtt) files → timed text segments, tolerant of the defects real files have.

The parser is line based rather than "split on blank lines", because the most common defect is a missing
blank line between cues. A timing line (`start --> end`) opens a cue; text lines follow until a blank line
or the next timing line. Accepted timings: hours optional, 1-3 digit fractions after ',' '.' or ':', no
fraction at all, `->` arrows, cue settings or SRT coordinates after the end time (ignored). Markup is
stripped: HTML/VTT tags (<i>, <font>, <c.x>, <v Name>, <00:01.000>), ASS override blocks ({\\an8}) and
entities. Defects are reported as warnings, one line per kind with a count and the first line numbers.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MediaError
from .limits import MAX_SUBTITLE_BYTES, read_capped
from .textcodec import decode_text

_TIME = r"(?:(\d+)\s*:\s*)?(\d{1,2})\s*:\s*(\d{1,2})(?:\s*[,.:]\s*(\d{1,3}))?"
_TIMING = re.compile(rf"^{_TIME}\s*-{{1,2}}>\s*{_TIME}(\s.*)?$")
_TAG = re.compile(r"<[^<>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_SPACES = re.compile(r"\s+")
_VTT_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")
_MAX_LINE_REFS = 3


@dataclass(slots=True)
class Segment:
    start_ms: int
    end_ms: int
    text: str


@dataclass(slots=True)
class SubtitleResult:
    segments: list[Segment]
    warnings: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    format: str = "srt"  # "srt" or "vtt"


@dataclass(slots=True)
class _Cue:
    line: int  # 1-based line of the timing line
    start_ms: int
    end_ms: int
    ident: str | None
    lines: list[str] = field(default_factory=list)


class _Defects:
    """Collects defects by kind; renders one warning per kind with a count and a few line numbers."""

    def __init__(self) -> None:
        self._lines: dict[str, list[int]] = defaultdict(list)
        self._order: list[str] = []

    def add(self, kind: str, line: int | None = None) -> None:
        if kind not in self._lines:
            self._order.append(kind)
        self._lines[kind].append(line or 0)

    def warnings(self) -> list[str]:
        out = []
        for kind in self._order:
            lines = [n for n in self._lines[kind] if n]
            count = len(self._lines[kind])
            where = ""
            if lines:
                shown = ", ".join(str(n) for n in lines[:_MAX_LINE_REFS])
                where = f" (line {shown}{', ...' if len(lines) > _MAX_LINE_REFS else ''})"
            out.append(f"{count} {kind}{where}")
        return out


def parse_subtitles(path: str | Path, max_bytes: int = MAX_SUBTITLE_BYTES) -> SubtitleResult:
    """Parse a .srt or .vtt file. Raises MediaError when the file is missing, larger than max_bytes, empty or has
    no usable cue."""
    path = Path(path)
    try:
        data = read_capped(path, max_bytes, "subtitle file")
    except FileNotFoundError as exc:
        raise MediaError(path, "file not found") from exc
    except OSError as exc:
        raise MediaError(path, f"unreadable file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise MediaError(path, "empty subtitle file")
    decoded = decode_text(data)
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "").replace("\x00", "")
    fmt = "vtt" if text.lstrip().startswith("WEBVTT") or path.suffix.lower() == ".vtt" else "srt"
    defects = _Defects()
    if decoded.replaced:
        defects.add(f"undecodable byte(s) replaced ({decoded.encoding})")
    if fmt == "vtt" and not text.lstrip().startswith("WEBVTT"):
        defects.add("missing WEBVTT header")
    cues = _scan(text.split("\n"), fmt, defects)
    segments = _segments(cues, fmt, defects)
    if not segments:
        raise MediaError(path, f"no subtitle cues found ({fmt}, {decoded.encoding})")
    return SubtitleResult(segments, defects.warnings(), decoded.encoding, fmt)


def parse_timestamp(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> int:
    """Milliseconds; a fraction is read as decimals ("5" = 500 ms, "05" = 50 ms)."""
    ms = int((fraction or "0").ljust(3, "0")[:3])
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + ms


def _scan(lines: list[str], fmt: str, defects: _Defects) -> list[_Cue]:
    cues: list[_Cue] = []
    current: _Cue | None = None
    loose: list[tuple[int, str]] = []  # non-blank lines outside any cue since the last blank line
    skipping = False  # inside a cue whose timing line could not be read
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        timing = _TIMING.match(line) if "-" in line and ">" in line else None
        if not timing and "-->" in line:
            defects.add("cue(s) with an unreadable timing line skipped", number)
            current, loose, skipping = None, [], True
            continue
        if timing:
            skipping = False
            ident = None
            if current is not None:
                # A cue ran straight into the next timing line: no blank line in between. A number as its
                # last line is the next cue's index, not text.
                defects.add("missing blank line(s) between cues", number)
                if current.lines and current.lines[-1].isdigit():
                    ident = current.lines.pop()
            elif loose:
                ident = loose.pop()[1]
                _report_loose(loose, fmt, defects)
            loose = []
            g = timing.groups()
            current = _Cue(number, parse_timestamp(*g[0:4]), parse_timestamp(*g[4:8]), ident)
            cues.append(current)
            continue
        if not line:
            current, skipping = None, False
            _report_loose(loose, fmt, defects)
            loose = []
            continue
        if current is not None:
            current.lines.append(line)
        elif not skipping:
            loose.append((number, line))
    _report_loose(loose, fmt, defects)
    return cues


def _report_loose(loose: list[tuple[int, str]], fmt: str, defects: _Defects) -> None:
    # Lines outside cues: VTT header, NOTE/STYLE/REGION blocks are legitimate; anything else is noise.
    if not loose:
        return
    if fmt == "vtt" and loose[0][1].startswith(_VTT_BLOCKS):
        return
    for number, _line in loose:
        defects.add("line(s) outside any cue skipped", number)


def _segments(cues: list[_Cue], fmt: str, defects: _Defects) -> list[Segment]:
    if fmt == "srt":
        _check_numbering(cues, defects)
    kept: list[tuple[_Cue, str]] = []
    for cue in cues:
        text = clean_text(cue.lines)
        if not text:
            defects.add("empty cue(s) dropped", cue.line)
        elif cue.end_ms < cue.start_ms:
            defects.add("cue(s) ending before they start dropped", cue.line)
        else:
            if cue.end_ms == cue.start_ms:
                defects.add("zero-length cue(s)", cue.line)
            kept.append((cue, text))
    if any(b[0].start_ms < a[0].start_ms for a, b in zip(kept, kept[1:], strict=False)):
        defects.add("cue(s) out of order (sorted by start time)")
        kept.sort(key=lambda item: (item[0].start_ms, item[0].end_ms))
    segments: list[Segment] = []
    latest_end = -1
    for cue, text in kept:
        if segments and (cue.start_ms, cue.end_ms, text) == (
            segments[-1].start_ms,
            segments[-1].end_ms,
            segments[-1].text,
        ):
            defects.add("duplicate cue(s) dropped", cue.line)
            continue
        if cue.start_ms < latest_end:
            defects.add("overlapping cue(s)", cue.line)
        latest_end = max(latest_end, cue.end_ms)
        segments.append(Segment(cue.start_ms, cue.end_ms, text))
    return segments


def _check_numbering(cues: list[_Cue], defects: _Defects) -> None:
    # Gaps are harmless (and appear when a broken cue is skipped); missing, non-numeric or decreasing
    # indexes are reported.
    previous = 0
    for cue in cues:
        if cue.ident is None:
            defects.add("cue(s) without index", cue.line)
        elif not cue.ident.isdigit() or int(cue.ident) <= previous:
            defects.add("cue(s) with a bad index", cue.line)
        if cue.ident is not None and cue.ident.isdigit():
            previous = int(cue.ident)


def clean_text(lines: list[str]) -> str:
    """Cue text as one plain line: markup, override blocks and entities removed, whitespace collapsed."""
    parts = []
    for line in lines:
        line = _ASS_OVERRIDE.sub("", line)
        line = _TAG.sub("", line)
        line = html.unescape(line).replace("\u200e", "").replace("\u200f", "")
        parts.append(line)
    return _SPACES.sub(" ", " ".join(parts)).strip()
