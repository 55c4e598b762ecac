"""Decoding text sidecars (subtitles, CSV) written in whatever encoding people actually have.

Order of evidence: a byte-order mark; UTF-16 without a BOM (NUL bytes in every other position); strict UTF-8;
UTF-8 with a few stray bytes (an editor mixed encodings); then legacy single-byte text. For legacy text
charset-normalizer alone is not enough: on short Western European subtitles it prefers cp1250 and turns
"à" into "ŕ" and "è" into "č". Windows-1252 is by far the most common legacy encoding of such files, so it is
taken when it decodes cleanly and reads like a Latin-script language (accented letters are a minority of
letters, inside otherwise ASCII words); everything else (Cyrillic, Greek, CJK, ...) goes to charset-normalizer.
Known limit: Czech or Polish cp1250 text that also reads as plausible cp1252 is decoded as cp1252.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Punctuation that legitimately sits between two letters in Western text ("it’s", "rock–paper").
_INWORD_PUNCTUATION = frozenset("’‘´`·–—-'")


@dataclass(slots=True)
class DecodedText:
    text: str
    encoding: str
    replaced: int = 0  # bytes that could not be decoded and became U+FFFD


def decode_text(data: bytes) -> DecodedText:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom) :], encoding)
    utf16 = _sniff_utf16(data)
    if utf16:
        return _decode(data, utf16)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 127 and ch != "\ufffd")
    if good > bad:
        return DecodedText(lenient, "utf-8", bad)
    return _legacy(data)


def _decode(data: bytes, encoding: str) -> DecodedText:
    text = data.decode(encoding, errors="replace")
    return DecodedText(text, encoding, text.count("\ufffd"))


def _sniff_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even_nuls = sample[0 : 2 * pairs : 2].count(0)
    odd_nuls = sample[1 : 2 * pairs : 2].count(0)
    # ASCII-range text in UTF-16 has a NUL in (nearly) every high byte; real 8-bit text has none.
    if odd_nuls > 0.4 * pairs and even_nuls < 0.05 * pairs:
        return "utf-16-le"
    if even_nuls > 0.4 * pairs and odd_nuls < 0.05 * pairs:
        return "utf-16-be"
    return None


def _legacy(data: bytes) -> DecodedText:
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and _reads_as_latin(text):
        return DecodedText(text, "cp1252")
    best = from_bytes(data).best()
    if best is not None:
        return DecodedText(str(best), best.encoding)
    # Latin-1 maps every byte to a character, so it always "works"; the last resort, not a guess.
    return DecodedText(data.decode("latin-1"), "latin-1")


def _reads_as_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return True
    accented = sum(1 for ch in letters if ord(ch) > 127)
    if accented > 0.3 * len(letters):
        return False  # Cyrillic/Greek/Arabic bytes decoded as cp1252 become runs of accented letters
    # Mis-decoded letters often come out as symbols inside words ("¹" for "ą", "³" for "ł").
    for before, ch, after in zip(text, text[1:], text[2:], strict=False):
        if (
            ord(ch) > 127
            and not ch.isalpha()
            and ch not in _INWORD_PUNCTUATION
            and before.isalpha()
            and after.isalpha()
        ):
            return False
    return True
