"""The PL/Python body of sql/src/preview.sql: spreading the uncertain keyframes a tag shows for labeling
(mediatag._diverse_uncertain)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import sampling
from .vectors import decode_halfvecs


def diverse_uncertain(dim: int, k: int, ids: Sequence[int] | None, scores: Sequence[float], blob: bytes) -> list[int]:
    """mediatag._diverse_uncertain: k of the candidates (ids, their scores and halfvec embeddings) the classifier
    is least sure about, no two alike (sampling.uncertain_diverse)."""
    if not ids:
        return []
    picked = sampling.uncertain_diverse(
        np.array(ids, dtype=np.int64), decode_halfvecs(blob, dim), np.array(scores, dtype=np.float64), k
    )
    return [int(i) for i in picked]
