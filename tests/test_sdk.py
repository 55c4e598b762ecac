"""The SDK's SQLAlchemy side: reflected Table objects for the generated views, DataFrames, shot-level preview."""

from __future__ import annotations

from sqlalchemy import func, select

from .conftest import unique


def test_reflected_tables_compose_queries(client, conn, video_dataset):
    group = unique("Sdk")
    client.create_tag_group(video_dataset, group, ["fractal", "test card"])
    client.publish_tag_group(group)
    client.run_jobs()
    slug = client.query("SELECT slug FROM mediatag.tag_group WHERE name = :n", n=group)[0]["slug"]
    ds_slug = conn.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (video_dataset,)).fetchone()[0]
    visual = client.table(f"dt_{slug}_visual")
    keyframes = client.table(f"{ds_slug}_keyframes")
    assert {"keyframe_id", "tag", "score", "threshold_decision"} <= set(visual.c.keys())
    assert "SeriesName" in keyframes.c
    q = (
        select(visual.c.tag, func.max(visual.c.score), keyframes.c.SeriesName)
        .join(keyframes, keyframes.c.keyframe_id == visual.c.keyframe_id)
        .group_by(visual.c.tag, keyframes.c.SeriesName)
        .order_by(visual.c.tag)
    )
    with client.engine.connect() as c:
        rows = c.execute(q).all()
    assert [r[0] for r in rows] == ["fractal", "test card"] and all(r[2] == "Test Series" for r in rows)
    df = client.dataframe(f"SELECT tag, score FROM mediatag_data.dt_{slug}_visual")
    assert set(df["tag"]) == {"fractal", "test card"} and df["score"].between(0, 1).all()
    embedding = client.table("keyframe", schema="mediatag").c.embedding
    assert type(embedding.type).__name__ == "HALFVEC"


def test_shot_level_preview_has_one_row_per_shot(client, video_dataset):
    group = unique("Shots")
    client.create_tag_group(video_dataset, group, ["fractal"])
    rows = client.preview(group, "fractal", level="shot", threshold=0.0, kind="positives", n=50)
    shots = [r["shot_id"] for r in rows]
    assert len(shots) == len(set(shots)) == 3
    frames = client.preview(group, "fractal", level="keyframe", threshold=0.0, kind="positives", n=50)
    assert len(frames) >= len(rows)
