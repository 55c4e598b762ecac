"""The README's SQL examples run as documented, the transcript preview, and the worker loop of `mediatag serve`."""

from __future__ import annotations

import threading
import time

import psycopg
from psycopg import sql

from mediatag.service import worker

from .conftest import unique


def _published_on_clips(client, video_dataset: str) -> tuple[str, str]:
    group = unique("Docs")
    client.create_tag_group(video_dataset, group, "red screen\nfractal")
    client.add_prompt(group, "fractal", "Fractals are beautiful", modality="transcript")
    client.publish_tag_group(group)
    client.run_jobs()
    slug = client.query("SELECT slug FROM mediatag.tag_group WHERE name = :n", n=group)[0]["slug"]
    return group, slug


def test_readme_queries(client, conn, video_dataset):
    group, slug = _published_on_clips(client, video_dataset)
    ds_slug = conn.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (video_dataset,)).fetchone()[0]
    conn.execute("SET search_path = mediatag_data, mediatag, public")
    visual, video, keyframes = (
        sql.Identifier(f"dt_{slug}_visual"),
        sql.Identifier(f"dt_{slug}_video"),
        sql.Identifier(f"{ds_slug}_keyframes"),
    )
    counts = conn.execute(
        sql.SQL(
            "SELECT tag, count(*) FILTER (WHERE threshold_decision) AS keyframes, "
            "count(DISTINCT video_id) FILTER (WHERE threshold_decision) AS videos FROM {} GROUP BY tag ORDER BY tag"
        ).format(visual)
    ).fetchall()
    assert [c[0] for c in counts] == ["fractal", "red screen"]
    in_range = conn.execute(
        sql.SQL(
            'SELECT k."SeriesName", k."EpisodeName", v.keyframe_time_ms, v.score, k.path FROM {} v JOIN {} k '
            "USING (keyframe_id) WHERE v.tag = 'fractal' AND v.keyframe_time_ms BETWEEN 0 AND 6000 "
            "ORDER BY v.video_id, v.keyframe_time_ms"
        ).format(visual, keyframes)
    ).fetchall()
    assert in_range and all(r[0] == "Test Series" and r[1] == "Pilot" for r in in_range)
    top = conn.execute(
        sql.SQL(
            "SELECT tag, video_id, score, shots_above_threshold FROM (SELECT *, row_number() OVER "
            "(PARTITION BY tag ORDER BY score DESC) AS r FROM {} WHERE video_id IS NOT NULL) x WHERE r <= 5"
        ).format(video)
    ).fetchall()
    assert len(top) == 2 and all(0 <= r[2] <= 1 for r in top)


def test_transcript_preview_ranks_the_matching_line(client, video_dataset):
    group, _ = _published_on_clips(client, video_dataset)
    rows = client.preview_transcripts(group, "fractal", kind="all", sort="score")
    assert len(rows) == 3
    assert rows[0]["text"] == "Fractals are beautiful."
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    by_time = client.preview_transcripts(group, "fractal", kind="all", sort="time")
    assert [r["start_ms"] for r in by_time] == sorted(r["start_ms"] for r in by_time)
    positives = client.preview_transcripts(group, "fractal", threshold=0.0)
    assert len(positives) == 3 and all(r["decision"] for r in positives)


def test_serve_worker_scores_published_groups(client, db_url, video_dataset):
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(db_url, stop, 0.5), daemon=True)
    thread.start()
    try:
        client.run_jobs()  # drain what other tests left, so the wait below is about this group
        group = unique("Worker")
        client.create_tag_group(video_dataset, group, ["fractal"])
        client.publish_tag_group(group)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and client.tag_group_status(group)[0]["status"] != "scored":
            time.sleep(0.2)
        assert client.tag_group_status(group)[0]["status"] == "scored"
        job = client.query(
            "SELECT worker FROM mediatag.job WHERE payload->>'group_id' = "
            "(SELECT id::text FROM mediatag.tag_group WHERE name = :n)",
            n=group,
        )[0]
        assert job["worker"] == worker.worker_name()
    finally:
        stop.set()
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("NOTIFY mediatag_jobs")
        thread.join(10)
    assert not thread.is_alive()
