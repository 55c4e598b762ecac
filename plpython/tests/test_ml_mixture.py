"""The count at 0.5 follows the sample's own mixture where it shows a separate mode, and scores stay spread
(mediatag_ml.calibration: _mixture_prevalence_shift, _keep_spread)."""

import numpy as np
import pytest

from mediatag_ml import calibration, decision, zero_shot
from mediatag_ml.calibration import ModelCalibration

D = 16
# What a calibration fitted on rare classes looks like (the shipped COCO fit).
RARE_WORLD = ModelCalibration(temperature=0.755, bias=-1.244, tail=-0.731)


def _library(n: int, prevalence: float, separation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keyframes whose first coordinate is N(0, 1) for negatives and N(separation, 1) for positives."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    X = rng.standard_normal((n, D)).astype(np.float32)
    X[y, 0] += separation
    return X, y


def _prompt() -> np.ndarray:
    p = np.zeros(D)
    p[0] = 1.0
    return p[None]


def test_a_common_tag_with_a_clear_mode_is_counted():
    sample, _ = _library(2000, 0.25, 6.0, seed=1)
    test, y = _library(4000, 0.25, 6.0, seed=2)
    clf = zero_shot(_prompt(), None, sample, model_calibration=RARE_WORLD)
    ratio = (clf.score(test) >= 0.5).sum() / y.sum()
    assert 0.8 <= ratio <= 1.25
    assert clf.summary["mixture_weight"] == pytest.approx(1.0)
    assert clf.summary["prevalence_shift"] > 0
    assert clf.summary["posterior_prevalence"] < 0.15  # the calibration alone says "rare" ...


def test_without_the_mixture_the_rare_world_calibration_undercounts(monkeypatch):
    sample, _ = _library(2000, 0.25, 6.0, seed=1)
    test, y = _library(4000, 0.25, 6.0, seed=2)
    monkeypatch.setattr(calibration, "MIXTURE_TRUST", (100.0, 101.0))  # never trust the mixture
    clf = zero_shot(_prompt(), None, sample, model_calibration=RARE_WORLD)
    assert (clf.score(test) >= 0.5).sum() / y.sum() < 0.5  # ... and flags less than half the positives
    assert clf.summary["mixture_weight"] == 0.0


def test_no_separate_mode_keeps_the_calibrations_count():
    sample, _ = _library(2000, 0.05, 1.0, seed=3)
    clf = zero_shot(_prompt(), None, sample, model_calibration=RARE_WORLD)
    assert clf.summary["mixture_weight"] < 0.2
    assert abs(clf.summary["expected_prevalence"] - clf.summary["posterior_prevalence"]) < 0.2 * max(
        clf.summary["posterior_prevalence"], 0.01
    )


def test_small_samples_are_left_to_the_calibration():
    sample, _ = _library(calibration.MIXTURE_MIN_SAMPLE - 1, 0.25, 6.0, seed=4)
    clf = zero_shot(_prompt(), None, sample, model_calibration=RARE_WORLD)
    assert "mixture_weight" not in clf.summary


def test_scores_stay_spread_and_the_cut_stays(monkeypatch):
    sample, _ = _library(2000, 0.05, 4.0, seed=5)
    sample[:30, 0] += 40.0  # a few keyframes the prompt matches extremely strongly (1.5 %)
    spread = zero_shot(_prompt(), None, sample, model_calibration=RARE_WORLD)
    monkeypatch.setattr(decision, "SPREAD_SCORE", 1.0 - 1e-15)  # no flattening
    steep = zero_shot(_prompt(), None, sample, model_calibration=RARE_WORLD)
    s_spread, s_steep = spread.score(sample), steep.score(sample)
    assert np.mean(s_steep >= 0.999) > 0.01  # the steep posterior ties the strong matches at ~1
    assert np.mean(s_spread >= decision.SPREAD_SCORE) <= decision.SPREAD_TOP_SHARE + 1 / sample.shape[0]
    assert spread.summary["spread_scale"] < 1.0
    assert np.array_equal(s_spread >= 0.5, s_steep >= 0.5)  # the same keyframes flagged at 0.5
    assert np.array_equal(np.argsort(-s_spread, kind="stable")[:200], np.argsort(-s_steep, kind="stable")[:200])
    # the posterior stays recoverable from the stored shift
    assert spread.summary["decision_shift"] == pytest.approx(steep.summary["decision_shift"])
