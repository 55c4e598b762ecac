"""Where the default threshold 0.5 sits: at the cut that flags as many keyframes as the model expects.

The classifiers first produce posterior log-odds f(x) = x·w + b (from the per-model calibration, the EM fit or
the labels). A posterior cut at 0.5 maximises accuracy, not F1, and for rare tags it flags far fewer keyframes
than there are positives (measured on COCO photos: median flagged/true ratio 0 to 0.5, F1@0.5 0.15-0.37
against 0.59-0.61 at the best threshold). So the intercept is shifted by tau, the log-odds at which the number of
sample keyframes above the cut equals the expected number of positives sum(sigmoid(f)) on that same sample:

    score(x) = sigmoid(f(x) - tau)

At that cut precision equals recall when the posterior is calibrated (the break-even point, whose F1 is close to
the best F1), and the flagged count matches the expected count by construction. Measured on held-out COCO
photos (bench/bench_quality.py): flagged/true ratio within 0.5-2x for ~90 % of tags, F1@0.5 0.40-0.45.
The shift is recorded (`decision_shift`) so the posterior stays recoverable: posterior = sigmoid(logit + tau).
Linear in x either way, so SQL keeps scoring sigmoid(x·w + b).
"""

from __future__ import annotations

import numpy as np

from .classifier import sigmoid


def count_matching_shift(f: np.ndarray, expected: float | None = None) -> float:
    """tau such that #(f >= tau) on the sample equals round(sum(sigmoid(f))) (at least 1): the midpoint between
    the k-th and (k+1)-th largest log-odds. 0 for samples of fewer than two rows (nothing to count on)."""
    f = np.asarray(f, dtype=np.float64).ravel()
    n = f.shape[0]
    if n < 2:
        return 0.0
    if expected is None:
        expected = float(sigmoid(f).sum())
    k = int(np.clip(np.rint(expected), 1, n - 1))
    desc = -np.sort(-f)
    return float(0.5 * (desc[k - 1] + desc[k]))


# Scores stay spread: at most this share of a sample may score at or above SPREAD_SCORE once a classifier is
# fitted. A tag learned from labels of a very separable class (clothing "shoes", 50 labels) put 1.2 % of held-out
# photos at >= 0.999, where a threshold slider and the evaluator's buckets can no longer tell them apart.
SPREAD_TOP_SHARE = 0.005
SPREAD_SCORE = 0.998


def spread_scale(f: np.ndarray) -> float:
    """The factor a <= 1 by which log-odds f (on the sample, 0 at the decision point) are multiplied so that no
    more than SPREAD_TOP_SHARE of them score at or above SPREAD_SCORE. Multiplying w and b by a keeps the ranking
    (AP) and the 0.5 cut (F1 at the default threshold) exactly; it only tempers over-confident probabilities."""
    f = np.asarray(f, dtype=np.float64).ravel()
    if f.shape[0] == 0:
        return 1.0
    allowed = int(SPREAD_TOP_SHARE * f.shape[0])  # this many may stay at or above the cap
    top = float(-np.partition(-f, allowed)[allowed])  # the (allowed + 1)-th largest must fall below it
    cap = float(np.log(SPREAD_SCORE / (1.0 - SPREAD_SCORE)))
    return cap * (1.0 - 1e-6) / top if top >= cap else 1.0
