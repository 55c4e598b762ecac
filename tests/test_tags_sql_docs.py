"""The transcript preview and the worker loop of `mediatag serve`, on real media with the real embedding service.

The README's SQL examples run as SQL in the pg_regress suite (sql/test/sql/readme.sql)."""

from __future__ import annotations

import threading
import time

import psycopg

from mediatag.service import worker

from .conftest import unique


def _published_on_clips(client, video_dataset: str) -> str:
    group = unique("Docs")
    client.create_tag_group(video_dataset, group, "red screen\nfractal")
    client.add_prompt(group, "fractal", "Fractals are beautiful", modality="transcript")
    client.publish_tag_group(group)
    client.run_jobs()
    return group


def test_transcript_preview_ranks_the_matching_line(client, video_dataset):
    group = _published_on_clips(client, video_dataset)
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
