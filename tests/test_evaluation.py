"""Tag evaluator: stratified sample, ground truth, removal, metrics, suggested and saved threshold."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .conftest import unique


@pytest.fixture
def evaluated(client, coco_dataset, labels):
    group = unique("Eval")
    client.create_tag_group(coco_dataset, group, ["person"])
    client.publish_tag_group(group)
    client.run_jobs()
    eid = client.start_evaluation(group, "person", size=30, seed=7)
    items = client.evaluation_items(eid)
    for value in (True, False):
        ids = [i["keyframe_id"] for i in items if ("person" in labels[Path(i["path"]).name]) == value]
        if ids:
            client.set_ground_truth(eid, ids, value)
    return group, eid, items


def test_sample_is_stratified(client, evaluated):
    _, eid, items = evaluated
    assert len(items) == 30
    per_bucket = Counter(i["bucket"] for i in items)
    assert all(0 <= b <= 9 for b in per_bucket)
    for i in items:
        assert i["bucket"] == min(int(i["score"] * 10), 9)
    # water-filling: a bucket only gets more than the smallest full quota if others ran short
    assert max(per_bucket.values()) - min(per_bucket.values()) <= 30


def test_metrics_and_threshold(client, evaluated, labels):
    group, eid, items = evaluated
    m = client.evaluation_metrics(eid)
    assert len(m) == 101 and m[0]["threshold"] == 0.0 and abs(m[-1]["threshold"] - 1.0) < 1e-6
    truth = [("person" in labels[Path(i["path"]).name]) for i in items]
    pos_rate = sum(truth) / len(truth)
    assert m[0]["recall"] == pytest.approx(1.0) and m[0]["precision"] == pytest.approx(pos_rate, abs=1e-6)
    for row in m:
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == 30
        expect = sum(1 for i, t in zip(items, truth, strict=True) if t and i["score"] >= row["threshold"])
        assert row["tp"] == expect
    best = client.suggest_threshold(eid, "f1")
    assert best["value"] == pytest.approx(max(r["f1"] for r in m), abs=1e-6)
    saved = client.save_threshold(eid, "f1")
    assert saved == pytest.approx(best["threshold"])
    assert {r["tag"]: r["threshold"] for r in client.group_overview(group)}["person"] == pytest.approx(saved)


def test_removed_items_leave_the_metrics(client, evaluated):
    _, eid, items = evaluated
    client.remove_evaluation_items(eid, [items[0]["keyframe_id"], items[1]["keyframe_id"]])
    m = client.evaluation_metrics(eid)
    assert m[0]["tp"] + m[0]["fp"] + m[0]["fn"] + m[0]["tn"] == 28
    assert len(client.evaluation_items(eid)) == 28 and len(client.evaluation_items(eid, include_removed=True)) == 30


def test_bad_evaluation_input(client, evaluated):
    _, eid, items = evaluated
    with pytest.raises(Exception, match="unknown evaluation"):
        client.evaluation_metrics(10**9)
    with pytest.raises(Exception, match="is not in evaluation"):
        client.set_ground_truth(eid, [10**12], True)
    with pytest.raises(Exception, match="invalid metric"):
        client.suggest_threshold(eid, "auc")
