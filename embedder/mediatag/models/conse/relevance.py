"""A prompt as weights over the 1000 ImageNet classes: how strongly each class, if seen, speaks for the prompt.

r_k = exp((c_k - max_j c_j) / tau) + gamma · [class k lies under the prompt's noun in WordNet], then unit L2 norm.
  c_k: cosine of the prompt and "a photo of a {class k}" in MiniLM space after removing the mean class embedding.
       Centring removes what every "a photo of a ..." shares, so "a photo of a person" no longer sits next to
       "photocopier" for the word "photo".
  tau: a sharp softmax-like fall-off: the closest class names carry the weight, far ones ~0 (a linear weight, as in
       plain ConSE, lets hundreds of unrelated classes add noise).
  WordNet: a prompt that names a noun ("dog", "vehicle", "dogs") covers every ImageNet class below it ("dog" →
       118 breeds, most of whose names MiniLM does not relate to "dog").
An image scores r · sqrt(p), a linear function of fixed vectors, so it stays an inner product (see classprob.py).

Two prompt-side refinements, used by `conse-effnet-lite02-wn2` only (`PromptRules`; the earlier model keeps its
vectors): a bare tag name is phrased like the class names ("shoes" → "a photo of a shoes") before MiniLM sees it, and
WordNet's sense is the first one that covers any ImageNet class, over every base form and hyphenation of the phrase
("shoes" → shoe, not the idiom "place, shoes"; "skirt" → the garment, not the flap; "t shirt" → T-shirt).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..base import l2_normalize
from .wordnet import NounHierarchy

# What commonly comes before the noun in a prompt; cut before searching WordNet.
_LEAD = re.compile(
    r"^(?:(?:a|an|the|some)\s+)?(?:(?:close-up\s+)?(?:photo|picture|image|photograph|shot|frame|"
    r"still|snapshot|video)s?\s+(?:of|showing|with)\s+)?(?:(?:a|an|the|some|two|three|several|many)"
    r"\s+)?"
)
# A noun phrase ends where a preposition, conjunction or relative clause starts ("a red car on a street").
_TAIL = re.compile(
    r"\s(?:on|in|at|with|of|near|under|over|by|from|and|or|next|behind|inside|that|which|who|"
    r"while|is|are|sitting|standing|lying|holding|playing|eating|riding|wearing)\s.*$"
)


# A prompt that already says it is a picture ("a photo of ...", "close-up picture showing ...") is kept as written.
_PHRASED = re.compile(
    r"^(?:(?:a|an|the|some)\s+)?(?:close-up\s+)?(?:photo|picture|image|photograph|shot|frame|still|snapshot|video)s?"
    r"\s+(?:of|showing|with)\b"
)
_DETERMINED = re.compile(r"^(?:a|an|the|some|two|three|several|many|\d+)\s")


def phrase_prompt(prompt: str) -> str:
    """A prompt worded the way the class names are embedded ("a photo of a {class}"), so that MiniLM compares like
    with like: "dog" → "a photo of a dog", "two dogs" → "a photo of two dogs"; "a photo of a dog" stays."""
    text = " ".join(prompt.split())
    low = text.lower()
    if _PHRASED.match(low):
        return text
    return f"a photo of {text}" if _DETERMINED.match(low) else f"a photo of a {text}"


def _phrase_words(prompt: str) -> list[str]:
    text = re.sub(r"[^a-z0-9\s-]", " ", prompt.lower())
    text = _LEAD.sub("", " ".join(text.split()))
    return _TAIL.sub("", text).split()


def prompt_noun(prompt: str, wordnet: NounHierarchy) -> str | None:
    """The WordNet lemma a prompt is about ("a photo of two dogs in a park" → "dog"), or None.

    The longest run of the phrase's last words that WordNet knows wins: "a dining table" → dining_table, not table.
    """
    words = _phrase_words(prompt)
    for n in (3, 2, 1):
        if len(words) >= n:
            found = wordnet.base_form("_".join(words[-n:]))
            if found is not None:
                return found
    return None


def prompt_sense(prompt: str, wordnet: NounHierarchy, covers: Callable[[int], bool]) -> int | None:
    """The WordNet synset a prompt is about, chosen among those that `covers` (have ImageNet classes below), or None.

    As in `prompt_noun`, the longest run of the phrase's last words that WordNet knows is the noun, with its words
    joined by "_" or "-" ("t shirt" → t-shirt). Its senses are tried in WordNet's frequency order, for each base form
    in turn ("shoes": the idiom "place, shoes" covers nothing, so shoe; "pants" → pant, the trouser sense), and the
    first one that covers a class wins. A known noun whose senses cover nothing gives None: its classes are unknown,
    not those of a shorter word ("potted plant" is not a lemma, so plant; "hot dog" is, and stays a hot dog).
    """
    words = _phrase_words(prompt)
    for n in (3, 2, 1):
        if len(words) < n:
            continue
        joined = ["_".join(words[-n:]), "-".join(words[-n:])] if n > 1 else [words[-1]]
        forms = [f for j in joined for f in wordnet.base_forms(j)]
        if forms:
            return next((s for f in forms for s in wordnet.senses[f] if covers(s)), None)
    return None


@dataclass(frozen=True)
class PromptRules:
    """How a prompt is read before it becomes class weights. The defaults are `conse-effnet-lite02-wn`'s rules."""

    phrase: bool = False  # True: MiniLM embeds phrase_prompt(prompt) instead of the prompt as written
    covering_sense: bool = False  # True: prompt_sense() picks the WordNet sense; False: the noun's first sense


class ClassRelevance:
    """Prompts → (n, 1000) unit relevance rows, from MiniLM prompt vectors and, where installed, WordNet."""

    def __init__(
        self,
        class_vectors: np.ndarray,
        class_offsets: list[int],
        wordnet: NounHierarchy | None,
        tau: float,
        gamma: float,
        rules: PromptRules = PromptRules(),
    ) -> None:
        self.mean = class_vectors.mean(0)
        self.centred = l2_normalize(class_vectors - self.mean)
        self.wordnet, self.tau, self.gamma, self.rules = wordnet, tau, gamma, rules
        self.class_index = {o: i for i, o in enumerate(class_offsets)}
        # Synsets with at least one ImageNet class at or below them (~1,900): the senses a prompt can usefully mean.
        self.covering = wordnet.above(class_offsets) if wordnet is not None else set()

    def variant(
        self, rules: PromptRules | None = None, gamma: float | None = None, tau: float | None = None
    ) -> ClassRelevance:
        """The same classes and WordNet with other knobs (for benchmarks: no MiniLM call, no file read)."""
        other = copy.copy(self)
        other.rules = self.rules if rules is None else rules
        other.gamma = self.gamma if gamma is None else gamma
        other.tau = self.tau if tau is None else tau
        return other

    def texts_to_embed(self, prompts: list[str]) -> list[str]:
        """What MiniLM embeds for each prompt (its `weights` row takes the result's vectors)."""
        return [phrase_prompt(p) for p in prompts] if self.rules.phrase else list(prompts)

    def sense(self, prompt: str) -> int | None:
        """The WordNet synset whose classes the prompt covers, by the model's rule; None without WordNet or noun."""
        if self.wordnet is None:
            return None
        if self.rules.covering_sense:
            return prompt_sense(prompt, self.wordnet, self.covering.__contains__)
        noun = prompt_noun(prompt, self.wordnet)
        return None if noun is None else self.wordnet.senses[noun][0]

    def classes_below(self, prompt: str) -> list[int]:
        """ImageNet class indices under the prompt's noun (its sense by `sense`); [] without WordNet or noun."""
        synset = self.sense(prompt)
        if synset is None:
            return []
        below = self.wordnet.below(synset)
        return sorted(self.class_index[o] for o in below if o in self.class_index)

    def weights(self, prompts: list[str], prompt_vectors: np.ndarray) -> np.ndarray:
        """Relevance rows for `prompts`, given MiniLM's vectors of `texts_to_embed(prompts)`."""
        sims = l2_normalize(prompt_vectors - self.mean) @ self.centred.T  # (n, 1000)
        r = np.exp((sims - sims.max(1, keepdims=True)) / self.tau)
        if self.gamma:
            for row, prompt in enumerate(prompts):
                r[row, self.classes_below(prompt)] += self.gamma
        return l2_normalize(r)
