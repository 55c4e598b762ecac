"""Horvitz-Thompson weighting of the evaluator's bucket-stratified sample, on a skewed synthetic population."""

import numpy as np
import pytest

from mediatag_ml import metrics, sampling
from mediatag_ml.skewed import skewed_population

THRESHOLDS = np.round(np.arange(0.1, 0.91, 0.1), 2)


@pytest.fixture(scope="module")
def population():
    s, y = skewed_population(n=50_000, prevalence=0.02, seed=0)
    return s, y, np.bincount(sampling.bucket_index(s, 10), minlength=10)


def _estimates(population, seed):
    s, y, pop = population
    pick = sampling.stratified_sample(np.arange(s.shape[0]), s, 400, seed=seed)
    w = sampling.inclusion_weights(sampling.bucket_index(s[pick], 10), pop)
    return (
        metrics.threshold_metrics(s[pick], y[pick], THRESHOLDS, weights=w),
        metrics.threshold_metrics(s[pick], y[pick], THRESHOLDS),
        w,
    )


def test_population_is_skewed(population):
    s, y, pop = population
    assert 0.015 < y.mean() < 0.025
    assert pop[0] > 0.5 * s.shape[0]  # most keyframes in the lowest bucket, which gets a tenth of the sample


def test_weights_add_up_to_the_population(population):
    s, _, pop = population
    _, _, w = _estimates(population, 0)
    assert w.sum() == pytest.approx(s.shape[0])
    # an item of the crowded lowest bucket stands for many more keyframes than one of the top bucket
    assert w.max() / w.min() > 50


def test_one_sample_of_400_matches_the_full_population(population):
    # Stated tolerance for one 400-item sample, max over thresholds 0.1 .. 0.9: precision within 0.1 on every one
    # of 12 samples, F1 within 0.13 on at least 10 of them (a positive drawn from the crowded lowest bucket
    # weighs ~300 keyframes, which moves recall and F1 at low thresholds). The unweighted sample is off by more
    # than 0.2 on every sample (its error is bias, not noise).
    s, y, _ = population
    truth = metrics.threshold_metrics(s, y, THRESHOLDS)
    f1_ok = 0
    for seed in range(12):
        weighted, unweighted, _ = _estimates(population, seed)
        err = {k: np.abs(np.array(weighted[k]) - truth[k]).max() for k in ("f1", "precision")}
        assert err["precision"] < 0.1, seed
        f1_ok += err["f1"] < 0.13
        for k in ("f1", "precision"):
            assert np.abs(np.array(unweighted[k]) - truth[k]).max() > 0.2, (seed, k)
    assert f1_ok >= 10


def test_weighted_estimate_is_unbiased_over_samples(population):
    # Averaged over 8 independent samples the weighted estimates sit within 0.04 of the truth at every
    # threshold; the unweighted ones stay > 0.2 off (bias does not average away).
    s, y, _ = population
    truth = metrics.threshold_metrics(s, y, THRESHOLDS)
    runs = [_estimates(population, seed) for seed in range(8)]
    for k in ("precision", "recall", "f1"):
        mean_w = np.mean([r[0][k] for r in runs], axis=0)
        mean_u = np.mean([r[1][k] for r in runs], axis=0)
        assert np.abs(mean_w - truth[k]).max() < 0.04, k
        assert np.abs(mean_u - truth[k]).max() > 0.2, k
    assert np.mean([r[0]["auc"] for r in runs]) == pytest.approx(truth["auc"], abs=0.01)
    assert abs(np.mean([r[1]["auc"] for r in runs]) - truth["auc"]) > 0.02
    ap_w = np.mean([r[0]["average_precision"] for r in runs])
    ap_u = np.mean([r[1]["average_precision"] for r in runs])
    assert abs(ap_w - truth["average_precision"]) < 0.05 < abs(ap_u - truth["average_precision"]) - 0.1


def test_weighted_best_threshold_value_is_the_populations(population):
    s, y, _ = population
    _, best_true = metrics.best_threshold(s, y, "f1")
    sp, sy, pop = s, y, population[2]
    pick = sampling.stratified_sample(np.arange(sp.shape[0]), sp, 400, seed=1)
    w = sampling.inclusion_weights(sampling.bucket_index(sp[pick], 10), pop)
    _, best_w = metrics.best_threshold(sp[pick], sy[pick], "f1", weights=w)
    _, best_u = metrics.best_threshold(sp[pick], sy[pick], "f1")
    assert abs(best_w - best_true) < 0.1 < best_u - best_true


def test_unit_weights_equal_unweighted():
    rng = np.random.default_rng(5)
    s, y = rng.random(300), rng.random(300) < 0.3
    a = metrics.threshold_metrics(s, y)
    b = metrics.threshold_metrics(s, y, weights=np.ones(300))
    for k in ("precision", "recall", "f1", "f05", "accuracy", "tp", "fn"):
        assert np.allclose(a[k], b[k]), k
    assert b["auc"] == pytest.approx(a["auc"]) and b["average_precision"] == pytest.approx(a["average_precision"])
    assert b["sample_tp"] == a["tp"]


def test_integer_weights_equal_repeated_items():
    s = np.array([0.9, 0.8, 0.6, 0.4, 0.2, 0.1])
    y = np.array([True, False, True, False, True, False])
    w = np.array([1, 3, 2, 1, 4, 2])
    rep = metrics.threshold_metrics(np.repeat(s, w), np.repeat(y, w))
    wt = metrics.threshold_metrics(s, y, weights=w)
    for k in ("precision", "recall", "f1", "tp", "fp", "fn", "tn"):
        assert np.allclose(rep[k], wt[k]), k
    assert wt["auc"] == pytest.approx(rep["auc"]) and wt["average_precision"] == pytest.approx(rep["average_precision"])


def test_bad_weights_and_buckets_are_errors():
    with pytest.raises(ValueError, match="weights for"):
        metrics.threshold_metrics(np.array([0.1, 0.2]), np.array([True, False]), weights=np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        metrics.threshold_metrics(np.array([0.1, 0.2]), np.array([True, False]), weights=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="population of only"):
        sampling.inclusion_weights(np.array([0, 0, 0]), np.array([2] + [0] * 9))
    with pytest.raises(ValueError, match="bucket numbers"):
        sampling.inclusion_weights(np.array([10]), np.ones(10))
