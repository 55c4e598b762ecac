"""Spread of a figure measured on repeated random halves of a small labeled set (bench_label_efficiency.py).

Each split of the photos into a pool half and a held-out half is run both ways; the two directions of one split share
every photo, so a split (the mean of its two directions) is the independent unit. Two 95 % intervals for the mean:

- over splits: Student's t over the splits' values. How well the splits run pin down the figure *for this photo
  set*; it narrows as splits are added.
- corrected (Nadeau & Bengio 2003, "Inference for the generalization error"): the runs' variance inflated by
  1/J + n_held/n_pool (= 1/J + 1 for halves), because runs on overlapping photos are correlated. A conservative
  interval for what another photo set of the same size would give; more splits do not narrow it below ~±2 sd.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import t as student_t


def t_half_width(values: Sequence[float], variance_factor: float | None = None) -> float:
    """Half width of the 95 % t interval of the mean of `values` (nan for fewer than two). The variance of the mean
    is s^2 / n, or s^2 * variance_factor when one is given (the corrected interval)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.shape[0] < 2:
        return float("nan")
    factor = 1.0 / v.shape[0] if variance_factor is None else variance_factor
    return float(student_t.ppf(0.975, v.shape[0] - 1) * np.sqrt(v.var(ddof=1) * factor))


def split_means(values: Sequence[float], splits: Sequence[int]) -> np.ndarray:
    """The mean of the runs of each split (in order of first appearance)."""
    v, s = np.asarray(values, dtype=np.float64), np.asarray(splits)
    return np.array([np.nanmean(v[s == k]) for k in dict.fromkeys(s.tolist())])


def spread(values: Sequence[float], splits: Sequence[int], held_to_pool: float = 1.0) -> tuple[float, float, float]:
    """(mean, half width over splits, corrected half width) of per-run `values` tagged with their split."""
    v = np.asarray(values, dtype=np.float64)
    runs = v[np.isfinite(v)]
    corrected = t_half_width(runs, 1.0 / max(runs.shape[0], 1) + held_to_pool)
    return float(np.nanmean(v)), t_half_width(split_means(v, splits)), corrected
