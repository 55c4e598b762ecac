"""The service's worker for 'ingest' jobs (mediatag.queue_ingest: the UI's uploads and folders). The queuer's
rights and paths were checked when the job was queued; the worker runs the ingest with its own (the operator's)
connection, still refusing files that lead out of the media roots (a symlink in a folder), and records its
progress in the job's result for the dataset page (mediatag.ingest_jobs). A job cut short is not retried in a
loop: queue the folder again and the ingest resumes (files are known by sha256)."""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg.types.json import Jsonb

from ..service import backfill_jobs
from .pipeline import IngestOptions, ingest

log = logging.getLogger("mediatag.ingest_jobs")
KIND = "ingest"


def _ingest(conn: psycopg.Connection, dataset: str, payload: dict, job_id: int) -> dict:
    seen = {"files": 0, "files_done": 0}

    def progress(done: int, total: int) -> None:
        seen.update(files=total, files_done=done)
        conn.execute("SELECT mediatag._ingest_job_progress(%s, %s)", (job_id, Jsonb(seen)))
        conn.commit()

    opts = IngestOptions(progress=False, require_media_roots=True, on_progress=progress)
    summary = ingest(conn, dataset, payload["paths"], opts)
    return {**summary.as_dict(), **seen, "errors": len(summary.errors), "error_files": summary.errors}


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one ingest job on `conn` (autocommit). False when there is none."""
    return backfill_jobs.run_one(conn, worker, KIND, _ingest, log)


def run_pending(url: str, worker: str = "ingest", max_jobs: int = 100) -> int:
    return backfill_jobs.run_pending(url, worker, KIND, _ingest, log, max_jobs)


def start(url: str, stop: threading.Event, worker: str = "ingest") -> threading.Thread:
    """The ingest job loop in its own thread: a folder of videos never delays scoring or LLM jobs."""
    return backfill_jobs.start(url, stop, worker, KIND, _ingest, log)
