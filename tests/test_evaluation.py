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
    unweighted = client.evaluation_metrics(eid, weighted=False)
    assert unweighted[0]["recall"] == pytest.approx(1.0)
    assert unweighted[0]["precision"] == pytest.approx(pos_rate, abs=1e-6)
    assert m[0]["recall"] == pytest.approx(1.0)
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


def _bucket(score: float) -> int:
    return min(int(score * 10), 9)


def test_bucket_populations_and_scored_version_are_recorded(client, conn, evaluated):
    group, eid, items = evaluated
    e = conn.execute(
        "SELECT e.bucket_population, e.group_version, e.classifier_id, e.dataset_id, e.tag_id "
        "FROM mediatag.evaluation e WHERE e.id = %s",
        (eid,),
    ).fetchone()
    pop, version, classifier_id, dataset_id, tag_id = e
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
    scores = [
        r[0]
        for r in conn.execute(
            f'SELECT score FROM mediatag_data."dt_{slug}_visual" WHERE dataset_id = %s AND tag = %s',
            (dataset_id, "person"),
        )
    ]
    assert len(pop) == 10 and sum(pop) == len(scores) == 48
    assert pop == [sum(1 for s in scores if _bucket(s) == b) for b in range(10)]
    published = conn.execute(
        "SELECT vt.version, vt.visual_classifier_id FROM mediatag.group_application a "
        "JOIN mediatag.group_version_tag vt ON vt.group_id = a.group_id AND vt.version = a.scored_version "
        "WHERE a.dataset_id = %s AND vt.tag_id = %s",
        (dataset_id, tag_id),
    ).fetchone()
    assert (version, classifier_id) == tuple(published)


def test_weighted_metrics_estimate_the_dataset(client, evaluated, labels):
    _, eid, items = evaluated
    weights = {r["keyframe_id"]: r["weight"] for r in client.rows("evaluation_weights", evaluation_id=eid)}
    per_bucket = Counter(i["bucket"] for i in items)
    truth = {i["keyframe_id"]: "person" in labels[Path(i["path"]).name] for i in items}
    m = client.evaluation_metrics(eid)
    for row in m:
        # The estimated counts add up to the dataset, not to the sample.
        assert row["est_tp"] + row["est_fp"] + row["est_fn"] + row["est_tn"] == pytest.approx(48, rel=1e-5)
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == 30
        expect = sum(w for k, w in weights.items() if truth[k] and items_by_id(items)[k]["score"] >= row["threshold"])
        assert row["est_tp"] == pytest.approx(expect, rel=1e-5, abs=1e-5)
    assert sum(weights.values()) == pytest.approx(48)
    for i in items:
        assert weights[i["keyframe_id"]] > 0 and per_bucket[i["bucket"]] * weights[i["keyframe_id"]] >= 1
    est_rate = sum(w for k, w in weights.items() if truth[k]) / 48
    assert m[0]["precision"] == pytest.approx(est_rate, abs=1e-5)
    unweighted = client.evaluation_metrics(eid, weighted=False)
    assert unweighted[0]["precision"] == pytest.approx(sum(truth.values()) / 30, abs=1e-6)
    best_w = client.suggest_threshold(eid, "f1")
    assert best_w["value"] == pytest.approx(max(r["f1"] for r in m), abs=1e-6)
    best_u = client.suggest_threshold(eid, "f1", weighted=False)
    assert best_u["value"] == pytest.approx(max(r["f1"] for r in unweighted), abs=1e-6)


def items_by_id(items):
    return {i["keyframe_id"]: i for i in items}


def test_evaluates_the_scored_version_not_the_draft(client, conn, coco_dataset, labels):
    group = unique("EvalVersion")
    client.create_tag_group(coco_dataset, group, ["dog"])
    client.publish_tag_group(group)
    client.run_jobs()
    # A draft edit after scoring: new labels retrain the tag, the dataset keeps its published scores.
    kf = {
        Path(p).name: i
        for p, i in conn.execute(
            "SELECT image_path, id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (coco_dataset,)
        )
    }
    dogs = [i for f, i in kf.items() if "dog" in labels[f]][:2]
    others = [i for f, i in kf.items() if "dog" not in labels[f]][:6]
    client.label_keyframes(group, "dog", dogs, True)
    client.label_keyframes(group, "dog", others, False)
    eid = client.start_evaluation(group, "dog", size=20, seed=1)
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
    q = f'SELECT keyframe_id, score FROM mediatag_data."dt_{slug}_visual" WHERE tag = %s'
    published = {r[0]: r[1] for r in conn.execute(q, ("dog",))}
    items = client.evaluation_items(eid)
    assert items and all(i["score"] == pytest.approx(published[i["keyframe_id"]], abs=1e-5) for i in items)
    latest = conn.execute(
        "SELECT c.id FROM mediatag.classifier c JOIN mediatag.tag t ON t.id = c.tag_id JOIN mediatag.tag_group g "
        "ON g.id = t.group_id WHERE g.name = %s AND c.modality = 'visual' ORDER BY c.version DESC LIMIT 1",
        (group,),
    ).fetchone()[0]
    evaluated_id = conn.execute("SELECT classifier_id FROM mediatag.evaluation WHERE id = %s", (eid,)).fetchone()[0]
    assert evaluated_id != latest


def test_threshold_per_dataset(client, conn, coco_dataset, video_dataset):
    group = unique("EvalPerDataset")
    client.create_tag_group(coco_dataset, group, ["person"])
    client.publish_tag_group(group, visibility="shareable")
    client.apply_tag_group(group, video_dataset)
    client.run_jobs()
    eid = client.start_evaluation(group, "person", dataset=video_dataset, size=10)
    items = client.evaluation_items(eid)
    client.set_ground_truth(eid, [i["keyframe_id"] for i in items], False)
    assert client.save_threshold(eid, threshold=0.85) == pytest.approx(0.85)
    overview = {r["tag"]: r["threshold"] for r in client.group_overview(group)}
    assert overview["person"] == pytest.approx(0.5)  # the training dataset's (default) threshold is unchanged
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
    rows = conn.execute(
        f"SELECT d.name, v.threshold, bool_and(v.threshold_decision = (v.score >= v.threshold)) "
        f'FROM mediatag_data."dt_{slug}_visual" v JOIN mediatag.dataset d ON d.id = v.dataset_id GROUP BY 1, 2'
    ).fetchall()
    by_ds = {r[0]: (r[1], r[2]) for r in rows}
    assert by_ds[video_dataset][0] == pytest.approx(0.85) and by_ds[coco_dataset][0] == pytest.approx(0.5)
    assert all(ok for _, ok in by_ds.values())
    # A later evaluation on the video dataset starts from that dataset's threshold.
    e2 = client.start_evaluation(group, "person", dataset=video_dataset, size=10)
    start = conn.execute("SELECT threshold_at_start FROM mediatag.evaluation WHERE id = %s", (e2,)).fetchone()[0]
    assert start == pytest.approx(0.85)
    with pytest.raises(Exception, match="only evaluations on the training dataset become labels"):
        client.labels_from_evaluation(eid)


def test_labels_from_evaluation(client, conn, evaluated, labels):
    group, eid, items = evaluated
    before = conn.execute(
        "SELECT max(c.version) FROM mediatag.classifier c JOIN mediatag.tag t ON t.id = c.tag_id "
        "JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s AND c.modality = 'visual'",
        (group,),
    ).fetchone()[0]
    client.remove_evaluation_items(eid, [items[0]["keyframe_id"]])
    n = client.labels_from_evaluation(eid)
    assert n == 29
    got = conn.execute(
        "SELECT l.keyframe_id, l.label, l.origin FROM mediatag.visual_label l JOIN mediatag.tag t ON t.id = l.tag_id "
        "JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s",
        (group,),
    ).fetchall()
    assert len(got) == 29 and {r[2] for r in got} == {"evaluation"}
    truth = {i["keyframe_id"]: "person" in labels[Path(i["path"]).name] for i in items}
    assert all(truth[k] == label for k, label, _ in got) and items[0]["keyframe_id"] not in {r[0] for r in got}
    after = conn.execute(
        "SELECT max(c.version), (array_agg(c.summary ORDER BY c.version DESC))[1] FROM mediatag.classifier c "
        "JOIN mediatag.tag t ON t.id = c.tag_id JOIN mediatag.tag_group g ON g.id = t.group_id "
        "WHERE g.name = %s AND c.modality = 'visual'",
        (group,),
    ).fetchone()
    assert after[0] > before and after[1]["kind"] == "labels" and after[1]["n_pos"] + after[1]["n_neg"] == 29
