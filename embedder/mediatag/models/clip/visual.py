"""open_clip image tower, with its own text tower for prompts (one model load serves both)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..base import configure_torch_threads, encode_unit_rows, to_numpy, torch_device
from . import load
from .textual import OpenClipTextEncoder

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("mediatag.models")


class OpenClipVisualEncoder:
    """`VisualEncoder` for any open_clip architecture/pretrained pair; images and prompts are unit vectors."""

    def __init__(self, spec: str, batch_size: int = 32) -> None:
        import torch

        configure_torch_threads()
        self.name, self.batch_size = spec, batch_size
        self.device = torch_device()
        self._model, self._preprocess, tokenizer = load(spec, self.device)
        with torch.inference_mode():
            probe = self._model.encode_text(tokenizer(["a photo"]).to(self.device))
        self.dim = int(probe.shape[-1])
        self.text = OpenClipTextEncoder(spec, self._model, tokenizer, self.dim, device=self.device)
        log.info("visual model %s loaded (dim %d)", spec, self.dim)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        def encode(chunk: list[Image.Image]) -> np.ndarray:
            x = torch.stack([self._preprocess(im.convert("RGB")) for im in chunk]).to(self.device)
            return to_numpy(self._model.encode_image(x))

        return encode_unit_rows(images, self.batch_size, self.dim, encode)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.text.embed_texts(texts)
