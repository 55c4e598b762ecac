"""Where 0.5 sits (count-matching shift) and the per-model calibration learned from labeled photos."""

import json

import numpy as np
import pytest

from mediatag_ml import calibration, decision, training, zero_shot
from mediatag_ml.calibration import ModelCalibration, fit_model_calibration, shipped_model_calibration
from mediatag_ml.classifier import Classifier, sigmoid
from mediatag_ml.decision import count_matching_shift
from mediatag_ml.metrics import threshold_metrics
from mediatag_ml.synthetic import ConceptWorld


def test_shift_flags_the_expected_count():
    rng = np.random.default_rng(0)
    f = rng.normal(-4, 1.5, 5000)
    tau = count_matching_shift(f)
    expected = sigmoid(f).sum()
    assert abs((f - tau >= 0).sum() - expected) <= 1
    # a posterior cut at 0 flags far fewer than expected on such a rare, uncertain tag
    assert (f >= 0).sum() < 0.5 * expected
    assert count_matching_shift(f, expected=10) == pytest.approx(np.mean(np.sort(f)[::-1][9:11]))


def test_shift_edge_cases():
    assert count_matching_shift(np.array([1.0])) == 0.0
    assert count_matching_shift(np.array([])) == 0.0
    # at least one keyframe is flagged, never all of them
    f = np.array([-30.0, -31.0, -32.0])
    assert (f - count_matching_shift(f) >= 0).sum() == 1
    f = np.array([30.0, 31.0, 32.0])
    assert (f - count_matching_shift(f) >= 0).sum() == 2


@pytest.fixture(scope="module")
def world():
    w = ConceptWorld(layout="offline", seed=11)
    return w, w.draw(1500, seed=1), w.draw(6000, seed=2)


def _z(w_, s_, k):
    u = calibration.prompt_direction(s_.prompts[k : k + 1], s_.generic_prompt[None])
    return calibration.standardised_scores(u, s_.X)[0]


def test_fit_model_calibration_recovers_a_planted_logit():
    rng = np.random.default_rng(3)
    zs, ys, f_true = [], [], []
    for i in range(30):
        z = rng.standard_normal(400) * (1.0 + i / 15)  # tails differ between tags, so tail and bias separate
        q = np.quantile(z, 0.95)
        f_true.append(1.2 * z - 0.4 * q - 3.0)
        ys.append(rng.random(400) < sigmoid(f_true[-1]))
        zs.append(z)
    mc = fit_model_calibration(zs, ys)
    assert mc.temperature == pytest.approx(1.2, abs=0.2)
    f_fit = [mc.temperature * z + mc.tail * np.quantile(z, 0.95) + mc.bias for z in zs]
    assert np.mean(np.abs(np.concatenate(f_fit) - np.concatenate(f_true))) < 0.3


def test_fit_model_calibration_bad_input():
    with pytest.raises(ValueError, match="same, non-zero"):
        fit_model_calibration([], [])
    with pytest.raises(ValueError, match="both positives and negatives"):
        fit_model_calibration([np.arange(5.0)], [np.zeros(5, bool)])
    with pytest.raises(ValueError, match="rank positives above"):
        fit_model_calibration([np.arange(50.0)], [np.arange(50) < 10])
    with pytest.raises(ValueError, match="temperature"):
        ModelCalibration.from_dict({"temperature": 0, "bias": 1})


def test_model_calibration_transfers_between_photo_sets(world):
    # Fit on one draw of the world, report on another. The pooled calibration cannot know each tag's prevalence
    # (they range from 0.5 % to 30 % here), but in aggregate it is calibrated, and 0.5 flags about the true count
    # for the typical tag.
    w, fit_set, test = world
    ks = [k for k in range(w.n_concepts) if fit_set.Y[:, k].sum() >= 10]
    mc = fit_model_calibration([_z(w, fit_set, k) for k in ks], [fit_set.Y[:, k] for k in ks])
    expected, true, ratios = 0.0, 0, []
    for k in ks:
        clf = zero_shot(
            test.prompts[k : k + 1], None, test.X[:2000], baseline=test.generic_prompt, model_calibration=mc
        )
        assert clf.summary["calibration"] == "model"
        s = clf.score(test.X[2000:])
        y = test.Y[2000:, k]
        expected += clf.summary["expected_prevalence"] * y.shape[0]
        true += int(y.sum())
        ratios.append((s >= 0.5).sum() / max(y.sum(), 1))
    assert 0.7 < expected / true < 1.4
    assert 0.5 < np.median(ratios) < 2.0


def test_posterior_is_recoverable_from_the_shift(world):
    w, sample, _ = world
    shifted = zero_shot(sample.prompts[:1], None, sample.X, baseline=sample.generic_prompt)
    posterior = zero_shot(sample.prompts[:1], None, sample.X, baseline=sample.generic_prompt, shift_decision=False)
    assert shifted.b + shifted.summary["decision_shift"] == pytest.approx(posterior.b)
    assert np.allclose(shifted.w, posterior.w)


def test_labels_refine_the_posterior_and_keep_the_count(world):
    w, sample, test = world
    k = int(np.argmin(np.abs(w.prevalence - 0.05)))
    prior = zero_shot(sample.prompts[k : k + 1], None, sample.X, baseline=sample.generic_prompt)
    rng = np.random.default_rng(0)
    idx = rng.choice(sample.X.shape[0], 60, replace=False)
    clf = training.train_with_labels(sample.X[idx], sample.Y[idx, k], prior, sample.X)
    assert "decision_shift" in clf.summary and "expected_positives_in_sample" in clf.summary
    y = test.Y[:, k]
    ratio = (clf.score(test.X) >= 0.5).sum() / y.sum()
    assert 0.5 <= ratio <= 2.0
    f_prior = threshold_metrics(prior.score(test.X), y, np.array([0.5]))["f1"][0]
    f_labels = threshold_metrics(clf.score(test.X), y, np.array([0.5]))["f1"][0]
    assert f_labels >= f_prior - 0.02


def test_shipped_calibration_file(tmp_path):
    mc = shipped_model_calibration("conse-effnet-lite0")
    assert mc is not None and mc.temperature > 0 and mc.source
    assert shipped_model_calibration("no-such-model") is None
    assert shipped_model_calibration(None) is None
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"models": {"m": {"temperature": 2.0, "bias": -1.0}}}))
    got = shipped_model_calibration("m", path=p)
    assert got.temperature == 2.0 and got.tail == 0.0 and got.tail_quantile == calibration.TAIL_QUANTILE


def test_labeled_sample_rows_count_as_their_labels(world):
    """When labels are most of a small dataset's sample, the count that places 0.5 takes the labeled rows as
    what they were labeled (not the few unlabeled rows' guess): with every row labeled, the expected count is
    the number of yes labels and the sample flags exactly that many."""
    w, sample, _ = world
    k = int(np.argmin(np.abs(w.prevalence - 0.1)))
    rows = sample.X[:64]
    y = sample.Y[:64, k]
    prior = zero_shot(sample.prompts[k : k + 1], None, rows, baseline=sample.generic_prompt)
    clf = training.train_with_labels(rows, y, prior, rows)
    assert clf.summary["expected_positives_in_sample"] == pytest.approx(float(y.sum()))
    # The cut is placed on the rows' out-of-fold log-odds (each from the fold fit that did not see it), so exactly
    # that many of those clear it.
    assert clf.summary["labels_in_cut"] == "out-of-fold log-odds"
    posterior = Classifier(w=prior.w, b=prior.b + prior.summary["decision_shift"], summary=prior.summary)
    oof = training._Setup(rows, y, posterior, rows).out_of_fold_logits(clf.summary["lambda"], 0)
    tau = clf.summary["decision_shift"] / clf.summary["spread_scale"]
    assert int((oof >= tau).sum()) == int(y.sum())
    # 50 of the 64 labeled: the labeled positives plus the prior's and the model's guess for the 14 others.
    part = training.train_with_labels(rows[:50], y[:50], prior, rows)
    expected = part.summary["expected_positives_in_sample"]
    assert y[:50].sum() <= expected <= y[:50].sum() + 14


def test_spread_scale_tempers_only_over_confident_logits():
    rng = np.random.default_rng(1)
    sure = np.concatenate([rng.normal(-12, 2, 900), rng.normal(12, 2, 100)])  # 10 % far past 0.999
    a = decision.spread_scale(sure)
    assert 0 < a < 1
    scaled = sigmoid(a * sure)
    assert np.mean(scaled >= decision.SPREAD_SCORE) <= decision.SPREAD_TOP_SHARE + 1e-9
    assert np.array_equal(np.argsort(scaled, kind="stable"), np.argsort(sure, kind="stable"))  # same ranking
    assert np.array_equal(scaled >= 0.5, sure >= 0)  # same cut
    assert decision.spread_scale(rng.normal(-2, 1, 1000)) == 1.0  # already spread: untouched
    assert decision.spread_scale(np.array([])) == 1.0


def test_labels_of_a_separable_class_keep_scores_spread(world):
    """Many labels of a class the embedding separates well: the fit is sure of most keyframes, and the spread
    scale keeps all but SPREAD_TOP_SHARE of the sample below SPREAD_SCORE without changing the ranking."""
    w, sample, test = world
    k = int(np.argmax(w.prevalence))
    prior = zero_shot(sample.prompts[k : k + 1], None, sample.X, baseline=sample.generic_prompt)
    clf = training.train_with_labels(sample.X[:600], sample.Y[:600, k], prior, sample.X, l2_to_prior=1e-6)
    assert np.mean(clf.score(sample.X) >= decision.SPREAD_SCORE) <= decision.SPREAD_TOP_SHARE + 1e-9
    assert 0 < clf.summary["spread_scale"] <= 1.0


def test_cut_placed_on_out_of_fold_logits_flags_unseen_keyframes(world):
    """50 labels of a 64-keyframe dataset (the prior's top 10, then 40 others): the fit is sure of the keyframes
    it saw, so a cut placed among their fitted log-odds flags too few or too many unseen ones (flagged/true 0.63
    and 2.03 on two of these classes). Ranked by their out-of-fold log-odds instead, the count on 6,000 unseen
    keyframes stays within 0.75-1.33x the truth and F1 at 0.5 is at least the prompt's."""
    w, sample, test = world
    rows = sample.X[:64]
    for k in np.argsort(np.abs(w.prevalence - 0.08))[:4]:
        y = sample.Y[:64, k]
        prior = zero_shot(sample.prompts[k : k + 1], None, rows, baseline=sample.generic_prompt)
        order = np.argsort(-prior.score(rows), kind="stable")
        lab = np.concatenate([order[:10], np.random.default_rng(0).permutation(order[10:])[:40]])
        clf = training.train_with_labels(rows[lab], y[lab], prior, rows)
        assert clf.summary["labels_in_cut"] == "out-of-fold log-odds"
        yt = test.Y[:, k]
        assert 0.75 <= (clf.score(test.X) >= 0.5).sum() / yt.sum() <= 1.33, k
        f1 = [threshold_metrics(c.score(test.X), yt, np.array([0.5]))["f1"][0] for c in (prior, clf)]
        assert f1[1] >= f1[0], k


def test_cut_uses_fitted_logits_when_a_class_has_one_label(world):
    """Out-of-fold log-odds need two labels of each class (one per fold at least); with a single positive the
    fitted log-odds place the cut, as before, and the count still knows the labels."""
    w, sample, _ = world
    k = int(np.argmin(np.abs(w.prevalence - 0.1)))
    rows = sample.X[:64]
    y = sample.Y[:64, k]
    prior = zero_shot(sample.prompts[k : k + 1], None, rows, baseline=sample.generic_prompt)
    lab = np.concatenate([np.flatnonzero(y)[:1], np.flatnonzero(~y)[:20]])
    clf = training.train_with_labels(rows[lab], y[lab], prior, rows)
    assert clf.summary["labels_in_cut"] == "fitted log-odds"
    assert clf.summary["expected_positives_in_sample"] >= 1.0
