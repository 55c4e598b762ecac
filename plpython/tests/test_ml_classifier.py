import json
import math

import numpy as np
import pytest

from mediatag_ml import Classifier, sigmoid
from mediatag_ml.jsonable import jsonable


def test_sigmoid_is_stable_at_extremes():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        p = sigmoid(z)
    assert p[0] == 0.0 and p[-1] == 1.0 and p[2] == 0.5
    assert np.all(np.diff(p) >= 0)


def test_json_round_trip_preserves_scores():
    rng = np.random.default_rng(0)
    clf = Classifier(w=rng.standard_normal(16), b=-1.25, summary={"n_pos": np.int64(3), "arr": np.arange(3)})
    text = clf.to_json()
    back = Classifier.from_json(text)
    X = rng.standard_normal((5, 16)).astype(np.float32)
    np.testing.assert_allclose(back.score(X), clf.score(X), rtol=1e-12)
    assert back.summary == {"n_pos": 3, "arr": [0, 1, 2]}
    assert Classifier.from_json(json.loads(text)).b == -1.25


def test_json_has_no_nan_for_jsonb():
    assert jsonable({"a": float("nan"), "b": [np.float32(np.inf), 1]}) == {"a": None, "b": [None, 1]}
    clf = Classifier(w=np.zeros(2), b=0.0, summary={"auc": math.nan})
    assert json.loads(clf.to_json())["summary"]["auc"] is None


def test_decision_accepts_float32_and_single_vector():
    clf = Classifier(w=np.array([1.0, -2.0]), b=0.5)
    assert clf.decision(np.array([1.0, 1.0])) == pytest.approx(-0.5)
    np.testing.assert_allclose(clf.decision(np.array([[1, 1], [0, 0]], dtype=np.float32)), [-0.5, 0.5])
