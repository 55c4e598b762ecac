"""open_clip text tower: prompts into the CLIP image space."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base import encode_unit_rows, to_numpy


class OpenClipTextEncoder:
    """`TextEncoder` over the text tower of an already loaded open_clip model (shared with the visual side)."""

    def __init__(
        self, name: str, model: Any, tokenizer: Any, dim: int, batch_size: int = 256, device: str = "cpu"
    ) -> None:
        self.name, self.dim, self.device = name, dim, device
        self._model, self._tokenizer, self.batch_size = model, tokenizer, batch_size
        self._lock = threading.Lock()  # tokenizers are not re-entrant; calls from the threaded service queue here

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return encode_unit_rows(
                texts,
                self.batch_size,
                self.dim,
                lambda chunk: to_numpy(self._model.encode_text(self._tokenizer(chunk).to(self.device))),
            )
