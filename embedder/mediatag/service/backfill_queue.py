"""Speech to text and face scans for a login without superuser. Both back-fills write the extension's tables
directly (COPY of transcript segments, face rows, people), which only the operator's superuser login may; any
other login queues them instead: mediatag.transcribe / mediatag.scan_faces check when they are called that the
login may write the dataset (viewers get a clear refusal there), and the service's worker runs the job with its
own connection (service/backfill_jobs.py). The caller may follow the job until it ends (mediatag.dataset_job)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

ENDED = ("done", "error", "cancelled")


@dataclass(frozen=True, slots=True)
class QueuedJob:
    job_id: int
    kind: str
    dataset: str
    state: str
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED


def queue_transcription(conn: psycopg.Connection, dataset: str, asr: str = "auto") -> int:
    """Queues (or finds queued) the dataset's speech-to-text back-fill; the job id."""
    job = conn.execute("SELECT mediatag.transcribe(%s, %s)", (dataset, asr)).fetchone()[0]
    conn.commit()
    return job


def queue_face_scan(conn: psycopg.Connection, dataset: str) -> int:
    """Queues (or finds queued) the dataset's face scan; the job id. Faces must be on for the dataset."""
    job = conn.execute("SELECT mediatag.scan_faces(%s)", (dataset,)).fetchone()[0]
    conn.commit()
    return job


def job_state(conn: psycopg.Connection, job_id: int) -> QueuedJob:
    row = conn.execute(
        "SELECT job_id, kind, dataset, state, result, error FROM mediatag.dataset_job(%s)", (job_id,)
    ).fetchone()
    conn.commit()
    return QueuedJob(*row)


def wait_for(
    conn: psycopg.Connection,
    job_id: int,
    *,
    timeout_s: float | None = None,
    poll_s: float = 1.0,
    on_change: Callable[[QueuedJob], None] | None = None,
) -> QueuedJob:
    """Polls the job until it ends or `timeout_s` passes; `on_change` sees every new state. The last state read."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last: QueuedJob | None = None
    while True:
        job = job_state(conn, job_id)
        if on_change is not None and (last is None or (job.state, job.result) != (last.state, last.result)):
            on_change(job)
        last = job
        if job.ended or (deadline is not None and time.monotonic() >= deadline):
            return job
        time.sleep(poll_s)


def no_worker_warning(conn: psycopg.Connection) -> str | None:
    """Why a queued job would wait forever: no job worker is connected to the database."""
    workers = conn.execute("SELECT mediatag.job_workers()").fetchone()[0]
    conn.commit()
    if workers:
        return None
    return "no job worker is connected to the database: the job runs once `mediatag serve` (or `mediatag worker`) does"


def queued_line(what: str, job: int, dataset: str) -> str:
    """What a command says when it queued a back-fill instead of running it."""
    return (
        f"dataset {dataset}: {what} queued as job {job} for the service's worker (this login does not write those"
        f" tables itself); follow it with --wait or SELECT * FROM mediatag.dataset_job({job})"
    )


def face_scan_queued(job: int) -> str:
    """The ingest summary's line for the face scan of the new keyframes, queued for the worker."""
    return (
        f"face scan queued as job {job} for the service's worker (this login does not write the face tables"
        " itself); `mediatag faces scan DATASET --wait` follows it"
    )
