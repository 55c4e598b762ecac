import numpy as np
import pytest

from mediatag_ml import zero_shot
from mediatag_ml.calibration import fit_tail, prompt_direction
from mediatag_ml.metrics import best_threshold, roc_auc, threshold_metrics
from mediatag_ml.synthetic import ConceptWorld


@pytest.fixture(scope="module")
def world():
    w = ConceptWorld(seed=3)
    return w, w.draw(2000, seed=1), w.draw(8000, seed=2)


def _f1_at_half(scores, truth):
    return threshold_metrics(scores, truth, np.array([0.5]))["f1"][0]


def test_zero_shot_separates_and_half_is_a_sensible_threshold(world):
    w, sample, test = world
    ratios = []
    for k in range(w.n_concepts):
        clf = zero_shot(sample.prompts[k : k + 1], None, sample.X)
        s = clf.score(test.X)
        y = test.Y[:, k]
        assert roc_auc(s, y) > 0.85
        _, best = best_threshold(s, y, "f1")
        ratios.append(_f1_at_half(s, y) / best)
    # 0.5 is a posterior threshold (it maximises accuracy, not F1), so it trails the oracle F1 threshold a
    # little on average, never by a collapse.
    assert np.mean(ratios) > 0.75
    assert min(ratios) > 0.4


def test_zero_shot_mean_score_tracks_prevalence(world):
    w, sample, test = world
    k = int(np.argmin(np.abs(w.prevalence - 0.05)))
    clf = zero_shot(sample.prompts[k : k + 1], None, sample.X)
    s = clf.score(test.X)
    truth_rate = test.Y[:, k].mean()
    assert 0.5 * truth_rate < s.mean() < 2.0 * truth_rate
    assert 0.3 * truth_rate < (s >= 0.5).mean() < 3.0 * truth_rate


def test_scores_spread_over_unit_interval(world):
    w, sample, test = world
    k = int(np.argmax(w.prevalence))
    s = zero_shot(sample.prompts[k : k + 1], None, sample.X).score(test.X)
    q = np.quantile(s, [0.5, 0.99])
    assert q[0] < 0.2 and q[1] > 0.8
    assert np.mean((s > 0.4) & (s < 0.6)) < 0.1


def test_negative_prompts_reject_hard_negatives(world):
    w, sample, test = world
    k = 0
    rel = w.related[k]
    y = test.Y[:, k]
    hard = test.Y[:, rel] & ~y
    only_pos = zero_shot(sample.prompts[k : k + 1], None, sample.X).score(test.X)
    with_neg = zero_shot(sample.prompts[k : k + 1], sample.prompts[rel : rel + 1], sample.X).score(test.X)
    mask = y | hard
    assert roc_auc(with_neg[mask], y[mask]) > roc_auc(only_pos[mask], y[mask]) + 0.05
    # ... while still working over the whole library.
    assert roc_auc(with_neg, y) > 0.85


def test_baseline_prompt_is_used_only_without_negatives(world):
    w, sample, _ = world
    pos = sample.prompts[:1]
    with_base = zero_shot(pos, np.zeros((0, pos.shape[1])), sample.X, baseline=sample.generic_prompt)
    assert with_base.summary["baseline_used"] is True
    with_neg = zero_shot(pos, sample.prompts[1:2], sample.X, baseline=sample.generic_prompt)
    assert with_neg.summary["baseline_used"] is False


def test_offline_layout_prompts_in_first_dims_only():
    w = ConceptWorld(layout="offline", seed=4)
    sample, test = w.draw(2000, seed=1), w.draw(6000, seed=2)
    assert not np.any(sample.prompts[:, 384:])
    clf = zero_shot(sample.prompts[2:3], None, sample.X)
    assert clf.w.shape == (1664,) and not np.any(clf.w[384:])
    assert roc_auc(clf.score(test.X), test.Y[:, 2]) > 0.7


def test_summary_is_json_ready_and_complete(world):
    w, sample, _ = world
    clf = zero_shot(sample.prompts[:2], sample.prompts[5:6], sample.X)
    for key in (
        "median",
        "robust_sigma",
        "separation",
        "prevalence",
        "sample_frac_above_half",
        "sample_frac_closer_to_pos",
        "n_pos_prompts",
        "n_neg_prompts",
    ):
        assert key in clf.summary
    assert clf.summary["n_pos_prompts"] == 2 and clf.summary["n_neg_prompts"] == 1
    clf.to_json()


def test_without_sample_still_returns_a_classifier(world):
    w, sample, test = world
    clf = zero_shot(sample.prompts[:1], None, np.zeros((0, sample.X.shape[1])))
    assert "warning" in clf.summary
    assert roc_auc(clf.score(test.X), test.Y[:, 0]) > 0.85


def test_prompts_that_cancel_are_an_error():
    p = np.eye(4)[:1]
    with pytest.raises(ValueError):
        prompt_direction(p, p, negative_weight=1.0)
    with pytest.raises(ValueError):
        zero_shot(np.zeros((0, 4)), None, np.eye(4))


def test_tail_fit_finds_a_planted_mode():
    rng = np.random.default_rng(0)
    z = np.r_[rng.standard_normal(1800), rng.normal(4.0, 1.0, 200)]
    fit = fit_tail(z)
    assert 0.07 < fit.prevalence < 0.13
    assert 3.3 < fit.separation < 4.5
    # A plain Gaussian is not split in half: the prevalence stays small.
    assert fit_tail(rng.standard_normal(2000)).prevalence < 0.05
