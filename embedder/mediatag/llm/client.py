"""A chat-completions client for OpenAI-compatible servers, on httpx.

What it adds over a bare POST: a per-request timeout; retries with exponential backoff (and jitter, honouring
Retry-After) on 429, 5xx, timeouts and dropped connections; structured output through `response_format` with
a downgrade json_schema → json_object → plain text when a server rejects the richer form (llama.cpp, older
Ollama and some hosted gateways each accept a different subset); and token usage on every result.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .config import RESPONSE_FORMATS, LLMConfig

log = logging.getLogger("mediatag.llm")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMError(Exception):
    """A request that did not produce a reply. `transient` errors were retried and may work later."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.attempts = attempts


@dataclass
class ChatResult:
    content: str
    refusal: str | None
    model: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    latency_ms: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _content_text(content: Any) -> str:
    # Some servers return the content as a list of parts, like the request's.
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _rejects_format(resp: httpx.Response) -> bool:
    text = resp.text.lower()
    return resp.status_code in (400, 422, 501) and any(
        w in text for w in ("response_format", "json_schema", "json_object", "structured", "grammar")
    )


def post_once(
    http: httpx.Client, path: str, url: str, timeout_s: float, **kwargs: Any
) -> tuple[httpx.Response | None, str | None]:
    """One POST to an endpoint: (the response, None), or (None, why no response came) for a timeout or a transport
    failure, worded for the user. Shared by every endpoint client's retry loop."""
    try:
        return http.post(path, **kwargs), None
    except httpx.TimeoutException:
        return None, f"no reply within {timeout_s:g} s"
    except httpx.TransportError as e:
        return None, f"cannot reach {url} ({type(e).__name__}: {e})"


def retry_delay(attempt: int, backoff_s: float, max_backoff_s: float, resp: httpx.Response | None) -> float:
    """Seconds to wait before retry `attempt` (0-based): the server's Retry-After (in seconds) when it sends one,
    else exponential backoff with jitter; never more than max_backoff_s. Shared by every endpoint client."""
    if resp is not None:
        after = resp.headers.get("Retry-After", "").strip()
        if after:
            try:
                return min(max(float(after), 0.0), max_backoff_s)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
    base = backoff_s * (2**attempt)
    return min(base * (0.5 + random.random() / 2), max_backoff_s)


class ChatClient:
    def __init__(self, config: LLMConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        if not config.url:
            raise LLMError("no LLM endpoint configured (set MEDIATAG_LLM_URL and MEDIATAG_LLM_MODEL)", transient=False)
        self.config = config
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._http = httpx.Client(
            base_url=config.url + "/",
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            limits=httpx.Limits(max_connections=max(config.concurrency, 1) * 2),
            transport=transport,
        )
        self._format = config.response_format
        self._format_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def response_format(self) -> str:
        return self._format

    def _downgrade(self, used: str) -> bool:
        with self._format_lock:
            if self._format != used:
                return True  # another thread already downgraded; retry with the current one
            i = RESPONSE_FORMATS.index(used)
            if i + 1 >= len(RESPONSE_FORMATS):
                return False
            self._format = RESPONSE_FORMATS[i + 1]
            log.warning("LLM server rejected response_format %s; using %s from now on", used, self._format)
            return True

    def _body(
        self,
        messages: list[dict[str, Any]],
        model: str,
        schema: dict[str, Any] | None,
        fmt: str,
        max_tokens: int,
        temperature: float,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if schema is not None and fmt == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        elif schema is not None and fmt == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        return retry_delay(attempt, self.config.backoff_s, self.config.max_backoff_s, resp)

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        max_retries: int | None = None,
    ) -> ChatResult:
        model = model or self.config.model
        if not model:
            raise LLMError("no model configured (set MEDIATAG_LLM_MODEL)", transient=False)
        retries = self.config.max_retries if max_retries is None else max_retries
        attempt = 0
        started = time.monotonic()
        while True:
            fmt = self._format
            body = self._body(messages, model, schema, fmt, max_tokens, temperature)
            resp, err = post_once(
                self._http, "chat/completions", self.config.url, self.config.timeout_s, content=json.dumps(body)
            )
            if resp is not None:
                if resp.status_code == 200:
                    return self._result(resp, attempt + 1, started)
                if resp.status_code not in RETRY_STATUS:
                    if schema is not None and _rejects_format(resp) and self._downgrade(fmt):
                        continue  # not an attempt: the same question in a form this server accepts
                    hint = " (check MEDIATAG_LLM_API_KEY)" if resp.status_code in (401, 403) else ""
                    raise LLMError(
                        f"LLM server answered HTTP {resp.status_code}{hint}: {resp.text[:300]}",
                        transient=False,
                        status=resp.status_code,
                        attempts=attempt + 1,
                    )
                err = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if attempt >= retries:
                raise LLMError(
                    f"gave up after {attempt + 1} attempts: {err}",
                    transient=True,
                    status=resp.status_code if resp is not None else None,
                    attempts=attempt + 1,
                )
            delay = self._delay(attempt, resp)
            log.info("LLM request failed (%s); retry %d/%d in %.2f s", err, attempt + 1, retries, delay)
            time.sleep(delay)
            attempt += 1

    def _result(self, resp: httpx.Response, attempts: int, started: float) -> ChatResult:
        try:
            data = resp.json()
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise LLMError(
                f"malformed chat-completions reply: {resp.text[:300]}", transient=False, attempts=attempts
            ) from None
        usage = data.get("usage") or {}
        return ChatResult(
            content=_content_text(message.get("content")),
            refusal=message.get("refusal") or None,
            model=str(data.get("model") or ""),
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            attempts=attempts,
            latency_ms=int((time.monotonic() - started) * 1000),
            raw=data,
        )
