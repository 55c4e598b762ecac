"""The job worker: drains mediatag.job by calling the in-database procedure, woken by LISTEN/NOTIFY.

The work itself (scoring) runs inside Postgres; this loop only decides when to call it. A periodic poll also
picks up jobs orphaned by a worker that died (they are 'running' and their claiming backend is gone), jobs whose retry
backoff (run_after) has passed, and jobs of a worker that stopped heartbeating. While the loop runs, a second
connection heartbeats the worker's running jobs every `heartbeat_s` seconds (mediatag.job_heartbeat), so a
long job is not mistaken for a hung one, and a watchdog cancels Query-role statements past their time limit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import psycopg

from .job_loop import listen_for_jobs
from .periodic import PeriodicCall
from .query_watchdog import QueryWatchdog

log = logging.getLogger("mediatag.worker")

HEARTBEAT_S = 30.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat(PeriodicCall):
    """Marks this worker's running jobs as alive from its own connection until stopped."""

    def __init__(self, url: str, name: str, every_s: float = HEARTBEAT_S) -> None:
        super().__init__(url, every_s, "mediatag-heartbeat", log)
        self.name = name

    def tick(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT mediatag.job_heartbeat(%s)", (self.name,))


def run_pending(url: str, max_jobs: int = 1000) -> int:
    name = worker_name()
    with Heartbeat(url, name), psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("CALL mediatag.run_jobs(%s, %s, NULL)", (max_jobs, name)).fetchone()[0]


def run_forever(url: str, stop: threading.Event, poll_s: float = 5.0) -> None:
    from ..faces import jobs as face_jobs
    from ..ingest import jobs as transcribe_jobs
    from ..ingest import queue as ingest_jobs
    from ..llm import jobs as llm_jobs

    name = worker_name()
    llm_jobs.start(url, stop, name)  # 'llm_*' jobs (remote model calls) run in their own thread
    transcribe_jobs.start(url, stop, name)  # 'transcribe' jobs (speech to text) too
    face_jobs.start(url, stop, name)  # and 'face_scan' jobs (the faces back-fill)
    ingest_jobs.start(url, stop, name)  # and 'ingest' jobs (the UI's uploads and folders)

    def run_some(conn: psycopg.Connection) -> bool:
        ran = conn.execute("CALL mediatag.run_jobs(%s, %s, NULL)", (100, name)).fetchone()[0]
        if ran:
            log.info("ran %d job(s)", ran)
        return bool(ran)

    with Heartbeat(url, name), QueryWatchdog(url):
        listen_for_jobs(url, stop, run_some, poll_s, log, "worker")
