import json
import time

import numpy as np
import pytest

from mediatag_ml import train_with_labels, zero_shot
from mediatag_ml import training as training_mod
from mediatag_ml.metrics import best_threshold, roc_auc
from mediatag_ml.sampling import stratified_sample
from mediatag_ml.synthetic import ConceptWorld


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module", params=["clip", "offline"])
def setup(request):
    world = ConceptWorld(layout=request.param, seed=5)
    sample, pool, test = world.draw(2000, seed=1), world.draw(12000, seed=2), world.draw(8000, seed=3)
    # A mid-prevalence tag, labelled the way the UI collects labels: a score-stratified preview.
    k = int(np.argmin(np.abs(world.prevalence - 0.06)))
    prior = zero_shot(sample.prompts[k : k + 1], None, sample.X)
    ids = np.arange(pool.X.shape[0])
    preview = stratified_sample(ids, prior.score(pool.X), n_total=400, seed=7)
    return {"k": k, "sample": sample, "pool": pool, "test": test, "prior": prior, "preview": preview}


def _fit(s, n, **kw):
    idx = s["preview"][np.argsort(np.random.default_rng(n).random(s["preview"].shape[0]))[:n]]
    return train_with_labels(s["pool"].X[idx], s["pool"].Y[idx, s["k"]], s["prior"], s["sample"].X, **kw)


def test_labels_improve_held_out_auc_and_f1(setup):
    s = setup
    y = s["test"].Y[:, s["k"]]
    zs = s["prior"].score(s["test"].X)
    clf = _fit(s, 200)
    sc = clf.score(s["test"].X)
    assert roc_auc(sc, y) > roc_auc(zs, y) + 0.01
    assert best_threshold(sc, y, "f1")[1] > best_threshold(zs, y, "f1")[1] + 0.05
    # Calibration survives: the default threshold is still a good one.
    f1_half = best_threshold(sc, y, "f1", thresholds=np.array([0.5]))[1]
    assert f1_half > 0.7 * best_threshold(sc, y, "f1")[1]


def test_few_labels_stay_near_prior_many_labels_move(setup):
    s = setup
    few = _fit(s, 6)
    many = _fit(s, 400)
    cos_few = _cos(few.w, s["prior"].w)
    cos_many = _cos(many.w, s["prior"].w)
    assert cos_few > 0.98
    assert cos_many < cos_few - 0.02
    assert few.summary["lambda"] > many.summary["lambda"]


def test_only_positive_or_only_negative_labels(setup):
    s = setup
    k, pool, prior = s["k"], s["pool"], s["prior"]
    pos_idx = np.flatnonzero(pool.Y[:, k])[:10]
    neg_idx = np.flatnonzero(~pool.Y[:, k])[:10]
    only_pos = train_with_labels(pool.X[pos_idx], np.ones(10, bool), prior, s["sample"].X)
    only_neg = train_with_labels(pool.X[neg_idx], np.zeros(10, bool), prior, s["sample"].X)
    assert only_pos.summary["n_neg"] == 0 and only_neg.summary["n_pos"] == 0
    assert only_pos.summary["cv"] is None
    # Scores move the way the labels say, and the prompts are not erased.
    assert only_pos.score(pool.X[pos_idx]).mean() > prior.score(pool.X[pos_idx]).mean()
    assert only_neg.score(pool.X[neg_idx]).mean() < prior.score(pool.X[neg_idx]).mean()
    y = s["test"].Y[:, k]
    for clf in (only_pos, only_neg):
        assert np.all(np.isfinite(clf.w)) and np.isfinite(clf.b)
        assert roc_auc(clf.score(s["test"].X), y) > roc_auc(prior.score(s["test"].X), y) - 0.02


def test_no_labels_returns_prior(setup):
    s = setup
    d = s["prior"].dim
    clf = train_with_labels(np.zeros((0, d)), np.zeros(0, bool), s["prior"], s["sample"].X)
    np.testing.assert_array_equal(clf.w, s["prior"].w)
    assert clf.b == s["prior"].b


def test_summary_fields_and_json(setup):
    clf = _fit(setup, 120)
    summ = clf.summary
    for key in ("n_pos", "n_neg", "lambda", "train_loss", "train_accuracy", "cv", "cos_to_prior", "prevalence"):
        assert key in summ
    assert summ["n_pos"] + summ["n_neg"] == 120
    assert summ["lambda_source"] == "cv"
    assert 0.5 < summ["cv"]["auc"] <= 1.0
    json.loads(clf.to_json())


def test_given_lambda_is_used(setup):
    clf = _fit(setup, 50, l2_to_prior=1e6)
    assert clf.summary["lambda"] == 1e6 and clf.summary["lambda_source"] == "given"
    assert _cos(clf.w, setup["prior"].w) > 0.9999


def test_label_span_solution_equals_full_space(setup, monkeypatch):
    s = setup
    reduced = _fit(s, 60, l2_to_prior=1e-3)
    assert reduced.summary["solved_in"] == "label span"
    monkeypatch.setattr(training_mod, "SPAN_FRACTION", 0.0)
    full = _fit(s, 60, l2_to_prior=1e-3)
    assert full.summary["solved_in"] == "full space"
    test = s["test"].X[:500]
    np.testing.assert_allclose(reduced.decision(test), full.decision(test), atol=0.05)


def test_cross_validate_on_demand(setup):
    s = setup
    idx = s["preview"]
    cv = training_mod.cross_validate(s["pool"].X[idx], s["pool"].Y[idx, s["k"]], s["prior"], s["sample"].X)
    assert cv is not None and cv["folds"] == training_mod.CV_FOLDS and cv["auc"] > 0.8
    assert training_mod.cross_validate(s["pool"].X[:5], np.ones(5, bool), s["prior"], s["sample"].X) is None


def test_rejects_mismatched_shapes(setup):
    with pytest.raises(ValueError):
        train_with_labels(setup["pool"].X[:5], np.ones(4, bool), setup["prior"], setup["sample"].X)


@pytest.mark.parametrize("m", [10, 200, 2000])
def test_training_time_is_printed(setup, m, capsys):
    s = setup
    rng = np.random.default_rng(m)
    idx = rng.choice(s["pool"].X.shape[0], m, replace=False)
    X, y = s["pool"].X[idx], s["pool"].Y[idx, s["k"]]
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        clf = train_with_labels(X, y, s["prior"], s["sample"].X)
        best = min(best, time.perf_counter() - t0)
    with capsys.disabled():
        source = clf.summary["lambda_source"]
        print(f"\ntrain_with_labels m={m} d={X.shape[1]}: {best * 1e3:.1f} ms (best of 3, lambda by {source})")
