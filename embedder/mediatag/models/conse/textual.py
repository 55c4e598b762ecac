"""Prompts for `conse-effnet-lite0`: the MiniLM embedding, padded with zeros over the image-feature part."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import TextEncoder


class ConseTextEncoder:
    """A prompt vector is [MiniLM(prompt) (unit), 0 × feature_dims].

    The zeros make a prompt·image inner product equal the ConSE part alone, so zero-shot ranking is untouched by
    the appended image features, and a classifier trained later starts from the prompt direction in the full space.
    """

    def __init__(self, name: str, text: TextEncoder, feature_dims: int) -> None:
        self.name, self._text, self.feature_dims = name, text, feature_dims
        self.text_dims = text.dim
        self.dim = text.dim + feature_dims

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        if texts:
            out[:, : self.text_dims] = self._text.embed_texts(texts)
        return out
