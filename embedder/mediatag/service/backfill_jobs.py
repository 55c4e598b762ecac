"""Back-fill jobs the service's Python worker runs in threads of their own, because they decode media and run models:
'transcribe' (mediatag.ingest.jobs) and 'face_scan' (mediatag.faces.jobs). One protocol for both: the job of a
kind is claimed through mediatag._claim_worker_job (same attempts and liveness rules as the SQL jobs), the
payload's dataset is back-filled with the connection in transaction mode (the back-fills commit batch by batch, so
a job that dies mid-way continues with what is left when it is claimed again) and the outcome is recorded
(job_loop.run_claimed, as for the LLM jobs)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from . import job_loop

# (connection, dataset name, payload, job id) -> the job's result
Backfill = Callable[[psycopg.Connection, str, dict[str, Any], int], dict[str, Any]]


def run_one(conn: psycopg.Connection, worker: str, kind: str, backfill: Backfill, log: logging.Logger) -> bool:
    """Claims and runs one job of `kind` on `conn` (autocommit). False when there is none."""
    pattern = kind.replace("_", "\\_")  # _claim_worker_job matches with LIKE
    row = conn.execute("SELECT id, payload FROM mediatag._claim_worker_job(%s, %s)", (worker, pattern)).fetchone()
    if row is None or row[0] is None:
        return False
    job_id, payload = row
    register_vector(conn)  # back-fills write vectors (segment embeddings, face descriptors)

    def work() -> dict[str, Any]:
        # An ingest names its dataset (it may create it); the back-fills give the id of one that exists.
        name = (
            payload.get("dataset")
            or conn.execute("SELECT name FROM mediatag.dataset WHERE id = %s", (payload["dataset_id"],)).fetchone()[0]
        )
        conn.autocommit = False
        try:
            return backfill(conn, name, payload, job_id)
        finally:
            conn.rollback()
            conn.autocommit = True

    job_loop.run_claimed(conn, job_id, kind, work, log)
    return True


def run_pending(url: str, worker: str, kind: str, backfill: Backfill, log: logging.Logger, max_jobs: int = 100) -> int:
    return job_loop.run_pending(url, lambda conn: run_one(conn, worker, kind, backfill, log), max_jobs)


def start(
    url: str, stop: threading.Event, worker: str, kind: str, backfill: Backfill, log: logging.Logger
) -> threading.Thread:
    """The job loop of `kind` in its own thread: an hour of back-fill never delays scoring or other jobs."""
    run = lambda conn: run_one(conn, worker, kind, backfill, log)  # noqa: E731 — one line, named for reading
    return job_loop.start_loop(url, stop, run, log, f"{kind} worker")
