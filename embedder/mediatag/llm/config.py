"""Configuration of the LLM features, read from the environment of the service process (`mediatag serve`).

MEDIATAG_LLM_URL       base URL of an OpenAI-compatible API, ending in /v1 (vLLM, Ollama, llama.cpp, hosted)
MEDIATAG_LLM_MODEL     chat model for prompt suggestions
MEDIATAG_LLM_API_KEY   sent as `Authorization: Bearer ...` (optional: local servers usually need none)
MEDIATAG_VLM_MODEL     vision model for evaluator ground truth (defaults to MEDIATAG_LLM_MODEL)
Tuning (optional): MEDIATAG_LLM_TIMEOUT (s per request, 60), MEDIATAG_LLM_CONCURRENCY (4), MEDIATAG_LLM_MAX_RETRIES
(4), MEDIATAG_LLM_BACKOFF (first retry delay in s, 1), MEDIATAG_LLM_MAX_BACKOFF (30), MEDIATAG_LLM_RESPONSE_FORMAT
(json_schema | json_object | none; json_schema falls back by itself where a server rejects it),
MEDIATAG_LLM_PRICE_INPUT / MEDIATAG_LLM_PRICE_OUTPUT (USD per million tokens, for the cost line),
MEDIATAG_VLM_IMAGE_SIZE (longest image side sent, 768 px).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlparse

RESPONSE_FORMATS = ("json_schema", "json_object", "none")


class ConfigError(ValueError):
    """A setting is present but unusable; the message names the variable."""


def _number(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={raw} is out of range ({lo:g} to {hi:g})")
    return value


@dataclass(frozen=True)
class LLMConfig:
    url: str | None = None
    model: str | None = None
    api_key: str | None = None
    vlm_model: str | None = None
    timeout_s: float = 60.0
    concurrency: int = 4
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    response_format: str = "json_schema"
    price_input: float | None = None  # USD per million prompt tokens
    price_output: float | None = None  # USD per million completion tokens
    image_size: int = 768
    # Consecutive items that fail even after their retries before a ground-truth run stops (the endpoint is down).
    breaker: int = 8

    @property
    def configured(self) -> bool:
        return bool(self.url and self.model)

    @property
    def vision_model(self) -> str | None:
        return self.vlm_model or self.model

    def with_(self, **changes: object) -> LLMConfig:
        return replace(self, **changes)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_input is None and self.price_output is None:
            return None
        return (prompt_tokens * (self.price_input or 0.0) + completion_tokens * (self.price_output or 0.0)) / 1e6

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMConfig:
        env = os.environ if env is None else env
        url = env.get("MEDIATAG_LLM_URL", "").strip().rstrip("/") or None
        model = env.get("MEDIATAG_LLM_MODEL", "").strip() or None
        vlm = env.get("MEDIATAG_VLM_MODEL", "").strip() or None
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(f"MEDIATAG_LLM_URL={url!r} must be an http(s) URL such as http://127.0.0.1:8000/v1")
            if not (model or vlm):
                raise ConfigError("MEDIATAG_LLM_URL is set but MEDIATAG_LLM_MODEL is not: name the model to use")
        elif model or vlm:
            raise ConfigError("MEDIATAG_LLM_MODEL is set but MEDIATAG_LLM_URL is not: give the base URL ending in /v1")
        fmt = env.get("MEDIATAG_LLM_RESPONSE_FORMAT", "").strip() or "json_schema"
        if fmt not in RESPONSE_FORMATS:
            raise ConfigError(f"MEDIATAG_LLM_RESPONSE_FORMAT={fmt!r}: use one of {', '.join(RESPONSE_FORMATS)}")
        price_in = env.get("MEDIATAG_LLM_PRICE_INPUT", "").strip()
        price_out = env.get("MEDIATAG_LLM_PRICE_OUTPUT", "").strip()
        return cls(
            url=url,
            model=model or vlm,
            api_key=env.get("MEDIATAG_LLM_API_KEY", "").strip() or None,
            vlm_model=vlm,
            timeout_s=_number(env, "MEDIATAG_LLM_TIMEOUT", 60.0, 0.01, 3600),
            concurrency=int(_number(env, "MEDIATAG_LLM_CONCURRENCY", 4, 1, 64)),
            max_retries=int(_number(env, "MEDIATAG_LLM_MAX_RETRIES", 4, 0, 20)),
            backoff_s=_number(env, "MEDIATAG_LLM_BACKOFF", 1.0, 0, 600),
            max_backoff_s=_number(env, "MEDIATAG_LLM_MAX_BACKOFF", 30.0, 0, 3600),
            response_format=fmt,
            price_input=_number(env, "MEDIATAG_LLM_PRICE_INPUT", 0, 0, 1e6) if price_in else None,
            price_output=_number(env, "MEDIATAG_LLM_PRICE_OUTPUT", 0, 0, 1e6) if price_out else None,
            image_size=int(_number(env, "MEDIATAG_VLM_IMAGE_SIZE", 768, 64, 4096)),
        )
