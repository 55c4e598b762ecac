"""The job queue never hangs silently: last attempts end in an error the dataset shows, retries back off, hung
workers are taken over, a publish left open does not stall other jobs, finished jobs are purged, and job ids
past 2^31 work."""

from __future__ import annotations

import psycopg
import pytest

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique


@pytest.fixture(scope="module")
def jobs_dataset(db_url, service, coco_files, media_dir, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("jobs")
    files = []
    for i in range(8, 12):
        dst = folder / f"j{i}.jpg"
        dst.write_bytes(coco_files[i].read_bytes() + b"#jobs")  # own sha256, same picture
        files.append(dst)
    name = unique("jobs")
    with connect(db_url) as c:
        assert ingest(c, name, files, IngestOptions(progress=False, media_dir=media_dir)).ingested == 4
    return name


def _published_group(client, dataset: str, visibility: str | None = None) -> str:
    """A published group whose scoring job is queued (other queued jobs are drained first)."""
    client.run_jobs()
    name = unique("Jobs")
    client.create_tag_group(dataset, name, ["dog"])
    if visibility:
        client.publish_tag_group(name, visibility=visibility)
    else:
        client.publish_tag_group(name)
    return name


def _job(conn, group: str) -> tuple:
    """(id, state, attempts, error, backing off, worker) of the group's latest scoring job."""
    return conn.execute(
        "SELECT j.id, j.state, j.attempts, j.error, j.run_after > now() + interval '5 seconds', j.worker "
        "FROM mediatag.job j JOIN mediatag.tag_group g ON g.id = (j.payload ->> 'group_id')::bigint "
        "WHERE j.kind = 'score_group' AND lower(g.name) = lower(%s) ORDER BY j.id DESC LIMIT 1",
        (group,),
    ).fetchone()


def _status(client, group: str) -> tuple[str, str | None]:
    st = client.tag_group_status(group)[0]
    return st["status"], st["error"]


def _run(conn, n: int = 100, worker: str = "tester") -> int:
    return conn.execute("CALL mediatag.run_jobs(%s, %s, NULL)", (n, worker)).fetchone()[0]


def test_last_attempt_lost_with_its_worker_sets_the_application_to_error(client, conn, jobs_dataset):
    group = _published_group(client, jobs_dataset)
    job_id = _job(conn, group)[0]
    # What a worker killed during its last attempt leaves behind: 'running', its backend gone.
    conn.execute(
        "UPDATE mediatag.job SET state = 'running', attempts = max_attempts, worker = 'ghost', started_at = now() "
        "WHERE id = %s",
        (job_id,),
    )
    _run(conn)
    state, attempts, error = _job(conn, group)[1:4]
    assert (state, attempts) == ("error", 3) and "ghost" in error and "gave up after 3 attempts" in error
    status, app_error = _status(client, group)
    assert status == "error" and "ghost" in app_error


def test_failed_attempt_backs_off_then_succeeds(client, conn, jobs_dataset):
    group = _published_group(client, jobs_dataset)
    with psycopg.connect(conn.info.dsn, autocommit=True) as w:
        w.execute("SET mediatag.fault_delay_before_swap = 'not a number'")  # every scoring attempt now fails
        _run(w)
        job_id, state, attempts, error, backing_off, _ = _job(conn, group)
        assert (state, attempts, backing_off) == ("queued", 1, True) and "not a number" in error
        status, app_error = _status(client, group)
        assert status == "queued" and "attempt 1 of 3 failed, will retry" in app_error
        assert _run(w) == 0  # still backing off: not retried at once
    conn.execute("UPDATE mediatag.job SET run_after = now() WHERE id = %s", (job_id,))
    assert _run(conn) >= 1
    assert _job(conn, group)[1:3] == ("done", 2)
    assert _status(client, group) == ("scored", None)


def test_hung_worker_is_taken_over_after_its_heartbeat_stops(client, conn, jobs_dataset):
    group = _published_group(client, jobs_dataset)
    job_id = _job(conn, group)[0]
    with psycopg.connect(conn.info.dsn, autocommit=True) as hung:
        # A live session on attempt 1: the job names its backend (pid and start time), and it heartbeats (for now).
        pid = hung.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute(
            "UPDATE mediatag.job SET state = 'running', attempts = 1, worker = 'hung', started_at = now(), "
            "worker_pid = %s, worker_backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = %s) "
            "WHERE id = %s",
            (pid, pid, job_id),
        )
        assert hung.execute("SELECT mediatag.job_heartbeat('hung')").fetchone()[0] == 1
        _run(conn, worker="rescuer")
        assert _job(conn, group)[1:3] == ("running", 1)  # alive: left alone
        conn.execute("UPDATE mediatag.job SET heartbeat_at = now() - interval '2 hours' WHERE id = %s", (job_id,))
        _run(conn, worker="rescuer")
        _, state, attempts, _, _, worker = _job(conn, group)
        assert (state, attempts, worker) == ("done", 2, "rescuer")
        assert _status(client, group) == ("scored", None)


def test_publish_left_open_does_not_stall_other_jobs(
    client, conn, db_url, jobs_dataset, coco_files, media_dir, tmp_path
):
    # Group g applied to a second dataset; a publish of g stays open in a transaction (it holds locks on g's
    # score tables) while the worker meets g's job on the second dataset and another group's job.
    other = unique("jobs2")
    photo = tmp_path / "o.jpg"
    photo.write_bytes(coco_files[12].read_bytes() + b"#jobs2")
    with connect(db_url) as c:
        ingest(c, other, [photo], IngestOptions(progress=False, media_dir=media_dir))
    g = _published_group(client, jobs_dataset, visibility="shareable")
    client.run_jobs()
    client.apply_tag_group(g, other)
    client.run_jobs()
    client.apply_tag_group(g, other)  # rescoring queued: its swap needs g's score tables to itself
    h = unique("Jobs")
    client.create_tag_group(jobs_dataset, h, ["cat"])
    client.publish_tag_group(h)
    with psycopg.connect(db_url) as publisher, psycopg.connect(db_url, autocommit=True) as w:
        publisher.execute("SELECT mediatag.publish_tag_group(%s)", (g,))  # not committed
        w.execute("SET mediatag.job_lock_timeout = '1s'")
        w.execute("SET statement_timeout = '60s'")  # the old worker waited 120 s per attempt here
        _run(w)
        apply_job = w.execute(
            "SELECT state, attempts, lock_waits, error, run_after > now() FROM mediatag.job "
            "WHERE kind = 'score_group' AND (payload ->> 'dataset_id')::bigint = mediatag.dataset_id(%s) "
            "ORDER BY id DESC LIMIT 1",
            (other,),
        ).fetchone()
        assert apply_job[:3] == ("queued", 0, 1) and "waiting for a lock" in apply_job[3] and apply_job[4]
        assert _job(conn, h)[1] == "done"  # the other group's job ran
        publisher.rollback()
    conn.execute(
        "UPDATE mediatag.job SET run_after = now() WHERE state = 'queued' "
        "AND (payload ->> 'dataset_id')::bigint = mediatag.dataset_id(%s)",
        (other,),
    )
    _run(conn)
    assert [s["status"] for s in client.tag_group_status(g)] == ["scored", "scored"]


def test_finished_jobs_are_purged_after_their_age(conn):
    old, recent, pending = (
        conn.execute(
            "INSERT INTO mediatag.job (kind, state, finished_at) VALUES (%s, %s, now() - %s::interval) RETURNING id",
            (unique("noop"), state, age),
        ).fetchone()[0]
        for state, age in (("done", "8 days"), ("error", "1 hour"), ("queued", "30 days"))
    )
    conn.execute("UPDATE mediatag.job SET finished_at = NULL WHERE id = %s", (pending,))
    conn.execute("SELECT mediatag.purge_jobs()")
    left = {r[0] for r in conn.execute("SELECT id FROM mediatag.job WHERE id = ANY(%s)", ([old, recent, pending],))}
    assert left == {recent, pending}
    assert conn.execute("SELECT mediatag.purge_jobs(interval '10 minutes')").fetchone()[0] >= 1
    left = {r[0] for r in conn.execute("SELECT id FROM mediatag.job WHERE id = ANY(%s)", ([old, recent, pending],))}
    assert left == {pending}
    conn.execute("DELETE FROM mediatag.job WHERE id = %s", (pending,))


def test_job_ids_beyond_int4_are_claimed(conn):
    big = 3_000_000_000
    conn.execute("DELETE FROM mediatag.job WHERE id = %s", (big,))
    conn.execute("INSERT INTO mediatag.job (id, kind, max_attempts) VALUES (%s, 'no_such_kind', 1)", (big,))
    _run(conn)
    state, error = conn.execute("SELECT state, error FROM mediatag.job WHERE id = %s", (big,)).fetchone()
    assert state == "error" and 'unknown job kind "no_such_kind"' in error
    conn.execute("DELETE FROM mediatag.job WHERE id = %s", (big,))
