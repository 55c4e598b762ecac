"""The service's worker for 'transcribe' jobs (queued by mediatag.transcribe()): they decode media and run speech
models, so Python runs them, in their own thread, like the 'llm_*' jobs. A job that dies mid-way is claimed
again and, the back-fill being resumable, continues with the assets not yet committed."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from ..service import job_loop
from .backfill import transcribe_dataset

log = logging.getLogger("mediatag.transcribe")


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one transcribe job on `conn` (autocommit). False when there is none."""
    row = conn.execute("SELECT id, payload FROM mediatag._claim_transcribe_job(%s)", (worker,)).fetchone()
    if row is None or row[0] is None:
        return False
    job_id, payload = row
    register_vector(conn)  # segments are written with their halfvec embeddings

    def work() -> dict[str, Any]:
        name = conn.execute("SELECT name FROM mediatag.dataset WHERE id = %s", (payload["dataset_id"],)).fetchone()[0]
        conn.autocommit = False  # the back-fill commits asset by asset
        try:
            return transcribe_dataset(conn, name, asr=payload.get("asr", "auto"), progress=False).as_dict()
        finally:
            conn.rollback()
            conn.autocommit = True

    job_loop.run_claimed(conn, job_id, "transcribe", work, log)
    return True


def run_pending(url: str, worker: str = "transcribe", max_jobs: int = 100) -> int:
    return job_loop.run_pending(url, lambda conn: run_one(conn, worker), max_jobs)


def start(url: str, stop: threading.Event, worker: str = "transcribe") -> threading.Thread:
    """The transcribe job loop in its own thread: an hour of speech never delays scoring or LLM jobs."""
    return job_loop.start_loop(url, stop, lambda conn: run_one(conn, worker), log, "transcribe worker")
