"""The PL/Python bodies of sql/src/evaluation.sql: metrics per threshold (mediatag.evaluation_metrics) and the best
threshold for a metric (mediatag.suggest_threshold) from an evaluation's judged items."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics
from .plpy_support import Plpy, run

JUDGED_SQL = """SELECT array_agg(score) AS s, array_agg(truth) AS y, array_agg(weight) AS w
                FROM mediatag.evaluation_weights($1)"""
# threshold_metrics' keys → evaluation_metrics' columns: with weights, the plain counts are population estimates
# (est_*) and the sample's own counts are sample_*.
COLUMNS = {
    "thresholds": "threshold",
    "precision": "precision",
    "recall": "recall",
    "f1": "f1",
    "f05": "f05",
    "accuracy": "accuracy",
    "sample_tp": "tp",
    "sample_fp": "fp",
    "sample_fn": "fn",
    "sample_tn": "tn",
    "tp": "est_tp",
    "fp": "est_fp",
    "fn": "est_fn",
    "tn": "est_tn",
}


def _judged(plpy: Plpy, evaluation_id: int, weighted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(scores, truth, Horvitz-Thompson weights) of the judged, kept items; the weights are None when unweighted
    metrics are asked for or the evaluation predates stored bucket populations."""
    r = run(plpy, JUDGED_SQL, ["bigint"], [evaluation_id])[0]
    if not r["s"]:
        plpy.error(
            f"evaluation {evaluation_id} has no judged items yet",
            hint="record ground truth with mediatag.set_ground_truth()",
        )
    w = np.array(r["w"], dtype=np.float64) if weighted and r["w"][0] is not None else None
    return np.array(r["s"], dtype=np.float64), np.array(r["y"], dtype=bool), w


def evaluation_metrics(plpy: Plpy, evaluation_id: int, weighted: bool) -> list[dict[str, Any]]:
    """mediatag.evaluation_metrics: one row per threshold (0.00 .. 1.00)."""
    s, y, w = _judged(plpy, evaluation_id, weighted)
    m = metrics.threshold_metrics(s, y, weights=np.ones_like(s) if w is None else w)
    cols = [np.asarray(m[k]).tolist() for k in COLUMNS]
    return [dict(zip(COLUMNS.values(), row, strict=True)) for row in zip(*cols, strict=True)]


def suggest_threshold(plpy: Plpy, evaluation_id: int, metric: str, weighted: bool) -> list[dict[str, Any]]:
    """mediatag.suggest_threshold: the threshold that maximises `metric`, its value and the number of judged items."""
    if metric is None:  # any other word the argument's type, mediatag.metric, has refused
        plpy.error("metric must not be NULL", hint="use " + ", ".join(metrics.METRICS))
    s, y, w = _judged(plpy, evaluation_id, weighted)
    thr, val = metrics.best_threshold(s, y, metric=metric, weights=w)
    return [{"threshold": float(thr), "value": float(val), "metric": metric, "judged": len(s)}]
