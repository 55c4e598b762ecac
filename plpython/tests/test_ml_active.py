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
    n_likely = round(12 * active.LIKELY_SHARE)
    assert why.count("likely") == n_likely and why.count("explore") == round((12 - n_likely) * active.explore_share(1))
    assert set(why) == {"likely", "uncertain", "explore"}


@pytest.mark.parametrize("n_labeled, share", [(0, 0.5), (30, 0.5 * np.exp(-1)), (500, 0.1)])
def test_exploration_decays(n_labeled, share):
    assert active.explore_share(n_labeled) == pytest.approx(share)


def test_select_batch_prefers_the_boundary():
    X, y, _ = _data()
    scores = np.where(np.arange(X.shape[0]) % 10 == 0, 0.5, 0.01)
    got, why = active.select_batch(np.arange(X.shape[0]), X, scores, np.zeros(X.shape[0], bool), None, 10, 100)
    assert "explore" not in why  # nothing from the random sample: no exploration
    assert why.count("uncertain") == 10 - round(10 * active.LIKELY_SHARE)
    assert (scores[got] == 0.5).all()


def test_select_batch_gives_part_of_the_batch_to_the_highest_scores():
    """A rare concept's positives sit at the top of the ranking, far from 0.5: the 'likely' picks are the
    highest-scoring candidates that are not near-duplicates, the rest still goes to the boundary."""
    X, y, _ = _data()
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.0, 0.2, X.shape[0])
    top = np.argsort(-scores)[:3]
    scores[top] = [0.97, 0.96, 0.95]
    boundary = rng.choice(np.setdiff1d(np.arange(X.shape[0]), top), 40, replace=False)
    scores[boundary] = 0.5
    got, why = active.select_batch(np.arange(X.shape[0]), X, scores, np.zeros(X.shape[0], bool), None, 10, 100)
    likely = [int(g) for g, w in zip(got, why, strict=True) if w == "likely"]
    assert len(likely) == 6 and set(top) <= set(likely)
    assert sorted(scores[likely], reverse=True) == list(np.sort(scores)[::-1][:6])
    assert all(scores[g] == 0.5 for g, w in zip(got, why, strict=True) if w == "uncertain")
