"""Threshold metrics for the evaluator, vectorised: one sort, cumulative sums, no loop over thresholds.

A keyframe is predicted positive when score >= threshold.
Conventions for empty denominators: precision is 1.0 when nothing is predicted (the usual end point of a
precision/recall curve; `predicted` says when that happens), recall is 0.0 when there are no positives,
F-scores are 0.0 when there is nothing to count.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

METRICS = ("f1", "f05", "precision", "recall", "accuracy")
# best_threshold ignores thresholds that predict fewer positives than this when maximising precision:
# a threshold that keeps one lucky keyframe has precision 1.0 and means nothing.
MIN_PREDICTED_FOR_PRECISION = 5


def default_thresholds() -> np.ndarray:
    return np.round(np.linspace(0.0, 1.0, 101), 2)


def _inputs(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=bool).ravel()
    if s.shape != t.shape:
        raise ValueError(f"scores {s.shape} and truth {t.shape} differ in length")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s, t


def confusion_counts(scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """tp, fp, fn, tn per threshold as int64 arrays."""
    s, t = _inputs(scores, truth)
    thr = np.asarray(thresholds, dtype=np.float64).ravel()
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    pos_below = np.concatenate([[0], np.cumsum(t[order], dtype=np.int64)])
    n_below = np.searchsorted(s_sorted, thr, side="left")  # keyframes with score < threshold
    n_pos = int(pos_below[-1])
    n = s.shape[0]
    tp = n_pos - pos_below[n_below]
    fp = (n - n_below) - tp
    fn = n_pos - tp
    tn = (n - n_pos) - fp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    return np.divide(num, den, out=np.full(num.shape, empty), where=den > 0)


def _metric_arrays(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    beta2 = 0.25  # F0.5 weighs precision twice as much as recall
    return {
        "precision": _ratio(tp, tp + fp, 1.0),
        "recall": _ratio(tp, tp + fn, 0.0),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, 0.0),
        "f05": _ratio((1 + beta2) * tp, (1 + beta2) * tp + beta2 * fn + fp, 0.0),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn, 0.0),
        "predicted": tp + fp,
    }


def threshold_metrics(scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray | None = None) -> dict:
    """Per-threshold precision, recall, f1, f05, accuracy, tp, fp, fn, tn (plus `predicted`), as JSON-ready
    lists aligned with `thresholds` (default 0.00 .. 1.00 step 0.01), and n, n_pos, auc, average_precision."""
    thr = default_thresholds() if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    s, t = _inputs(scores, truth)
    counts = confusion_counts(s, t, thr)
    out: dict = {"thresholds": thr.tolist()}
    out.update({k: v.tolist() for k, v in _metric_arrays(counts).items()})
    out.update({k: v.tolist() for k, v in counts.items()})
    out.update({"n": int(s.shape[0]), "n_pos": int(t.sum())})
    out.update({"auc": roc_auc(s, t), "average_precision": average_precision(s, t)})
    return out


def best_threshold(
    scores: np.ndarray,
    truth: np.ndarray,
    metric: str = "f1",
    thresholds: np.ndarray | None = None,
    min_predicted: int = MIN_PREDICTED_FOR_PRECISION,
) -> tuple[float, float]:
    """(threshold, value) maximising `metric`; ties go to the threshold nearest 0.5 (the calibrated default),
    and for precision thresholds predicting fewer than `min_predicted` positives are skipped (unless none
    predicts that many)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    thr = default_thresholds() if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    arrays = _metric_arrays(confusion_counts(scores, truth, thr))
    values = arrays[metric]
    valid = np.ones(thr.shape[0], dtype=bool)
    if metric == "precision":
        enough = arrays["predicted"] >= min_predicted
        if enough.any():
            valid = enough
    best = values[valid].max()
    # Tolerance: values computed from different counts can differ in the last bit only.
    tied = valid & (values >= best - 1e-12)
    idx = np.flatnonzero(tied)
    pick = idx[np.argmin(np.abs(thr[idx] - 0.5))]
    return float(thr[pick]), float(values[pick])


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half) via the rank-sum statistic; None with a single class."""
    s, t = _inputs(scores, truth)
    n_pos = int(t.sum())
    n_neg = t.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """Mean of the precision at each positive's rank, ties resolved as one block (like sklearn)."""
    s, t = _inputs(scores, truth)
    n_pos = int(t.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s_desc = s[order]
    tp = np.cumsum(t[order])
    # Close each block of tied scores at its last element, so ties never depend on input order.
    last = np.r_[np.flatnonzero(np.diff(s_desc) != 0), s_desc.shape[0] - 1]
    tp_b = tp[last]
    k_b = last + 1
    gained = np.diff(np.r_[0, tp_b])
    return float(np.sum(gained * tp_b / k_b) / n_pos)
