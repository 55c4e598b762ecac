"""mediatag_ml.active: concept training from one or two classes, and the next-batch selection."""

from __future__ import annotations

import numpy as np
import pytest

from mediatag_ml import active


def _data(n=600, d=32, seed=0):
    """Two clusters of unit vectors: the concept (first 60) and the rest."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(d)
    concept = rng.standard_normal(d)
    X = base + 0.6 * rng.standard_normal((n, d))
    X[:60] += 1.5 * concept
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.zeros(n, bool)
    y[:60] = True
    return X.astype(np.float32), y, concept


def test_only_positives_train_against_background():
    X, y, _ = _data()
    clf = active.fit_concept(X[:8], None, None, None, None, X, dim=X.shape[1])
    s = clf.summary
    assert s["kind"] == "positives_vs_background" and s["n_background"] >= active.BACKGROUND_MIN
    assert any("only positive labels" in n for n in s["notes"])
    scores = clf.score(X)
    assert scores[8:60].mean() > scores[60:].mean() + 0.3  # unlabeled positives rank high


def test_only_negatives_without_description_is_flat_and_says_so():
    X, _, _ = _data()
    clf = active.fit_concept(None, X[100:110], None, None, None, X, dim=X.shape[1])
    assert clf.summary["kind"] == "flat"
    assert np.allclose(clf.score(X), active.FLAT_PRIOR)


def test_both_classes_separate_and_keep_calibration_meaningful():
    X, y, _ = _data()
    idx = np.r_[0:10, 100:130]
    clf = active.fit_concept(X[idx][y[idx]], X[idx][~y[idx]], None, None, None, X, dim=X.shape[1])
    assert clf.summary["kind"] == "labels"
    s = clf.score(X)
    assert (s[:60] >= 0.5).mean() > 0.8 and (s[60:] >= 0.5).mean() < 0.1


def test_select_batch_is_distinct_unlabeled_and_no_near_duplicates():
    X, y, _ = _data()
    X = np.vstack([X, X[5:6] * 1.0001])  # a copy of row 5
    ids = np.arange(X.shape[0]) + 1000
    labeled = X[5:6]
    cand = np.r_[0:5, 6 : X.shape[0]]  # row 5 is labeled; its copy is a candidate
    scores = np.full(cand.shape[0], 0.5)
    got, why = active.select_batch(ids[cand], X[cand], scores, np.ones(cand.shape[0], bool), labeled, 12, 0)
    assert len(got) == 12 and len(set(got)) == 12
    assert ids[-1] not in got
    V = X[got - 1000]
    cos = V @ V.T
    assert (cos[~np.eye(12, dtype=bool)] < active.NEAR_DUPLICATE_COS).all()
    assert set(why) <= {"uncertain", "explore"} and why.count("explore") == round(12 * active.explore_share(1))


@pytest.mark.parametrize("n_labeled, share", [(0, 0.5), (30, 0.5 * np.exp(-1)), (500, 0.1)])
def test_exploration_decays(n_labeled, share):
    assert active.explore_share(n_labeled) == pytest.approx(share)


def test_select_batch_prefers_the_boundary():
    X, y, _ = _data()
    scores = np.where(np.arange(X.shape[0]) % 10 == 0, 0.5, 0.01)
    got, why = active.select_batch(np.arange(X.shape[0]), X, scores, np.zeros(X.shape[0], bool), None, 10, 100)
    assert all(w == "uncertain" for w in why)  # nothing from the random sample: no exploration
    assert (scores[got] == 0.5).all()
