"""The tag classifier: score(x) = sigmoid(x·w + b), linear so bulk scoring stays in SQL.

Calibration is folded into `w` and `b` (no separate Platt step at scoring time): pgvector's inner product
plus one `1/(1+exp(-z))` per row is all the SQL layer needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .jsonable import jsonable


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function that does not overflow for large |z| (exp of -|z| only), as scipy's expit; numpy's own, so
    a backend's first fit does not import scipy.special (a third of a second, seconds on a busy host)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    out = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out if out.ndim else out[()]  # a number for a number, as a ufunc gives


def logit(p: float) -> float:
    p = min(max(float(p), 1e-12), 1.0 - 1e-12)
    return float(np.log(p / (1.0 - p)))


@dataclass
class Classifier:
    """Weights and bias of one tag's visual classifier plus a JSON-ready training summary."""

    w: np.ndarray
    b: float
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.w = np.asarray(self.w, dtype=np.float64).ravel()
        self.b = float(self.b)

    @property
    def dim(self) -> int:
        return int(self.w.shape[0])

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Log-odds x·w + b for each row of X (n, d) or a single vector (d,).

        float32 input stays float32 for the product (like the halfvec/vector data it came from): converting a
        2,000 x 1,664 sample to float64 costs more than the product itself."""
        X = np.asarray(X)
        if X.dtype != np.float32:
            X = X.astype(np.float64, copy=False)
        return (X @ self.w.astype(X.dtype)).astype(np.float64) + self.b

    def score(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability in [0, 1]; 0.5 is the default threshold."""
        return sigmoid(self.decision(X))

    def to_dict(self) -> dict[str, Any]:
        return {"w": jsonable(self.w), "b": self.b, "summary": jsonable(self.summary)}

    def to_json(self) -> str:
        # allow_nan=False: jsonb would reject NaN anyway; fail here, where the cause is visible.
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, data: str | bytes | dict[str, Any]) -> Classifier:
        """Accept the JSON text (as PL/Python receives jsonb) or an already parsed dict."""
        obj = json.loads(data) if isinstance(data, str | bytes) else data
        return cls(w=np.asarray(obj["w"], dtype=np.float64), b=float(obj["b"]), summary=dict(obj.get("summary") or {}))
