"""What every speech-to-text engine offers: 16 kHz mono PCM of one speech chunk in, timed text out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class TranscriptionError(Exception):
    """An engine that cannot transcribe (not installed, misconfigured, an endpoint that keeps failing)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient  # retrying later may work (a timeout, 429, 5xx)


@dataclass(slots=True)
class SpeechSegment:
    start_ms: int  # relative to the chunk handed to the engine
    end_ms: int
    text: str
    language: str | None = None  # as the engine detected it, when it does


class Engine(Protocol):
    name: str  # recorded as the segment source 'asr:<name>'

    def transcribe(self, pcm: np.ndarray, language: str | None = None) -> list[SpeechSegment]:
        """pcm: int16 mono at 16 kHz, one stretch of speech (a few seconds to a few tens of seconds)."""
        ...

    def close(self) -> None: ...
