"""The service endpoint that SQL's mediatag.suggest_prompts() calls (POST /llm/suggest)."""

from __future__ import annotations

from typing import Any

from .config import LLMConfig
from .suggest import MODALITIES, POLARITIES, suggest


def suggest_request(body: dict[str, Any]) -> dict[str, Any]:
    tag, group = body.get("tag"), body.get("group", "")
    if not isinstance(tag, str) or not tag.strip():
        raise ValueError('"tag" must name the tag')
    per_list = body.get("per_list", 5)
    if not isinstance(per_list, int) or not 1 <= per_list <= 20:
        raise ValueError('"per_list" must be an integer from 1 to 20')
    existing = []
    for e in body.get("existing") or []:
        if not (
            isinstance(e, list) and len(e) == 3 and e[0] in POLARITIES and e[1] in MODALITIES and isinstance(e[2], str)
        ):
            raise ValueError('"existing" must be a list of [polarity, modality, text]')
        existing.append((e[0], e[1], e[2]))
    return suggest(str(group), tag.strip(), existing, per_list, LLMConfig.from_env())
