"""Language tags as containers write them (ISO 639-2, B or T form) and as people type them (ISO 639-1).

Only the comparison is needed: "de", "deu" and "ger" must all pick a Matroska track tagged "ger". The table lists
the languages whose 639-1, 639-2/B and 639-2/T codes differ or that people commonly ask for; any other tag is
compared as typed (lower case).
"""

from __future__ import annotations

# 639-1 → (639-2/T, 639-2/B)
_CODES: dict[str, tuple[str, str]] = {
    "ar": ("ara", "ara"),
    "cs": ("ces", "cze"),
    "da": ("dan", "dan"),
    "de": ("deu", "ger"),
    "el": ("ell", "gre"),
    "en": ("eng", "eng"),
    "es": ("spa", "spa"),
    "fa": ("fas", "per"),
    "fi": ("fin", "fin"),
    "fr": ("fra", "fre"),
    "he": ("heb", "heb"),
    "hi": ("hin", "hin"),
    "hu": ("hun", "hun"),
    "it": ("ita", "ita"),
    "ja": ("jpn", "jpn"),
    "ko": ("kor", "kor"),
    "nl": ("nld", "dut"),
    "no": ("nor", "nor"),
    "pl": ("pol", "pol"),
    "pt": ("por", "por"),
    "ro": ("ron", "rum"),
    "ru": ("rus", "rus"),
    "sv": ("swe", "swe"),
    "tr": ("tur", "tur"),
    "uk": ("ukr", "ukr"),
    "zh": ("zho", "chi"),
}
_CANONICAL: dict[str, str] = {}
for _two, (_t, _b) in _CODES.items():
    for _code in (_two, _t, _b):
        _CANONICAL[_code] = _t

UNDETERMINED = "und"


def canonical_language(tag: str | None) -> str:
    """The ISO 639-2/T code for a tag ("de", "ger", "deu", "de-AT" → "deu"); "und" for none."""
    if not tag:
        return UNDETERMINED
    base = tag.strip().lower().replace("_", "-").split("-")[0]
    return _CANONICAL.get(base, base) or UNDETERMINED


def parse_preferences(value: str | None) -> list[str]:
    """ "de, en" → ["deu", "eng"]: a comma-separated preference list, canonical codes, in order."""
    if not value:
        return []
    return [canonical_language(part) for part in value.split(",") if part.strip()]
