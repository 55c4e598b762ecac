"""The service's worker for 'transcribe' jobs (queued by mediatag.transcribe()): they decode media and run speech
models, so Python runs them, in their own thread (service.backfill_jobs). A job that dies mid-way is claimed again
and, the back-fill being resumable, continues with the assets not yet committed."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg

from ..service import backfill_jobs
from .backfill import transcribe_dataset

log = logging.getLogger("mediatag.transcribe")
KIND = "transcribe"


def _transcribe(conn: psycopg.Connection, dataset: str, payload: dict[str, Any], job_id: int) -> dict[str, Any]:
    return transcribe_dataset(conn, dataset, asr=payload.get("asr", "auto"), progress=False).as_dict()


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one transcribe job on `conn` (autocommit). False when there is none."""
    return backfill_jobs.run_one(conn, worker, KIND, _transcribe, log)


def run_pending(url: str, worker: str = "transcribe", max_jobs: int = 100) -> int:
    return backfill_jobs.run_pending(url, worker, KIND, _transcribe, log, max_jobs)


def start(url: str, stop: threading.Event, worker: str = "transcribe") -> threading.Thread:
    return backfill_jobs.start(url, stop, worker, KIND, _transcribe, log)
