"""Threshold metrics for the evaluator, vectorised: one sort, cumulative sums, no loop over thresholds.

A keyframe is predicted positive when score >= threshold.
Conventions for empty denominators: precision is 1.0 when nothing is predicted (the usual end point of a
precision/recall curve; `predicted` says when that happens), recall is 0.0 when there are no positives,
F-scores are 0.0 when there is nothing to count.

Weights: the evaluator's sample is stratified (equal numbers per score bucket), so a judged item stands for
N_b / n_b keyframes of its bucket (Horvitz-Thompson; `sampling.inclusion_weights`). Every function takes
`weights` (one per item) and then returns population estimates: counts become estimated numbers of keyframes
and precision/recall/F-scores/accuracy/AP/AUC are ratios of those estimates. Without weights the sample counts
are used as they are, which on a skewed dataset overstates precision at low thresholds (the low buckets hold
most keyframes but get the same share of the sample).
"""

from __future__ import annotations

import numpy as np

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


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape[0] != n:
        raise ValueError(f"{w.shape[0]} weights for {n} items")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite and >= 0")
    return w


def confusion_counts(
    scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """tp, fp, fn, tn per threshold: int64 sample counts, or float64 weighted sums when weights are given."""
    s, t = _inputs(scores, truth)
    w = _weights(weights, s.shape[0])
    thr = np.asarray(thresholds, dtype=np.float64).ravel()
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    n_below = np.searchsorted(s_sorted, thr, side="left")  # keyframes with score < threshold
    if w is None:
        pos_below = np.concatenate([[0], np.cumsum(t[order], dtype=np.int64)])
        all_below = np.arange(s.shape[0] + 1)
    else:
        pos_below = np.concatenate([[0.0], np.cumsum(w[order] * t[order])])
        all_below = np.concatenate([[0.0], np.cumsum(w[order])])
    n_pos = pos_below[-1]
    n = all_below[-1]
    tp = n_pos - pos_below[n_below]
    fp = (n - all_below[n_below]) - tp
    fn = n_pos - tp
    tn = (n - n_pos) - fp
    if w is not None:  # cumulative sums can leave -1e-13 where the exact answer is 0
        tp, fp, fn, tn = (np.maximum(x, 0.0) for x in (tp, fp, fn, tn))
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


def threshold_metrics(
    scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray | None = None, weights: np.ndarray | None = None
) -> dict:
    """Per-threshold precision, recall, f1, f05, accuracy, tp, fp, fn, tn (plus `predicted`), as JSON-ready
    lists aligned with `thresholds` (default 0.00 .. 1.00 step 0.01), and n, n_pos, auc, average_precision.
    With weights the metrics and counts are population estimates (see the module docstring); the sample's own
    counts are then under sample_tp, sample_fp, sample_fn, sample_tn, and n / n_pos stay sample sizes."""
    thr = default_thresholds() if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    s, t = _inputs(scores, truth)
    counts = confusion_counts(s, t, thr, weights)
    out: dict = {"thresholds": thr.tolist()}
    out.update({k: v.tolist() for k, v in _metric_arrays(counts).items()})
    out.update({k: v.tolist() for k, v in counts.items()})
    if weights is not None:
        out.update({f"sample_{k}": v.tolist() for k, v in confusion_counts(s, t, thr).items()})
        out["population"] = float(np.sum(weights))
    out.update({"n": int(s.shape[0]), "n_pos": int(t.sum())})
    out.update({"auc": roc_auc(s, t, weights), "average_precision": average_precision(s, t, weights)})
    return out


def best_threshold(
    scores: np.ndarray,
    truth: np.ndarray,
    metric: str = "f1",
    thresholds: np.ndarray | None = None,
    min_predicted: int = MIN_PREDICTED_FOR_PRECISION,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """(threshold, value) maximising `metric` (a population estimate when weights are given); ties go to the
    threshold nearest 0.5 (the calibrated default), and for precision thresholds predicting fewer than
    `min_predicted` positives *in the sample* are skipped (unless none predicts that many)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    thr = default_thresholds() if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    arrays = _metric_arrays(confusion_counts(scores, truth, thr, weights))
    values = arrays[metric]
    valid = np.ones(thr.shape[0], dtype=bool)
    if metric == "precision":
        sample = confusion_counts(scores, truth, thr)
        enough = (sample["tp"] + sample["fp"]) >= min_predicted
        if enough.any():
            valid = enough
    best = values[valid].max()
    # Tolerance: values computed from different counts can differ in the last bit only.
    tied = valid & (values >= best - 1e-12)
    idx = np.flatnonzero(tied)
    pick = idx[np.argmin(np.abs(thr[idx] - 0.5))]
    return float(thr[pick]), float(values[pick])


def roc_auc(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    """Area under the ROC curve (ties count half) via the rank-sum statistic; None with a single class.
    Weighted: P(score of a positive > score of a negative) with pairs weighted w_i w_j."""
    s, t = _inputs(scores, truth)
    n_pos = int(t.sum())
    n_neg = t.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    w = _weights(weights, s.shape[0])
    if w is not None:
        return _weighted_auc(s, t, w)
    from scipy.stats import rankdata  # on use: a backend that never gets here skips the import

    ranks = rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _weighted_auc(s: np.ndarray, t: np.ndarray, w: np.ndarray) -> float | None:
    wp, wn = float(w[t].sum()), float(w[~t].sum())
    if wp <= 0 or wn <= 0:
        return None
    # Ties as blocks: for each distinct score, negatives strictly below count 1, tied ones 1/2.
    uniq, inv = np.unique(s, return_inverse=True)
    neg_at = np.bincount(inv, weights=w * ~t, minlength=uniq.shape[0])
    pos_at = np.bincount(inv, weights=w * t, minlength=uniq.shape[0])
    neg_below = np.concatenate([[0.0], np.cumsum(neg_at)[:-1]])
    return float(np.sum(pos_at * (neg_below + 0.5 * neg_at)) / (wp * wn))


def average_precision(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    """Mean of the precision at each positive's rank, ties resolved as one block (like sklearn); weighted, each
    positive counts by its weight and precision is the weighted share of positives above the cut."""
    s, t = _inputs(scores, truth)
    n_pos = int(t.sum())
    if n_pos == 0:
        return None
    w = _weights(weights, s.shape[0])
    order = np.argsort(-s, kind="stable")
    s_desc = s[order]
    if w is not None:
        wo = w[order]
        tpw = np.cumsum(wo * t[order])
        kw = np.cumsum(wo)
        last = np.r_[np.flatnonzero(np.diff(s_desc) != 0), s_desc.shape[0] - 1]
        gained = np.diff(np.r_[0.0, tpw[last]])
        total = tpw[-1]
        if total <= 0:
            return None
        prec = np.divide(tpw[last], kw[last], out=np.zeros(last.shape[0]), where=kw[last] > 0)
        return float(np.sum(gained * prec) / total)
    tp = np.cumsum(t[order])
    # Close each block of tied scores at its last element, so ties never depend on input order.
    last = np.r_[np.flatnonzero(np.diff(s_desc) != 0), s_desc.shape[0] - 1]
    tp_b = tp[last]
    k_b = last + 1
    gained = np.diff(np.r_[0, tp_b])
    return float(np.sum(gained * tp_b / k_b) / n_pos)
