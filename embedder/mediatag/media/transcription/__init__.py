"""Speech to text behind one interface, one file per engine (as Immich lays out models/transcription/).

Engines: 'pocketsphinx' (offline default, installed by `make`), 'faster-whisper' (local CTranslate2 model folder,
optional), 'openai' (any OpenAI-compatible /v1/audio/transcriptions endpoint). `--asr auto` takes the best one
that is usable here: faster-whisper, then the endpoint, then PocketSphinx.
"""

from __future__ import annotations

from collections.abc import Callable

from . import faster_whisper, openai_endpoint
from .base import Engine, SpeechSegment, TranscriptionError
from .pocketsphinx import PocketSphinxEngine
from .run import Transcript, transcribe_file

ENGINES: dict[str, Callable[[], Engine]] = {
    "pocketsphinx": PocketSphinxEngine,
    "faster-whisper": faster_whisper.FasterWhisperEngine,
    "openai": openai_endpoint.OpenAIEndpointEngine,
}
ASR_CHOICES = ("auto", "off", *ENGINES)


def auto_engine_name() -> str:
    """The best engine usable here, by quality: a local Whisper model, then a configured endpoint, then
    PocketSphinx."""
    if faster_whisper.available() is None:
        return "faster-whisper"
    if openai_endpoint.EndpointConfig.from_env().configured:
        return "openai"
    return "pocketsphinx"


def make_engine(asr: str) -> Engine | None:
    """The engine for an --asr value (None for 'off'). Raises TranscriptionError when it cannot be used."""
    if asr == "off":
        return None
    name = auto_engine_name() if asr == "auto" else asr
    if name not in ENGINES:
        raise TranscriptionError(f"unknown speech-to-text engine {asr!r}: use one of {', '.join(ASR_CHOICES)}")
    return ENGINES[name]()


__all__ = [
    "ASR_CHOICES",
    "ENGINES",
    "Engine",
    "SpeechSegment",
    "Transcript",
    "TranscriptionError",
    "auto_engine_name",
    "make_engine",
    "transcribe_file",
]
