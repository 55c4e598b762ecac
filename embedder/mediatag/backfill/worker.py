"""The unit embedder: one model, loaded once, and one database connection; each call embeds whole work units and
writes each back in its own transaction. The same class is the Ray Data actor (map_batches with an actor pool) and
the one-process worker, so both paths run the same code."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..db import connect
from ..media import MediaError, load_image
from .units import unit_inputs
from .writeback import store_vectors


@dataclass(slots=True)
class UnitResult:
    first_id: int
    last_id: int
    stored: int = 0
    failed: list[str] = field(default_factory=list)  # "id: why" of rows that could not be embedded


def _encoder(modality: str, model: str):
    from ..models.registry import get_text_encoder, get_visual_encoder

    return get_visual_encoder(model) if modality == "visual" else get_text_encoder(model)


class UnitEmbedder:
    """Callable on a batch of work units ({"first_id": [...], "last_id": [...]}); returns one result row per unit."""

    def __init__(
        self,
        url: str,
        dataset: str,
        modality: str,
        model: str,
        embed_batch: int = 32,
        env: Mapping[str, str] | None = None,
    ) -> None:
        os.environ.update(env or {})  # a Ray actor gets the driver's model settings (torch threads, model dirs)
        self.dataset, self.modality, self.model, self.embed_batch = dataset, modality, model, embed_batch
        self.encoder = _encoder(modality, model)
        self.conn = connect(url, autocommit=True, setup=False)

    def __call__(self, batch: Mapping[str, Sequence[int]]) -> dict[str, np.ndarray]:
        results = [
            self.run_unit(int(f), int(last)) for f, last in zip(batch["first_id"], batch["last_id"], strict=True)
        ]
        return {
            "first_id": np.array([r.first_id for r in results], dtype=np.int64),
            "last_id": np.array([r.last_id for r in results], dtype=np.int64),
            "stored": np.array([r.stored for r in results], dtype=np.int64),
            "failed": np.array(["\n".join(r.failed) for r in results], dtype=object),
        }

    def run_unit(self, first_id: int, last_id: int) -> UnitResult:
        result = UnitResult(first_id, last_id)
        rows = unit_inputs(self.conn, self.dataset, self.modality, self.model, first_id, last_id)
        ids: list[int] = []
        vectors: list[np.ndarray] = []
        for start in range(0, len(rows), self.embed_batch):
            chunk_ids, inputs = self._inputs(rows[start : start + self.embed_batch], result)
            if chunk_ids:
                ids.extend(chunk_ids)
                vectors.append(self._embed(inputs))
        if ids:
            result.stored = store_vectors(
                self.conn, self.dataset, self.modality, self.model, ids, np.concatenate(vectors)
            )
        return result

    def _inputs(self, rows: Sequence[tuple[int, str]], result: UnitResult) -> tuple[list[int], list]:
        if self.modality != "visual":
            return [r[0] for r in rows], [r[1] for r in rows]
        ids, images = [], []
        for row_id, path in rows:
            try:
                images.append(load_image(path))
                ids.append(row_id)
            except MediaError as e:  # a keyframe image gone or broken: the row stays lacking; the rest goes on
                result.failed.append(f"{row_id}: {e}")
        return ids, images

    def _embed(self, inputs: list) -> np.ndarray:
        if self.modality == "visual":
            out = self.encoder.embed_images(inputs)
        else:
            out = self.encoder.embed_texts(inputs)
        vectors = np.asarray(out, dtype=np.float32)
        if vectors.shape != (len(inputs), self.encoder.dim) or not np.all(np.isfinite(vectors)):
            raise ValueError(f"model {self.model} returned {vectors.shape} values for {len(inputs)} inputs")
        return vectors

    def close(self) -> None:
        self.conn.close()
