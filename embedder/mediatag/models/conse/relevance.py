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
"""

from __future__ import annotations

import re

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


def prompt_noun(prompt: str, wordnet: NounHierarchy) -> str | None:
    """The WordNet lemma a prompt is about ("a photo of two dogs in a park" → "dog"), or None.

    The longest run of the phrase's last words that WordNet knows wins: "a dining table" → dining_table, not table.
    """
    text = re.sub(r"[^a-z0-9\s-]", " ", prompt.lower())
    text = _LEAD.sub("", " ".join(text.split()))
    text = _TAIL.sub("", text)
    words = text.split()
    for n in (3, 2, 1):
        if len(words) >= n:
            found = wordnet.base_form("_".join(words[-n:]))
            if found is not None:
                return found
    return None


class ClassRelevance:
    """Prompts → (n, 1000) unit relevance rows, from MiniLM prompt vectors and, where installed, WordNet."""

    def __init__(
        self,
        class_vectors: np.ndarray,
        class_offsets: list[int],
        wordnet: NounHierarchy | None,
        tau: float,
        gamma: float,
    ) -> None:
        self.mean = class_vectors.mean(0)
        self.centred = l2_normalize(class_vectors - self.mean)
        self.wordnet, self.tau, self.gamma = wordnet, tau, gamma
        self.class_index = {o: i for i, o in enumerate(class_offsets)}

    def classes_below(self, prompt: str) -> list[int]:
        """ImageNet class indices under the prompt's noun (its most frequent sense); [] without WordNet or noun."""
        if self.wordnet is None:
            return []
        noun = prompt_noun(prompt, self.wordnet)
        if noun is None:
            return []
        below = self.wordnet.below(self.wordnet.senses[noun][0])
        return sorted(self.class_index[o] for o in below if o in self.class_index)

    def weights(self, prompts: list[str], prompt_vectors: np.ndarray) -> np.ndarray:
        sims = l2_normalize(prompt_vectors - self.mean) @ self.centred.T  # (n, 1000)
        r = np.exp((sims - sims.max(1, keepdims=True)) / self.tau)
        if self.gamma:
            for row, prompt in enumerate(prompts):
                r[row, self.classes_below(prompt)] += self.gamma
        return l2_normalize(r)
