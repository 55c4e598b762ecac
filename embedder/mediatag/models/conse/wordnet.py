"""WordNet 3.0 noun hierarchy, read from the database files of Debian's `wordnet-base` (/usr/share/wordnet).

ImageNet-1k classes are WordNet 3.0 noun synsets (their ids are "n" + the synset's offset in data.noun), so the
classes a query noun covers are exactly the ImageNet synsets below the noun's synset: "dog" → the 118 breeds,
"vehicle" → every car, bus and boat class. Only what that needs is parsed: synset offsets, hypernym links, lemma
names, and the noun index with its sense order; plurals are reduced with WordNet's exception list and suffix rules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

DEFAULT_DIR = Path("/usr/share/wordnet")
# WordNet's "morphy" suffix rules for nouns (plural → singular), tried in order after the exception list.
_NOUN_SUFFIXES = (
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("s", ""),
)


def wordnet_dir() -> Path | None:
    """MEDIATAG_WORDNET_DIR, else Debian's location; None where the noun database is not installed."""
    root = Path(os.environ.get("MEDIATAG_WORDNET_DIR") or DEFAULT_DIR)
    return root if (root / "data.noun").is_file() and (root / "index.noun").is_file() else None


class NounHierarchy:
    """Hyponym closure of WordNet nouns. `senses[lemma]` lists a lemma's synset offsets, most frequent sense first."""

    def __init__(self, root: Path) -> None:
        self.children: dict[int, list[int]] = {}
        self.lemmas: dict[int, list[str]] = {}
        with open(root / "data.noun", encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):  # the licence header
                    continue
                fields = line.split(" | ", 1)[0].split()
                offset, n_words = int(fields[0]), int(fields[3], 16)
                self.lemmas[offset] = [fields[4 + 2 * i].lower() for i in range(n_words)]
                i = 4 + 2 * n_words
                for p in range(int(fields[i])):
                    symbol, target, pos = fields[i + 1 + 4 * p : i + 4 + 4 * p]
                    if symbol in ("@", "@i") and pos == "n":  # hypernym / instance hypernym
                        self.children.setdefault(int(target), []).append(offset)
        self.senses: dict[str, list[int]] = {}
        with open(root / "index.noun", encoding="latin-1") as fh:
            for line in fh:
                if not line.startswith("  "):
                    fields = line.split()
                    self.senses[fields[0]] = [int(x) for x in fields[-int(fields[2]) :]]
        self.exceptions: dict[str, str] = {}
        exc = root / "noun.exc"
        if exc.is_file():
            for line in exc.read_text(encoding="latin-1").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    self.exceptions.setdefault(parts[0], parts[1])

    def base_form(self, word: str) -> str | None:
        """The WordNet noun lemma for `word` ("dogs" → "dog", "people" → "people", "mice" → "mouse"), or None."""
        forms = self.base_forms(word)
        return forms[0] if forms else None

    def base_forms(self, word: str) -> list[str]:
        """Every WordNet noun lemma `word` can be, the word itself first: "shoes" → ["shoes", "shoe"] ("shoes" is
        also a lemma, of "place, shoes": in his shoes), "pants" → ["pants", "pant"], "mice" → ["mouse"]."""
        w = re.sub(r"\s+", "_", word.strip().lower())
        forms = [w] if w in self.senses else []
        if w in self.exceptions and self.exceptions[w] in self.senses:
            forms.append(self.exceptions[w])
        for suffix, repl in _NOUN_SUFFIXES:
            if w.endswith(suffix) and (w[: len(w) - len(suffix)] + repl) in self.senses:
                forms.append(w[: len(w) - len(suffix)] + repl)
        return list(dict.fromkeys(forms))

    def above(self, offsets: Iterable[int]) -> set[int]:
        """The synsets and every synset above any of them (all their hypernyms, up to "entity")."""
        parents: dict[int, list[int]] = {}
        for parent, kids in self.children.items():
            for kid in kids:
                parents.setdefault(kid, []).append(parent)
        found, stack = set(), list(offsets)
        while stack:
            o = stack.pop()
            if o not in found:
                found.add(o)
                stack.extend(parents.get(o, ()))
        return found

    def below(self, offset: int) -> set[int]:
        """The synset and every synset under it."""
        found, stack = set(), [offset]
        while stack:
            o = stack.pop()
            if o not in found:
                found.add(o)
                stack.extend(self.children.get(o, ()))
        return found


@lru_cache(maxsize=1)
def load_hierarchy() -> NounHierarchy | None:
    root = wordnet_dir()
    return NounHierarchy(root) if root is not None else None
