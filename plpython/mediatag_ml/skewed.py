"""A skewed synthetic evaluation population (for tests and bench): a tag with 2 % positives and scores that
overlap, so the score buckets near 0 hold almost every keyframe. The evaluator's bucket-stratified sample then
over-represents the high buckets, which is what Horvitz-Thompson weighting has to undo."""

from __future__ import annotations

import numpy as np

from .classifier import sigmoid


def skewed_population(n: int = 50_000, prevalence: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(scores, truth) of n keyframes: logit N(-3, 1.5^2) for negatives, N(1, 1.5^2) for positives."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < prevalence
    logit = np.where(truth, 1.0, -3.0) + 1.5 * rng.standard_normal(n)
    return sigmoid(logit), truth
