"""Back-fill jobs the service's Python worker runs in threads of their own, because they decode media and run models:
'transcribe' (mediatag.ingest.jobs) and 'face_scan' (mediatag.faces.jobs). One protocol for both: the job of a
kind is claimed through mediatag._claim_worker_job (same attempts and liveness rules as the SQL jobs), the
payload's dataset is back-filled with the connection in transaction mode (the back-fills commit batch by batch, so
a job that dies mid-way continues with what is left when it is claimed again) and the outcome is recorded."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from .job_loop import listen_for_jobs

# (connection, dataset name, payload, job id) -> the job's result
Backfill = Callable[[psycopg.Connection, str, dict[str, Any], int], dict[str, Any]]


def run_one(conn: psycopg.Connection, worker: str, kind: str, backfill: Backfill, log: logging.Logger) -> bool:
    """Claims and runs one job of `kind` on `conn` (autocommit). False when there is none."""
    pattern = kind.replace("_", "\\_")  # _claim_worker_job matches with LIKE
    row = conn.execute("SELECT id, payload FROM mediatag._claim_worker_job(%s, %s)", (worker, pattern)).fetchone()
    if row is None or row[0] is None:
        return False
    job_id, payload = row
    result, error = None, None
    register_vector(conn)  # back-fills write vectors (segment embeddings, face descriptors)
    try:
        name = conn.execute("SELECT name FROM mediatag.dataset WHERE id = %s", (payload["dataset_id"],)).fetchone()[0]
        conn.autocommit = False
        try:
            result = backfill(conn, name, payload, job_id)
        finally:
            conn.rollback()
            conn.autocommit = True
        log.info("job %d (%s %s) done: %s", job_id, kind, name, result)
    except Exception as e:  # noqa: BLE001 — the job records why it stopped
        error = f"{type(e).__name__}: {e}"
        log.warning("job %d (%s) failed: %s", job_id, kind, error)
    conn.execute(
        "SELECT mediatag._finish_llm_job(%s, %s::jsonb, %s)",
        (job_id, json.dumps(result, default=str) if result is not None else None, error),
    )
    return True


def run_pending(url: str, worker: str, kind: str, backfill: Backfill, log: logging.Logger, max_jobs: int = 100) -> int:
    ran = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while ran < max_jobs and run_one(conn, worker, kind, backfill, log):
            ran += 1
    return ran


def start(
    url: str, stop: threading.Event, worker: str, kind: str, backfill: Backfill, log: logging.Logger
) -> threading.Thread:
    """The job loop of `kind` in its own thread: an hour of back-fill never delays scoring or other jobs."""
    t = threading.Thread(
        target=listen_for_jobs,
        args=(url, stop, lambda conn: run_one(conn, worker, kind, backfill, log), 5.0, log, f"{kind} worker"),
        daemon=True,
        name=f"{kind}-worker",
    )
    t.start()
    return t
