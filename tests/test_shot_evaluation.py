"""The evaluator at shot level, on a real video cut from red and patterned clips: the sample is the video's shots
(each shown and judged as its best keyframe), the metrics count shots, and the saved threshold is the one
dt_<group>_shot decides with, while keyframes and segments keep theirs. As an editor and as a viewer."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageStat
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from mediatag import Client
from mediatag.llm.config import LLMConfig
from mediatag.llm.ground_truth import run_ground_truth

from .conftest import unique
from .llm_server import FakeLLM, completion, image_of
from .mediafactory import video_with_cuts
from .test_segments import CLIPS, TRUTH, make_red_group


def as_client(conninfo: str) -> Client:
    """An SDK client logged in as a role's login over TCP (the SDK takes a URL)."""
    i = conninfo_to_dict(conninfo)
    return Client(f"postgresql://{i['user']}:{i['password']}@{i['host']}:{i['port']}/{i['dbname']}")


def _shot_rows(conn, slug: str, dataset: str) -> dict[int, tuple]:
    q = sql.SQL(
        "SELECT shot_id, score, threshold, threshold_decision FROM mediatag_data.{} "
        "WHERE dataset_id = mediatag.dataset_id(%s) AND tag = 'red'"
    ).format(sql.Identifier(f"dt_{slug}_shot"))
    return {r[0]: r[1:] for r in conn.execute(q, (dataset,))}


def _is_red(start_ms: int) -> bool:
    return any(a <= start_ms < b for a, b in TRUTH)


def test_shot_level_evaluation(client, conn, db_url, media_dir, logins, tmp_path):
    ds, group, slug = make_red_group(client, conn, db_url, media_dir, video_with_cuts(tmp_path / "r.mp4", CLIPS))
    editor, viewer = as_client(logins["editor"]), as_client(logins["viewer"])
    kf_threshold = client.group_overview(group)[0]["threshold"]
    shots = _shot_rows(conn, slug, ds)
    assert len(shots) == len(CLIPS)

    eid = editor.start_evaluation(group, "red", size=10, seed=3, level="shot")
    items = editor.evaluation_items(eid)
    # Every shot once (fewer shots than the size asked), keyed by its best keyframe, scored as dt_<group>_shot.
    assert sorted(i["shot_id"] for i in items) == sorted(shots)
    for i in items:
        assert i["score"] == pytest.approx(shots[i["shot_id"]][0], abs=1e-5)
        assert i["shot_start_ms"] <= i["keyframe_time_ms"] < i["shot_end_ms"]
    best = conn.execute(
        sql.SQL("SELECT DISTINCT ON (shot_id) shot_id, keyframe_id FROM mediatag_data.{} WHERE tag = 'red' "
                "ORDER BY shot_id, score DESC").format(sql.Identifier(f"dt_{slug}_visual"))
    ).fetchall()  # fmt: skip
    assert {i["shot_id"]: i["keyframe_id"] for i in items} == dict(best)
    summary = viewer.evaluation_summary(eid)[0]
    assert summary["level"] == "shot" and summary["items"] == len(CLIPS)

    # A viewer reads but may not judge, start or save.
    with pytest.raises(Exception, match="needs the mediatag_editor"):
        viewer.set_ground_truth(eid, [items[0]["keyframe_id"]], True)
    with pytest.raises(Exception, match="needs the mediatag_editor"):
        viewer.start_evaluation(group, "red", size=10, level="shot")

    red = [i["keyframe_id"] for i in items if _is_red(i["shot_start_ms"])]
    editor.set_ground_truth(eid, red, True)
    editor.set_ground_truth(eid, [i["keyframe_id"] for i in items if i["keyframe_id"] not in red], False)
    metrics = viewer.evaluation_metrics(eid, weighted=False)
    assert all(r["tp"] + r["fp"] + r["fn"] + r["tn"] == len(CLIPS) for r in metrics)
    assert metrics[0]["tp"] == len(TRUTH) and metrics[0]["fp"] == len(CLIPS) - len(TRUTH)
    truth = {i["shot_id"]: _is_red(i["shot_start_ms"]) for i in items}
    for row in metrics:  # shots counted at each threshold of the grid
        above = {s for s, (score, _, _) in shots.items() if score >= row["threshold"]}
        assert row["tp"] == sum(truth[s] for s in above) and row["fp"] == len(above) - row["tp"]
    for metric in ("f1", "f05", "recall", "accuracy"):  # (precision skips thresholds predicting too few)
        best = viewer.suggest_threshold(eid, metric, weighted=False)
        assert best["value"] == pytest.approx(max(r[metric] for r in metrics), abs=1e-6) and best["judged"] == 6
    suggested = viewer.suggest_threshold(eid, "f1")["threshold"]
    with pytest.raises(Exception, match="needs the mediatag_editor"):
        viewer.save_threshold(eid, "f1")

    saved = editor.save_threshold(eid, threshold=0.99)  # a shot threshold apart from the keyframes'
    assert saved == pytest.approx(0.99)
    after = _shot_rows(conn, slug, ds)
    assert all(thr == pytest.approx(0.99) and dec == (score >= 0.99) for score, thr, dec in after.values())
    assert client.group_overview(group)[0]["threshold"] == pytest.approx(kf_threshold)  # keyframes keep theirs
    visual = conn.execute(
        sql.SQL("SELECT DISTINCT threshold FROM mediatag_data.{} WHERE tag = 'red'").format(
            sql.Identifier(f"dt_{slug}_visual")
        )
    ).fetchall()
    assert [v[0] for v in visual] == [pytest.approx(kf_threshold)]
    segments = client.rows("tag_segments", dataset=ds, tag_group=group, tag="red")
    assert segments, "segments follow the keyframe threshold, not the shot one"

    assert editor.save_threshold(eid, "f1") == pytest.approx(suggested)
    # Between the red shots' scores and the others': dt_<group>_shot decides as the ground truth says.
    lo = max(score for s, (score, _, _) in shots.items() if not truth[s])
    hi = min(score for s, (score, _, _) in shots.items() if truth[s])
    assert hi > lo
    saved = editor.save_threshold(eid, threshold=(lo + hi) / 2)
    after = _shot_rows(conn, slug, ds)
    assert {s: dec for s, (_, _, dec) in after.items()} == truth
    assert viewer.evaluation_summary(eid)[0]["threshold"] == pytest.approx(saved)
    assert [e["level"] for e in viewer.list_evaluations(group, "red")] == ["shot"]
    # The next shot-level evaluation starts from the shot threshold.
    e2 = editor.start_evaluation(group, "red", size=10, level="shot")
    assert editor.evaluation_summary(e2)[0]["threshold_at_start"] == pytest.approx(saved)


def test_shot_level_needs_videos_and_a_known_level(client, coco_dataset):
    group = unique("ShotEval")
    client.create_tag_group(coco_dataset, group, ["person"])
    with pytest.raises(Exception, match='invalid preview level "scene": use keyframe or shot'):
        client.start_evaluation(group, "person", size=10, level="scene")
    with pytest.raises(Exception, match="has no video shots to evaluate"):
        client.start_evaluation(group, "person", size=10, level="shot")
    assert client.evaluation_summary(client.start_evaluation(group, "person", size=10))[0]["level"] == "keyframe"


def _red_judge(request: dict, n: int):
    """A vision model that says the tag applies where the image it is shown is mostly red."""
    img = Image.open(io.BytesIO(image_of(request) or b"")).convert("RGB")
    r, g, b = ImageStat.Stat(img).mean
    return completion(json.dumps({"applies": r > 150 and g < 80 and b < 80, "confidence": 0.9, "reason": "colour"}))


def test_shot_level_ground_truth_from_the_vision_model(client, conn, db_url, media_dir, tmp_path):
    """The configured vision model judges shot items as it judges keyframes: shown the shot's best keyframe."""
    ds, group, _ = make_red_group(client, conn, db_url, media_dir, video_with_cuts(tmp_path / "r.mp4", CLIPS))
    eid = client.start_evaluation(group, "red", size=10, level="shot")
    fake = FakeLLM()
    fake.behaviour = _red_judge
    try:
        cfg = LLMConfig(url=fake.url, model="fake-llm", vlm_model="fake-vlm", timeout_s=5.0, concurrency=2,
                        max_retries=2, backoff_s=0.01, max_backoff_s=0.05, breaker=3)  # fmt: skip
        stats = run_ground_truth(conn, eid, cfg)
    finally:
        fake.close()
    items = client.evaluation_items(eid)
    assert stats["answered"] == len(items) == len(CLIPS) and len(fake.requests) == len(CLIPS)
    assert {i["shot_id"]: (i["truth"], i["truth_source"]) for i in items} == {
        i["shot_id"]: (_is_red(i["shot_start_ms"]), "llm") for i in items
    }
    m = client.evaluation_metrics(eid, weighted=False)
    assert m[0]["tp"] == len(TRUTH) and m[0]["tp"] + m[0]["fp"] == len(CLIPS)
