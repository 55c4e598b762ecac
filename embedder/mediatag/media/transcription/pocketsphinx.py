"""PocketSphinx 5: the offline default. Its PyPI wheel ships the en-US acoustic model, dictionary and 3-gram
language model, so a fresh clone transcribes with nothing downloaded. Measured on espeak-ng speech (bench_asr.py):
good enough to find a video by its words, not to read. English only."""

from __future__ import annotations

import re

import numpy as np

from .base import SpeechSegment, TranscriptionError

FRAMES_PER_SECOND = 100  # PocketSphinx's feature frame rate: word times come in frames
# Fillers and markers the decoder emits between words: <s>, </s>, <sil>, [NOISE], [SPEECH]...
_NON_WORD = re.compile(r"^(<.*>|\[.*\])$")
_VARIANT = re.compile(r"\(\d+\)$")  # alternate pronunciations: "the(2)"


class PocketSphinxEngine:
    name = "pocketsphinx"

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:  # the project installs it; a stripped environment may not have it
            raise TranscriptionError(f"pocketsphinx is not installed ({exc})") from exc
        self._decoder = Decoder(samprate=16000, loglevel="FATAL")

    def transcribe(self, pcm: np.ndarray, language: str | None = None) -> list[SpeechSegment]:
        d = self._decoder
        d.start_utt()
        d.process_raw(np.ascontiguousarray(pcm, dtype=np.int16).tobytes(), full_utt=True)
        d.end_utt()
        words = [(_VARIANT.sub("", s.word), s.start_frame, s.end_frame) for s in d.seg() if not _NON_WORD.match(s.word)]
        if not words:
            return []
        ms = 1000 // FRAMES_PER_SECOND
        text = " ".join(w for w, _, _ in words)
        return [SpeechSegment(words[0][1] * ms, (words[-1][2] + 1) * ms, text, "eng")]

    def close(self) -> None:
        self._decoder = None
