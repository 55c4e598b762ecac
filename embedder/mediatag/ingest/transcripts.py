"""A file's transcript, from the best source it has: a sidecar, else a text subtitle track inside the container,
else speech to text. Every segment records where it came from (`subtitle:srt`, `embedded:<codec>:<lang>`,
`asr:<engine>`), and the asset's tech records what was tried (`transcript`), so the back-fill
(`mediatag transcribe`) knows which assets still lack a transcript from speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..media import MediaError, find_subtitle_sidecars, parse_subtitles
from ..media.embedded_subtitles import read_embedded_subtitles
from ..media.transcription import Engine, TranscriptionError, make_engine, transcribe_file

# (start_ms, end_ms, text, source, language)
SegmentRow = tuple[int, int, str, str, str | None]


@dataclass(slots=True)
class FileTranscript:
    segments: list[SegmentRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the asset's ingest notes (skipped tracks, ASR problems)
    sidecar_warnings: list[str] = field(default_factory=list)
    sidecar: str | None = None
    record: dict[str, Any] = field(default_factory=dict)  # stored as tech['transcript']
    missing_reason: str | None = None  # why there is no transcript at all


class SpeechToText:
    """The run's speech-to-text engine, made on first use (PocketSphinx takes ~1 s to load) and only if some file
    needs it. An engine that cannot be made is reported once, with its reason, for every file that needed it."""

    def __init__(self, asr: str = "auto", language: str | None = None, progress: bool = False) -> None:
        self.asr = asr
        self.language = language
        self.progress = progress
        self._engine: Engine | None = None
        self.unavailable: str | None = "speech to text is off (--asr off)" if asr == "off" else None

    def engine(self) -> Engine | None:
        if self._engine is None and self.unavailable is None:
            try:
                self._engine = make_engine(self.asr)
            except TranscriptionError as exc:
                self.unavailable = f"no speech-to-text engine ({exc})"
            except Exception as exc:  # noqa: BLE001 - a broken engine install costs transcripts, not the ingest
                self.unavailable = f"speech-to-text engine {self.asr!r} failed to load ({type(exc).__name__}: {exc})"
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def file_transcript(
    path: Path,
    kind: str,
    has_audio: bool,
    stt: SpeechToText,
    *,
    subtitle_lang: str | None = None,
    max_subtitle_bytes: int,
) -> FileTranscript:
    out = FileTranscript()
    if _from_sidecar(path, out, max_subtitle_bytes):
        return out
    if kind == "video" and _from_embedded(path, out, subtitle_lang):
        return out
    transcribe_speech(path, has_audio, stt, out)
    return out


def transcribe_speech(path: Path, has_audio: bool, stt: SpeechToText, out: FileTranscript) -> None:
    """Speech to text into `out`; records the attempt (tech['transcript']['asr']) when it ran to the end."""
    if not has_audio:
        out.missing_reason = "no subtitles and no audio stream"
        out.record = {"source": None, "asr": None, "reason": out.missing_reason}
        return
    engine = stt.engine()
    if engine is None:
        out.missing_reason = stt.unavailable
        out.record = {"source": None, "asr": None, "reason": out.missing_reason}
        return
    result = transcribe_file(path, engine, language=stt.language, progress=stt.progress)
    out.notes.extend(result.notes)
    out.segments = [(s.start_ms, s.end_ms, s.text, result.source, s.language) for s in result.segments]
    out.record = {
        "source": result.source if out.segments else None,
        "segments": len(out.segments),
        # Set only when the whole file was heard: a back-fill redoes files an outage cut short.
        "asr": engine.name if result.complete else None,
        "audio_seconds": round(result.audio_seconds, 2),
        "speech_seconds": round(result.speech_seconds, 2),
        "seconds": round(result.seconds, 2),
    }
    if not out.segments:
        out.missing_reason = result.notes[-1] if result.notes else "no words recognised"


def _from_sidecar(path: Path, out: FileTranscript, max_bytes: int) -> bool:
    for sub in find_subtitle_sidecars(path):
        try:
            parsed = parse_subtitles(sub, max_bytes)
        except MediaError as e:
            # A broken sidecar costs the transcript, not the file.
            out.sidecar_warnings.append(f"{e} (subtitles skipped)")
            continue
        out.sidecar_warnings.extend(f"{sub.name}: {w}" for w in parsed.warnings)
        out.sidecar = sub.name
        source = "subtitle:" + sub.suffix.lstrip(".").lower()
        out.segments = [(s.start_ms, s.end_ms, s.text, source, None) for s in parsed.segments]
        out.record = {"source": source, "segments": len(out.segments)}
        return True  # one subtitle track per file: the first sidecar in the sidecar finder's preference order
    return False


def _from_embedded(path: Path, out: FileTranscript, languages: str | None) -> bool:
    try:
        found = read_embedded_subtitles(path, languages)
    except MediaError as e:
        out.notes.append(f"embedded subtitles unreadable ({e.problem if e.path else e})")
        return False
    out.notes.extend(found.notes)
    if found.track is None or not found.segments:
        return False
    source = found.track.source
    language = found.track.language if found.track.language != "und" else None
    out.segments = [(s.start_ms, s.end_ms, s.text, source, language) for s in found.segments]
    out.record = {"source": source, "segments": len(out.segments), "track": found.track.index}
    return True
