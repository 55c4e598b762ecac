"""The service's worker for 'face_scan' jobs (queued by mediatag.scan_faces(), and by enable_faces() on a dataset
already ingested): the resumable back-fill of mediatag.faces.scan, in its own thread (service.backfill_jobs), with
its progress (keyframes done of total, faces found) in the job's result while it runs."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg

from ..service import backfill_jobs
from .scan import FaceScanSummary, scan_faces

log = logging.getLogger("mediatag.faces")
KIND = "face_scan"


def _scan(conn: psycopg.Connection, dataset: str, payload: dict[str, Any], job_id: int) -> dict[str, Any]:
    def progress(summary: FaceScanSummary, total: int) -> None:
        conn.execute(
            "SELECT mediatag._face_scan_progress(%s, jsonb_build_object('keyframes', %s::int, 'total', %s::int,"
            " 'faces', %s::int))",
            (job_id, summary.keyframes, total, summary.faces),
        )
        conn.commit()

    summary = scan_faces(conn, dataset, progress=False, on_batch=progress)
    if summary.off:
        raise RuntimeError(summary.off)  # faces turned off, or dlib missing: the job says why
    return summary.as_dict()


def run_one(conn: psycopg.Connection, worker: str) -> bool:
    """Claims and runs one face_scan job on `conn` (autocommit). False when there is none."""
    return backfill_jobs.run_one(conn, worker, KIND, _scan, log)


def run_pending(url: str, worker: str = "faces", max_jobs: int = 100) -> int:
    return backfill_jobs.run_pending(url, worker, KIND, _scan, log, max_jobs)


def start(url: str, stop: threading.Event, worker: str = "faces") -> threading.Thread:
    return backfill_jobs.start(url, stop, worker, KIND, _scan, log)
