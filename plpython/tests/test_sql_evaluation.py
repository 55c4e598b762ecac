"""mediatag_ml.sql_evaluation: the bodies of mediatag.evaluation_metrics and mediatag.suggest_threshold, run with a
fake plpy answering mediatag.evaluation_weights."""

from __future__ import annotations

import numpy as np
import pytest
from fake_plpy import FakePlpy, PlpyError

from mediatag_ml import metrics, sql_evaluation

RNG = np.random.default_rng(0)
# Sure positives, sure negatives from a large bucket (weight 50) and a mixed middle: weighting moves the metrics.
SCORES = np.r_[RNG.uniform(0.6, 1, 30), RNG.uniform(0, 0.6, 30), RNG.uniform(0.3, 0.7, 40)]
TRUTH = np.r_[np.ones(30, bool), np.zeros(30, bool), RNG.random(40) < 0.5]
WEIGHTS = np.r_[np.full(30, 1.0), np.full(30, 50.0), np.full(40, 10.0)]


def _plpy(weights: list | None = None, scores=SCORES, truth=TRUTH) -> FakePlpy:
    w = WEIGHTS.tolist() if weights is None else weights
    judged = {"s": None if scores is None else list(scores), "y": None if truth is None else list(truth), "w": w}
    return FakePlpy({"mediatag.evaluation_weights($1)": [judged]})


def test_evaluation_metrics_has_a_row_per_threshold_with_sample_and_estimated_counts():
    plpy = _plpy()
    rows = sql_evaluation.evaluation_metrics(plpy, 5, True)
    assert plpy.calls("evaluation_weights") == [[5]]
    assert len(rows) == 101 and list(rows[0]) == list(sql_evaluation.COLUMNS.values())
    expected = metrics.threshold_metrics(SCORES, TRUTH, weights=WEIGHTS)
    row = rows[50]
    assert row["threshold"] == pytest.approx(0.5)
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == tuple(
        expected[f"sample_{k}"][50] for k in ("tp", "fp", "fn", "tn")
    )
    assert row["est_tp"] == expected["tp"][50] and row["est_tp"] != row["tp"]  # weighted: population estimates
    assert row["f1"] == pytest.approx(expected["f1"][50])


@pytest.mark.parametrize("weighted, weights", [(False, None), (True, [None] * 100)])
def test_evaluation_metrics_unweighted_or_drawn_before_populations_uses_the_sample_counts(weighted, weights):
    rows = sql_evaluation.evaluation_metrics(_plpy(weights), 5, weighted)
    assert all(r["est_tp"] == r["tp"] and r["est_fn"] == r["fn"] for r in rows)
    assert rows[50]["f1"] == pytest.approx(metrics.threshold_metrics(SCORES, TRUTH)["f1"][50])


@pytest.mark.parametrize("call", [sql_evaluation.evaluation_metrics, sql_evaluation.suggest_threshold])
def test_nothing_judged_yet_says_how_to_judge(call):
    args = (5, "f1", True) if call is sql_evaluation.suggest_threshold else (5, True)
    with pytest.raises(PlpyError, match="evaluation 5 has no judged items yet") as e:
        call(_plpy(weights=None, scores=None, truth=None), *args)
    assert "set_ground_truth" in e.value.hint


def test_suggest_threshold_maximises_the_weighted_metric():
    (row,) = sql_evaluation.suggest_threshold(_plpy(), 5, "f1", True)
    thr, val = metrics.best_threshold(SCORES, TRUTH, metric="f1", weights=WEIGHTS)
    assert row == {"threshold": float(thr), "value": float(val), "metric": "f1", "judged": 100}
    assert val != metrics.best_threshold(SCORES, TRUTH, metric="f1")[1]  # the weights made a difference


def test_suggest_threshold_unweighted_ignores_the_weights():
    (row,) = sql_evaluation.suggest_threshold(_plpy(), 5, "precision", False)
    thr, val = metrics.best_threshold(SCORES, TRUTH, metric="precision")
    assert (row["threshold"], row["value"], row["metric"]) == (float(thr), float(val), "precision")


def test_suggest_threshold_refuses_a_null_metric_before_reading_anything():
    """A wrong word never gets here (the argument's type, mediatag.metric, refuses it: tests/test_enum_types.py);
    NULL passes a domain's CHECK, so the body refuses it."""
    plpy = _plpy()
    with pytest.raises(PlpyError, match="metric must not be NULL"):
        sql_evaluation.suggest_threshold(plpy, 5, None, True)
    assert plpy.executed == []
