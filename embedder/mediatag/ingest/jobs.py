"""The service's worker for 'transcribe' jobs (queued by mediatag.transcribe()): they decode media and run speech
models, so Python runs them, in their own thread, like the 'llm_*' jobs. A job that dies mid-way is claimed
again and, the back-fill being resumable, continues with the assets not yet committed."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import psycopg
from pgvector.psycopg import register_vector

from ..service.job_loop import listen_for_jobs
from .backfill import transcribe_dataset

log = logging.getLogger("mediatag.transcribe")


# work(conn, job_id, payload) -> the job's result; conn is in transaction mode and the work commits as it goes.
Work = Callable[[psycopg.Connection, int, dict], dict]


def run_worker_job(conn: psycopg.Connection, claim: str, worker: str, work: Work, what: str) -> bool:
    """Claims one job with mediatag.<claim>(worker) on `conn` (autocommit) and runs `work` on it; records its
    result, or why it stopped. False when there is none. Shared by the 'transcribe' and 'ingest' workers."""
    row = conn.execute(f"SELECT id, payload FROM mediatag.{claim}(%s)", (worker,)).fetchone()
    if row is None or row[0] is None:
        return False
    job_id, payload = row
    result, error = None, None
    register_vector(conn)  # rows are written with their halfvec embeddings
    try:
        conn.autocommit = False
        try:
            result = work(conn, job_id, payload)
        finally:
            conn.rollback()
            conn.autocommit = True
        log.info("job %d (%s) done: %s", job_id, what, result)
    except Exception as e:  # noqa: BLE001 — the job records why it stopped
        error = f"{type(e).__name__}: {e}"
        log.warning("job %d (%s) failed: %s", job_id, what, error)
    conn.execute(
        "SELECT mediatag._finish_llm_job(%s, %s::jsonb, %s)",
        (job_id, json.dumps(result, default=str) if result is not None else None, error),
    )
    return True


def _transcribe(conn: psycopg.Connection, job_id: int, payload: dict) -> dict:
    name = conn.execute("SELECT name FROM mediatag.dataset WHERE id = %s", (payload["dataset_id"],)).fetchone()[0]
    conn.commit()
    # the back-fill commits asset by asset
    return transcribe_dataset(conn, name, asr=payload.get("asr", "auto"), progress=False).as_dict()


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one transcribe job on `conn` (autocommit). False when there is none."""
    return run_worker_job(conn, "_claim_transcribe_job", worker, _transcribe, "transcribe")


def run_pending(url: str, worker: str = "transcribe", max_jobs: int = 100) -> int:
    ran = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while ran < max_jobs and run_one(conn, worker):
            ran += 1
    return ran


def start(url: str, stop: threading.Event, worker: str = "transcribe") -> threading.Thread:
    """The transcribe job loop in its own thread: an hour of speech never delays scoring or LLM jobs."""
    t = threading.Thread(
        target=listen_for_jobs,
        args=(url, stop, lambda conn: run_one(conn, worker), 5.0, log, "transcribe worker"),
        daemon=True,
        name="transcribe-worker",
    )
    t.start()
    return t
