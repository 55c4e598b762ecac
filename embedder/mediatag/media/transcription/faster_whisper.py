"""faster-whisper (CTranslate2) with a local model directory: the quality choice where the weights are at hand.

MEDIATAG_ASR_MODEL_DIR names a CTranslate2 Whisper model folder (model.bin, config.json, tokenizer.json,
vocabulary); nothing is fetched from a hub. Runs on the GPU when CTranslate2 sees one (float16), else on the CPU
(int8). Optional: `pip install faster-whisper`; without it or without the folder the engine is unavailable and
`--asr auto` falls back to PocketSphinx.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import SpeechSegment, TranscriptionError


def model_dir() -> Path | None:
    raw = os.environ.get("MEDIATAG_ASR_MODEL_DIR", "").strip()
    return Path(raw).expanduser() if raw else None


def available() -> str | None:
    """None when usable, else why not."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return "faster-whisper is not installed"
    folder = model_dir()
    if folder is None:
        return "MEDIATAG_ASR_MODEL_DIR is not set"
    if not (folder / "model.bin").is_file():
        return f"MEDIATAG_ASR_MODEL_DIR={folder} holds no CTranslate2 model.bin"
    return None


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self) -> None:
        reason = available()
        if reason:
            raise TranscriptionError(reason)
        import ctranslate2
        from faster_whisper import WhisperModel

        gpu = ctranslate2.get_cuda_device_count() > 0
        self._model = WhisperModel(
            str(model_dir()), device="cuda" if gpu else "cpu", compute_type="float16" if gpu else "int8"
        )

    def transcribe(self, pcm: np.ndarray, language: str | None = None) -> list[SpeechSegment]:
        audio = pcm.astype(np.float32) / 32768.0
        segments, info = self._model.transcribe(audio, language=language, vad_filter=False, beam_size=5)
        return [
            SpeechSegment(int(s.start * 1000), int(s.end * 1000), s.text.strip(), info.language)
            for s in segments
            if s.text.strip()
        ]

    def close(self) -> None:
        self._model = None
