"""Any OpenAI-compatible `/v1/audio/transcriptions` endpoint (OpenAI, a local whisper.cpp / faster-whisper-server /
vLLM / LocalAI): the service choice.

MEDIATAG_ASR_URL      base URL ending in /v1
MEDIATAG_ASR_MODEL    model name the server expects (whisper-1, Systran/faster-whisper-small, ...)
MEDIATAG_ASR_API_KEY  sent as `Authorization: Bearer ...` (optional)
Tuning: MEDIATAG_ASR_TIMEOUT (s per request, 120), MEDIATAG_ASR_MAX_RETRIES (4), MEDIATAG_ASR_BACKOFF (first
retry delay in s, 1), MEDIATAG_ASR_MAX_BACKOFF (30).

Each speech chunk is sent as a 16 kHz mono WAV with response_format=verbose_json (segment times and the detected
language); a server that answers plain {"text"} gets one segment spanning the chunk. 429, 5xx, timeouts and
dropped connections are retried with the LLM client's backoff (honouring Retry-After); after the last retry the
chunk's error is a transient TranscriptionError, which costs that asset its transcript, not the batch.
"""

from __future__ import annotations

import io
import logging
import os
import time
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np

from ...llm.client import RETRY_STATUS, post_once, retry_delay
from ...llm.config import ConfigError, _number
from ..audio import SAMPLE_RATE
from .base import SpeechSegment, TranscriptionError

log = logging.getLogger("mediatag.asr")


@dataclass(frozen=True)
class EndpointConfig:
    url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.url and self.model)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EndpointConfig:
        env = os.environ if env is None else env
        url = env.get("MEDIATAG_ASR_URL", "").strip().rstrip("/") or None
        model = env.get("MEDIATAG_ASR_MODEL", "").strip() or None
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(f"MEDIATAG_ASR_URL={url!r} must be an http(s) URL such as http://127.0.0.1:8000/v1")
            if not model:
                raise ConfigError("MEDIATAG_ASR_URL is set but MEDIATAG_ASR_MODEL is not: name the model to use")
        return cls(
            url=url,
            model=model,
            api_key=env.get("MEDIATAG_ASR_API_KEY", "").strip() or None,
            timeout_s=_number(env, "MEDIATAG_ASR_TIMEOUT", 120.0, 0.01, 3600),
            max_retries=int(_number(env, "MEDIATAG_ASR_MAX_RETRIES", 4, 0, 20)),
            backoff_s=_number(env, "MEDIATAG_ASR_BACKOFF", 1.0, 0, 600),
            max_backoff_s=_number(env, "MEDIATAG_ASR_MAX_BACKOFF", 30.0, 0, 3600),
        )


class OpenAIEndpointEngine:
    name = "openai"

    def __init__(self, config: EndpointConfig | None = None, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config or EndpointConfig.from_env()
        if not self.config.configured:
            raise TranscriptionError(
                "no transcription endpoint configured (set MEDIATAG_ASR_URL and MEDIATAG_ASR_MODEL)"
            )
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        self._http = httpx.Client(
            base_url=self.config.url + "/",
            headers=headers,
            timeout=httpx.Timeout(self.config.timeout_s),
            transport=transport,
        )
        self.requests = 0  # HTTP requests made, retries included (the bench and tests read it)

    def close(self) -> None:
        self._http.close()

    def transcribe(self, pcm: np.ndarray, language: str | None = None) -> list[SpeechSegment]:
        data: dict[str, Any] = {"model": self.config.model, "response_format": "verbose_json"}
        if language:
            data["language"] = language
        files = {"file": ("speech.wav", _wav(pcm), "audio/wav")}
        reply = self._post(data, files)
        return _segments(reply, pcm.size * 1000 // SAMPLE_RATE)

    def _post(self, data: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        retries = self.config.max_retries
        attempt = 0
        while True:
            self.requests += 1
            resp, err = post_once(
                self._http, "audio/transcriptions", self.config.url, self.config.timeout_s, data=data, files=files
            )
            if resp is not None:
                if resp.status_code == 200:
                    try:
                        body = resp.json()
                    except ValueError:
                        raise TranscriptionError(f"malformed transcription reply: {resp.text[:200]}") from None
                    if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
                        raise TranscriptionError(f"malformed transcription reply: {resp.text[:200]}")
                    return body
                if resp.status_code not in RETRY_STATUS:
                    hint = " (check MEDIATAG_ASR_API_KEY)" if resp.status_code in (401, 403) else ""
                    raise TranscriptionError(
                        f"transcription endpoint answered HTTP {resp.status_code}{hint}: {resp.text[:200]}"
                    )
                err = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if attempt >= retries:
                raise TranscriptionError(
                    f"transcription endpoint: gave up after {attempt + 1} attempts: {err}", transient=True
                )
            delay = retry_delay(attempt, self.config.backoff_s, self.config.max_backoff_s, resp)
            log.info("transcription request failed (%s); retry %d/%d in %.2f s", err, attempt + 1, retries, delay)
            time.sleep(delay)
            attempt += 1


def _wav(pcm: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.ascontiguousarray(pcm, dtype=np.int16).tobytes())
    return buf.getvalue()


def _segments(reply: dict[str, Any], chunk_ms: int) -> list[SpeechSegment]:
    language = reply.get("language") if isinstance(reply.get("language"), str) else None
    out = []
    for s in reply.get("segments") or []:
        try:
            text = str(s["text"]).strip()
            start, end = int(float(s["start"]) * 1000), int(float(s["end"]) * 1000)
        except (KeyError, TypeError, ValueError):
            continue
        if text:
            out.append(SpeechSegment(max(0, start), max(start, min(end, chunk_ms)), text, language))
    if not out and reply.get("text", "").strip():
        out.append(SpeechSegment(0, chunk_ms, reply["text"].strip(), language))
    return out
