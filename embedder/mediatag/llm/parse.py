"""Reading model replies: JSON where we asked for it, and what a model writes when it ignores the request.

Servers without structured output (or models that ignore it) wrap JSON in prose or code fences, answer with a bare
"Yes."/"No.", or refuse. These functions take what is usable and name what is not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


class ReplyError(ValueError):
    """The reply cannot be used. `kind` is 'refused' (the model declined) or 'malformed'."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i can(?:no|')t|i cannot|i am unable|i'm unable|i won'?t|as an ai|"
    r"i do not feel comfortable|i'm not able|i am not able)",
    re.I,
)
_YES = {"yes", "true", "y", "applies", "1"}
_NO = {"no", "false", "n", "does not apply", "doesn't apply", "0"}


def extract_json(text: str) -> Any:
    """The first JSON object or array in `text` (whole reply, a fenced block, or embedded in prose)."""
    text = (text or "").strip()
    if not text:
        raise ReplyError("malformed", "empty reply")
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except ValueError:
                continue
    raise ReplyError("malformed", f"no JSON in the reply: {text[:200]!r}")


def check_refusal(text: str, refusal: str | None = None, finish_reason: str | None = None) -> None:
    if refusal:
        raise ReplyError("refused", f"the model refused: {refusal[:300]}")
    if finish_reason == "content_filter":
        raise ReplyError("refused", "the server's content filter stopped the reply")
    if _REFUSAL.match(text or ""):
        raise ReplyError("refused", f"the model refused: {text.strip()[:300]}")


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().strip(".!").lower()
        if v in _YES:
            return True
        if v in _NO:
            return False
    return None


@dataclass(frozen=True)
class Verdict:
    applies: bool
    confidence: float | None
    reason: str | None


def parse_verdict(text: str, refusal: str | None = None, finish_reason: str | None = None) -> Verdict:
    """{"applies": bool, "confidence": 0..1, "reason": str}, or a reply that starts with yes/no."""
    if refusal or finish_reason == "content_filter":
        check_refusal("", refusal, finish_reason)
    try:
        data = extract_json(text)
    except ReplyError:
        data = None
    if isinstance(data, dict):
        for key in ("applies", "answer", "verdict", "tag_applies", "result"):
            if key in data and _as_bool(data[key]) is not None:
                conf = data.get("confidence")
                try:
                    conf = None if conf is None else min(max(float(conf), 0.0), 1.0)
                except (TypeError, ValueError):
                    conf = None
                reason = data.get("reason")
                return Verdict(bool(_as_bool(data[key])), conf, str(reason)[:1000] if reason is not None else None)
    check_refusal(text, refusal, finish_reason)
    first = re.match(r"^\W*([A-Za-z]+)", text or "")
    if first and _as_bool(first.group(1)) is not None:
        return Verdict(bool(_as_bool(first.group(1))), None, (text or "").strip()[:1000])
    raise ReplyError("malformed", f"no yes/no answer in the reply: {(text or '').strip()[:200]!r}")
