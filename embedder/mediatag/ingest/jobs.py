"""The service's worker for 'transcribe' jobs (queued by mediatag.transcribe()): they decode media and run speech
models, so Python runs them, in their own thread, like the 'llm_*' jobs. A job that dies mid-way is claimed
again and, the back-fill being resumable, continues with the assets not yet committed."""

from __future__ import annotations

import json
import logging
import threading

import psycopg
from pgvector.psycopg import register_vector

from ..service.job_loop import listen_for_jobs
from .backfill import transcribe_dataset

log = logging.getLogger("mediatag.transcribe")


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one transcribe job on `conn` (autocommit). False when there is none."""
    row = conn.execute("SELECT id, payload FROM mediatag._claim_transcribe_job(%s)", (worker,)).fetchone()
    if row is None or row[0] is None:
        return False
    job_id, payload = row
    result, error = None, None
    register_vector(conn)  # segments are written with their halfvec embeddings
    try:
        name = conn.execute("SELECT name FROM mediatag.dataset WHERE id = %s", (payload["dataset_id"],)).fetchone()[0]
        conn.autocommit = False  # the back-fill commits asset by asset
        try:
            result = transcribe_dataset(conn, name, asr=payload.get("asr", "auto"), progress=False).as_dict()
        finally:
            conn.rollback()
            conn.autocommit = True
        log.info("job %d (transcribe %s) done: %s", job_id, name, result)
    except Exception as e:  # noqa: BLE001 — the job records why it stopped
        error = f"{type(e).__name__}: {e}"
        log.warning("job %d (transcribe) failed: %s", job_id, error)
    conn.execute(
        "SELECT mediatag._finish_llm_job(%s, %s::jsonb, %s)",
        (job_id, json.dumps(result, default=str) if result is not None else None, error),
    )
    return True


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
