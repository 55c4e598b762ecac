"""Photo embeddings cached between bench runs, keyed by model and photo.

The quality bench ingests 3,068 clothing photos; the model call is what makes that take ~10 minutes on a shared
CPU. `CachedVisualEncoder` is passed to the real ingest (IngestOptions.visual_encoder): files are still hashed,
decoded, staged with COPY and moved into place by mediatag.ingest_staged, and the post-ingest work runs as for any
ingest; only a photo whose vector was computed before by the same model skips the model. The key is the model
name and a hash of the decoded pixels (what the model sees), so a changed file is embedded again.

Cache folder: $MEDIATAG_BENCH_CACHE, else ~/.cache/mediatag/bench-embeddings; one .npy per (model, photo).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def cache_root() -> Path:
    configured = os.environ.get("MEDIATAG_BENCH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "mediatag" / "bench-embeddings"


def photo_key(image: Image.Image) -> str:
    """A hash of the decoded photo: its mode, size and pixels."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


class CachedVisualEncoder:
    """A `VisualEncoder` that answers from the cache where it can and asks `encoder` for the rest (storing them)."""

    def __init__(self, encoder, root: Path | None = None) -> None:  # noqa: ANN001 - any VisualEncoder
        self.encoder = encoder
        self.name, self.dim = encoder.name, encoder.dim
        slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in encoder.name)
        self.folder = (root or cache_root()) / slug
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        keys = [photo_key(im) for im in images]
        out = np.zeros((len(images), self.dim), np.float32)
        missing = []
        for i, key in enumerate(keys):
            path = self._path(key)
            if path.is_file():
                out[i] = np.load(path)
            else:
                missing.append(i)
        if missing:
            fresh = np.asarray(self.encoder.embed_images([images[i] for i in missing]), dtype=np.float32)
            for i, vec in zip(missing, fresh, strict=True):
                out[i] = vec
                self.store(keys[i], vec)
        self.hits += len(images) - len(missing)
        self.misses += len(missing)
        return out

    def store(self, key: str, vector: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, np.asarray(vector, dtype=np.float32))
        tmp.replace(path)  # a run stopped mid-write leaves no half vector behind

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.embed_texts(texts)
