"""open_clip text tower: prompts into the CLIP image space."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base import batched, l2_normalize


class OpenClipTextEncoder:
    """`TextEncoder` over the text tower of an already loaded open_clip model (shared with the visual side)."""

    def __init__(self, name: str, model: Any, tokenizer: Any, dim: int, batch_size: int = 256) -> None:
        self.name, self.dim = name, dim
        self._model, self._tokenizer, self.batch_size = model, tokenizer, batch_size
        self._lock = threading.Lock()  # tokenizers are not re-entrant; calls from the threaded service queue here

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with self._lock, torch.inference_mode():
            for chunk in batched(list(texts), self.batch_size):
                out.append(self._model.encode_text(self._tokenizer(list(chunk))).float().numpy())
        return l2_normalize(np.concatenate(out))
