"""Moving vectors between Postgres and numpy inside PL/Python.

Rows are fetched as one bytea of concatenated `halfvec_send()` records (2-byte dim, 2 unused bytes, then
big-endian float16 values): one Python object for a whole matrix instead of millions of floats.
"""

from __future__ import annotations

import numpy as np


def decode_halfvecs(blob: bytes | None, dim: int) -> np.ndarray:
    """Decode concatenated halfvec_send() records of one dimension into a float32 (n, dim) matrix."""
    if not blob:
        return np.zeros((0, dim), dtype=np.float32)
    rec = 4 + 2 * dim
    if len(blob) % rec:
        raise ValueError(f"halfvec blob of {len(blob)} bytes is not a whole number of {dim}-d records")
    raw = np.frombuffer(blob, dtype=np.uint8).reshape(-1, rec)[:, 4:]
    return np.ascontiguousarray(raw).view(">f2").astype(np.float32)


def parse_vector(text: str | None) -> np.ndarray | None:
    """pgvector's text form '[1,2,3]' → float32 array."""
    if text is None:
        return None
    return np.array(text.strip("[]").split(","), dtype=np.float32)


def format_vector(v: np.ndarray) -> str:
    """float array → pgvector text form; 7 significant digits is what float32 holds."""
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, dtype=np.float64).ravel()) + "]"
