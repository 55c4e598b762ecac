"""The Python side of the job queue: claims the 'llm_*' jobs that CALL mediatag.run_jobs() leaves alone, since they
call a remote model from the service process. Same protocol as the SQL runner (a session advisory lock held while
the job runs; a dead worker's job is re-claimed and, the work being resumable, continues)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from ..service.job_loop import listen_for_jobs
from .client import LLMError
from .config import ConfigError, LLMConfig
from .ground_truth import EndpointDown, run_ground_truth

log = logging.getLogger("mediatag.llm")


def _ground_truth(conn: psycopg.Connection, payload: dict[str, Any], job_id: int) -> dict[str, Any]:
    return run_ground_truth(conn, int(payload["evaluation_id"]), LLMConfig.from_env(), job_id=job_id)


HANDLERS: dict[str, Callable[[psycopg.Connection, dict[str, Any], int], dict[str, Any]]] = {
    "llm_ground_truth": _ground_truth,
}


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one LLM job on `conn` (autocommit). False when there is none."""
    row = conn.execute("SELECT id, kind, payload FROM mediatag._claim_llm_job(%s)", (worker,)).fetchone()
    if row is None or row[0] is None:
        return False
    job_id, kind, payload = row
    handler = HANDLERS.get(kind)
    result, error = None, None
    try:
        if handler is None:
            raise ValueError(f'unknown job kind "{kind}"')
        result = handler(conn, payload or {}, job_id)
        log.info("job %d (%s) done: %s", job_id, kind, result)
    except Exception as e:  # noqa: BLE001 — the job records why it stopped
        error = str(e) if isinstance(e, (ConfigError, LLMError, EndpointDown)) else f"{type(e).__name__}: {e}"
        log.warning("job %d (%s) failed: %s", job_id, kind, error)
    conn.execute(
        "SELECT mediatag._finish_llm_job(%s, %s::jsonb, %s)",
        (job_id, json.dumps(result) if result is not None else None, error),
    )
    return True


def run_pending(url: str, worker: str = "llm", max_jobs: int = 100) -> int:
    ran = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while ran < max_jobs and run_one(conn, worker):
            ran += 1
    return ran


def run_forever(url: str, stop: threading.Event, worker: str = "llm", poll_s: float = 5.0) -> None:
    listen_for_jobs(url, stop, lambda conn: run_one(conn, worker), poll_s, log, "LLM worker")


def start(url: str, stop: threading.Event, worker: str = "llm") -> threading.Thread:
    """The LLM job loop in its own thread, so a long ground-truth run never delays scoring jobs."""
    t = threading.Thread(target=run_forever, args=(url, stop, worker), daemon=True, name="llm-worker")
    t.start()
    return t
