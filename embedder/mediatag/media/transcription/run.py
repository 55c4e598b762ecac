"""One file's speech → transcript segments: decode (PyAV, 16 kHz mono) → skip silence → engine per chunk.

What can go wrong is the asset's note, never the batch's error: no audio stream, audio that does not decode,
silence throughout, an engine that fails on a chunk (a chunk's failure costs that chunk; an endpoint that is down
after its retries stops the file, since every later chunk would wait through the same retries).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..audio import AudioReport, audio_blocks
from ..errors import MediaError
from .base import Engine, TranscriptionError
from .vad import speech_chunks


@dataclass(slots=True)
class TimedText:
    start_ms: int
    end_ms: int
    text: str
    language: str | None = None


@dataclass(slots=True)
class Transcript:
    engine: str
    segments: list[TimedText] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0
    speech_seconds: float = 0.0
    seconds: float = 0.0  # wall time, decoding included
    complete: bool = True  # False when an engine failure stopped the file early

    @property
    def source(self) -> str:
        return f"asr:{self.engine}"

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else 0.0


def transcribe_file(
    path: str | Path,
    engine: Engine,
    *,
    language: str | None = None,
    max_chunk_s: float = 20.0,
    progress: bool = False,
) -> Transcript:
    path = Path(path)
    started = time.perf_counter()
    out = Transcript(engine=engine.name)
    report = AudioReport()
    bar = tqdm(unit="s", desc=f"asr {path.name}", disable=not progress, leave=False)
    try:
        for chunk in speech_chunks(audio_blocks(path, report), max_chunk_s):
            out.speech_seconds += chunk.seconds
            bar.update(round(chunk.seconds))
            try:
                spoken = engine.transcribe(chunk.pcm, language)
            except TranscriptionError as exc:
                if exc.transient:
                    out.complete = False
                    out.notes.append(f"speech to text ({engine.name}) stopped at {chunk.start_ms / 1000:.1f} s: {exc}")
                    break
                raise
            except Exception as exc:  # noqa: BLE001 - an engine's crash on one chunk costs that chunk
                out.notes.append(
                    f"speech to text ({engine.name}) failed at {chunk.start_ms / 1000:.1f} s:"
                    f" {type(exc).__name__}: {exc}"
                )
                continue
            for s in spoken:
                start = int(chunk.start_ms + s.start_ms)
                out.segments.append(TimedText(start, max(start, int(chunk.start_ms + s.end_ms)), s.text, s.language))
    except MediaError as exc:
        out.notes.append(f"no transcript from speech: {exc.problem if exc.path else exc}")
    finally:
        bar.close()
    out.audio_seconds = report.seconds
    out.notes.extend(report.warnings)
    if out.audio_seconds and not out.speech_seconds:
        out.notes.append("no speech found (the audio is silent or below the speech level)")
    out.seconds = time.perf_counter() - started
    return out
