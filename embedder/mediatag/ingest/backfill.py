"""`mediatag transcribe DATASET`: speech to text for videos and audio already ingested without a transcript.

Resumable: each asset's segments, embeddings and the record of the attempt are committed together, and the
targets are read from the database (mediatag._transcription_targets), so a killed run redoes only the assets it
had not committed. Incremental: every committed asset queues its rescoring for the groups applied to the dataset
(mediatag._queue_transcript_scoring), in the same transaction, so transcript tags see the new segments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from pgvector import HalfVector
from tqdm import tqdm

from ..models.registry import get_text_encoder
from .pipeline import _build_indexes, copy_segments
from .transcripts import FileTranscript, SpeechToText, transcribe_speech


@dataclass(slots=True)
class BackfillSummary:
    dataset: str
    targets: int = 0
    transcribed: int = 0  # assets that got segments
    segments: int = 0
    without_speech: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    unfinished: int = 0  # cut short (an endpoint outage): the next run tries them again
    scoring_jobs: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def render(self) -> str:
        rtf = self.seconds / self.audio_seconds if self.audio_seconds else 0.0
        lines = [
            f"dataset {self.dataset}: {self.transcribed} of {self.targets} file(s) transcribed,"
            f" {self.segments} segments, {self.audio_seconds:.0f} s of audio in {self.seconds:.1f} s"
            f" (real-time factor {rtf:.2f})"
        ]
        if self.unfinished:
            lines.append(f"  unfinished (run again to continue): {self.unfinished}")
        if self.scoring_jobs:
            lines.append(f"  scoring queued for applied tag groups: {self.scoring_jobs}")
        for p, why in self.without_speech:
            lines.append(f"  no transcript: {Path(p).name} ({why})")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def transcribe_dataset(
    conn: psycopg.Connection,
    dataset: str,
    *,
    asr: str = "auto",
    language: str | None = None,
    progress: bool = True,
    text_encoder: object | None = None,
    limit: int | None = None,
) -> BackfillSummary:
    """Transcribes the dataset's pending assets (at most `limit`), committing one asset at a time."""
    started = time.monotonic()
    summary = BackfillSummary(dataset=dataset)
    dataset_id, text_model = conn.execute(
        "SELECT id, text_model FROM mediatag.dataset WHERE id = mediatag.dataset_id(%s)", (dataset,)
    ).fetchone()
    targets = conn.execute("SELECT * FROM mediatag._transcription_targets(%s)", (dataset_id,)).fetchall()
    conn.commit()
    if limit is not None:
        targets = targets[:limit]
    summary.targets = len(targets)
    stt = SpeechToText(asr, language, progress=False)
    text = text_encoder
    try:
        for asset_id, path, _kind, has_audio in tqdm(targets, unit="file", disable=not progress, desc="transcribe"):
            found = FileTranscript()
            if not Path(path).is_file():
                found.missing_reason = "file not found"
                found.notes.append("speech to text: the file is gone from its path")
                found.record = {"source": None, "asr": None, "reason": found.missing_reason}
            else:
                transcribe_speech(Path(path), has_audio, stt, found)
            if found.segments and text is None:
                text = get_text_encoder(text_model)
            _store(conn, dataset_id, asset_id, found, text, summary)
            summary.audio_seconds += float(found.record.get("audio_seconds") or 0.0)
            if found.record.get("asr") is None and has_audio and stt.unavailable is None:
                summary.unfinished += 1
            if not found.segments:
                summary.without_speech.append((path, found.missing_reason or "no words recognised"))
    finally:
        stt.close()
    if stt.unavailable:
        summary.warnings.append(stt.unavailable)
    if summary.segments:
        _build_indexes(conn, dataset, summary)  # the dataset's first transcripts need their HNSW index
    summary.seconds = time.monotonic() - started
    return summary


def _store(
    conn: psycopg.Connection, dataset_id: int, asset_id: int, found: FileTranscript, text, summary: BackfillSummary
) -> None:
    with conn.transaction():
        if found.segments:
            vectors = np.asarray(text.embed_texts([s[2] for s in found.segments]), dtype=np.float32)
            if vectors.shape != (len(found.segments), text.dim) or not np.all(np.isfinite(vectors)):
                raise ValueError(f"the text model returned {vectors.shape} values for {len(found.segments)} segments")
            rows = [
                (dataset_id, asset_id, i, start, end, words, source, lang, HalfVector(v))
                for i, ((start, end, words, source, lang), v) in enumerate(zip(found.segments, vectors, strict=True))
            ]
            copy_segments(conn, rows)
        conn.execute(
            "SELECT mediatag._record_transcription(%s, %s::jsonb, %s::text[])",
            (asset_id, psycopg.types.json.Jsonb(found.record), found.notes),
        )
        if found.segments:
            summary.scoring_jobs += conn.execute(
                "SELECT mediatag._queue_transcript_scoring(%s, %s::bigint[])", (dataset_id, [asset_id])
            ).fetchone()[0]
            summary.transcribed += 1
            summary.segments += len(found.segments)
