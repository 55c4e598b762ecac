"""Prompt suggestions for a tag: positive and negative prompts per modality, from the configured LLM or WordNet.

Visual prompts describe what a keyframe shows ("a dark hallway lit by a flashlight"); transcript prompts are things
people say ("did you hear that?"). Negatives are near misses that should not get the tag. Suggestions that repeat a
prompt the tag already has, or each other, are dropped (compared case-, space- and punctuation-insensitively).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .client import ChatClient, LLMError
from .config import LLMConfig
from .parse import ReplyError, check_refusal, extract_json

log = logging.getLogger("mediatag.llm")
POLARITIES = ("positive", "negative")
MODALITIES = ("visual", "transcript")
MAX_PROMPT = 2000  # tag_prompt.text's limit


@dataclass(frozen=True)
class Suggestion:
    polarity: str
    modality: str
    prompt: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def dedupe(suggestions: Iterable[Suggestion], existing: Iterable[tuple[str, str, str]] = ()) -> list[Suggestion]:
    """Drop empty and over-long prompts, those the tag has already (same modality), and repeats."""
    seen = {(m, _key(t)) for _, m, t in existing}
    out = []
    for s in suggestions:
        text = re.sub(r"\s+", " ", s.prompt).strip().strip('"').strip()
        k = (s.modality, _key(text))
        if not k[1] or len(text) > MAX_PROMPT or k in seen:
            continue
        seen.add(k)
        out.append(Suggestion(s.polarity, s.modality, text, s.source))
    return out


def _schema() -> dict[str, Any]:
    # No minItems/maxItems: strict structured-output modes reject them; the count is asked for in words and cut here.
    lst = {"type": "array", "items": {"type": "string"}}
    pair = {
        "type": "object",
        "properties": {"positive": lst, "negative": lst},
        "required": ["positive", "negative"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"visual": pair, "transcript": pair},
        "required": ["visual", "transcript"],
        "additionalProperties": False,
    }


SYSTEM = (
    "You write search prompts for a video library's custom tags. Visual prompts describe what a single video frame "
    "or photo shows, as a short caption (e.g. 'a dark hallway lit by a flashlight'). Transcript prompts are short "
    "lines people would actually say in the audio (e.g. 'did you hear that?'). Positive prompts match the tag; "
    "negative prompts are near misses that look or sound related but should NOT get the tag. Reply with JSON only."
)


def _messages(group: str, tag: str, existing: list[tuple[str, str, str]], per_list: int) -> list[dict[str, Any]]:
    have = "\n".join(f"- {m} {p}: {t}" for p, m, t in existing) or "(none)"
    user = (
        f'Tag group: "{group}"\nTag: "{tag}"\nPrompts the tag already has (do not repeat them):\n{have}\n\n'
        f"Write {per_list} new positive and {per_list} new negative prompts for each modality, as JSON of the form "
        '{"visual": {"positive": [...], "negative": [...]}, "transcript": {"positive": [...], "negative": [...]}}.'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_suggestions(data: Any, source: str) -> list[Suggestion]:
    """The schema's nested form, or a flat list of {polarity, modality, prompt} that some models write instead."""
    out: list[Suggestion] = []
    if isinstance(data, dict):
        for modality in MODALITIES:
            block = data.get(modality) or data.get("speech" if modality == "transcript" else "image") or {}
            if not isinstance(block, dict):
                continue
            for polarity in POLARITIES:
                items = block.get(polarity) or []
                if isinstance(items, str):
                    items = [items]
                out += [Suggestion(polarity, modality, str(t), source) for t in items if isinstance(t, (str, int))]
        if not out and isinstance(data.get("prompts"), list):
            data = data["prompts"]
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and item.get("polarity") in POLARITIES and item.get("modality") in MODALITIES:
                text = item.get("prompt") or item.get("text")
                if isinstance(text, str):
                    out.append(Suggestion(item["polarity"], item["modality"], text, source))
    if not out:
        raise ReplyError("malformed", f"no prompts in the reply: {str(data)[:200]}")
    return out


def llm_suggestions(
    config: LLMConfig,
    group: str,
    tag: str,
    existing: list[tuple[str, str, str]],
    per_list: int = 5,
    client: ChatClient | None = None,
) -> list[Suggestion]:
    own = client is None
    client = client or ChatClient(config)
    try:
        # Interactive (SQL waits on it): fewer retries than a background job.
        res = client.chat(
            _messages(group, tag, existing, per_list),
            schema=_schema(),
            max_tokens=1200,
            temperature=0.7,
            max_retries=min(config.max_retries, 2),
        )
    finally:
        if own:
            client.close()
    try:
        data = extract_json(res.content)
    except ReplyError:
        check_refusal(res.content, res.refusal, res.finish_reason)
        raise
    source = f"llm:{res.model or config.model}"
    got = dedupe(parse_suggestions(data, source), existing)
    # A model asked for n per list sometimes writes more; keep the first n of each.
    counts: dict[tuple[str, str], int] = {}
    kept = []
    for s in got:
        k = (s.polarity, s.modality)
        counts[k] = counts.get(k, 0) + 1
        if counts[k] <= per_list:
            kept.append(s)
    return kept


def suggest(
    group: str, tag: str, existing: list[tuple[str, str, str]], per_list: int = 5, config: LLMConfig | None = None
) -> dict[str, Any]:
    """What the service answers: suggestions, the source that made them, and a warning when the LLM failed."""
    from .wordnet import wordnet_suggestions

    config = config or LLMConfig.from_env()
    warning = None
    if config.configured:
        try:
            got = llm_suggestions(config, group, tag, existing, per_list)
            return {
                "suggestions": [s.as_dict() for s in got],
                "source": got[0].source if got else f"llm:{config.model}",
                "warning": None,
            }
        except (LLMError, ReplyError) as e:
            warning = f"the LLM at {config.url} gave no usable suggestions ({e}); these come from WordNet instead"
            log.warning("%s", warning)
    got = wordnet_suggestions(tag, existing, per_list)
    return {"suggestions": [s.as_dict() for s in got], "source": "wordnet", "warning": warning}
