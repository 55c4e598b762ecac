"""The Python side of the job queue: claims the 'llm_*' jobs that CALL mediatag.run_jobs() leaves alone, since they
call a remote model from the service process. Same protocol as the SQL runner (a session advisory lock held while
the job runs; a dead worker's job is re-claimed and, the work being resumable, continues)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from ..service import job_loop
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

    def work() -> dict[str, Any]:
        handler = HANDLERS.get(kind)
        if handler is None:
            raise ValueError(f'unknown job kind "{kind}"')
        return handler(conn, payload or {}, job_id)

    job_loop.run_claimed(conn, job_id, kind, work, log, plain=(ConfigError, LLMError, EndpointDown))
    return True


def run_pending(url: str, worker: str = "llm", max_jobs: int = 100) -> int:
    return job_loop.run_pending(url, lambda conn: run_one(conn, worker), max_jobs)


def start(url: str, stop: threading.Event, worker: str = "llm") -> threading.Thread:
    """The LLM job loop in its own thread, so a long ground-truth run never delays scoring jobs."""
    return job_loop.start_loop(url, stop, lambda conn: run_one(conn, worker), log, "llm worker")
