"""Energy-based speech detection: the audio between silences, cut into chunks an engine takes in one call.

Why energy and not a model: it needs nothing downloaded, costs well under 1 % of recognition time, and the
engines here (PocketSphinx above all) do worse on long silences and music beds than on speech alone. A frame is
voiced when its level is above max(FLOOR_DBFS, the quietest 10th percentile seen so far + MARGIN_DB), so a
constant hum or room tone does not count as speech. A chunk closes after CLOSE_SILENCE_MS of silence, or at
max_chunk_s (at its quietest recent frame) so a speaker who never pauses is still cut into engine-sized pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE, AudioBlock

FRAME_MS = 30
FLOOR_DBFS = -45.0
MARGIN_DB = 12.0
PAD_MS = 200  # kept before and after the voiced frames: word onsets and endings are quiet
CLOSE_SILENCE_MS = 700
MIN_VOICED_MS = 150  # a click or a cough alone is not worth an engine call


@dataclass(slots=True)
class SpeechChunk:
    start_ms: float
    pcm: np.ndarray  # int16 mono 16 kHz

    @property
    def seconds(self) -> float:
        return self.pcm.size / SAMPLE_RATE


def speech_chunks(blocks: Iterable[AudioBlock], max_chunk_s: float = 20.0) -> Iterator[SpeechChunk]:
    frame = SAMPLE_RATE * FRAME_MS // 1000
    pad = PAD_MS // FRAME_MS
    close_after = CLOSE_SILENCE_MS // FRAME_MS
    max_frames = int(max_chunk_s * 1000 // FRAME_MS)
    levels: list[float] = []  # every frame's level so far, for the adaptive noise floor
    chunk: list[np.ndarray] = []
    chunk_start = 0.0
    voiced = silent = 0
    history: list[tuple[float, np.ndarray]] = []  # the last `pad` silent frames, the next chunk's lead-in

    def close() -> Iterator[SpeechChunk]:
        nonlocal chunk, voiced, silent
        keep = len(chunk) - max(0, silent - pad)
        if voiced * FRAME_MS >= MIN_VOICED_MS and keep > 0:
            yield SpeechChunk(chunk_start, np.concatenate(chunk[:keep]))
        chunk, voiced, silent = [], 0, 0

    for block in blocks:
        pcm = block.samples
        for i in range(0, pcm.size - frame + 1, frame):
            piece = pcm[i : i + frame]
            t = block.start_ms + i * 1000.0 / SAMPLE_RATE
            level = _dbfs(piece)
            levels.append(level)
            noise = float(np.percentile(levels[-2000:], 10)) if len(levels) > 20 else FLOOR_DBFS - MARGIN_DB
            is_voiced = level > max(FLOOR_DBFS, noise + MARGIN_DB)
            if not chunk:
                if not is_voiced:
                    history = (history + [(t, piece)])[-pad:] if pad else []
                    continue
                chunk_start = history[0][0] if history else t
                chunk = [p for _, p in history]
                history = []
            chunk.append(piece)
            if is_voiced:
                voiced += 1
                silent = 0
            else:
                silent += 1
            if silent >= close_after or len(chunk) >= max_frames:
                yield from close()
    if chunk:
        yield from close()


def _dbfs(piece: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(piece.astype(np.float32) ** 2)))
    return 20.0 * np.log10(max(rms, 1.0) / 32768.0)
