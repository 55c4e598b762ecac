"""The job worker: drains mediatag.job by calling the in-database procedure, woken by LISTEN/NOTIFY.

The work itself (scoring) runs inside Postgres; this loop only decides when to call it. A periodic poll also
picks up jobs orphaned by a worker that died (they are 'running' with no live advisory lock).
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import psycopg

log = logging.getLogger("mediatag.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_pending(url: str, max_jobs: int = 1000) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("CALL mediatag.run_jobs(%s, %s, NULL)", (max_jobs, worker_name())).fetchone()[0]


def run_forever(url: str, stop: threading.Event, poll_s: float = 5.0) -> None:
    from ..llm import jobs as llm_jobs

    llm_jobs.start(url, stop, worker_name())  # 'llm_*' jobs (remote model calls) run in their own thread
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("LISTEN mediatag_jobs")
                while not stop.is_set():
                    ran = conn.execute("CALL mediatag.run_jobs(%s, %s, NULL)", (100, worker_name())).fetchone()[0]
                    if ran:
                        log.info("ran %d job(s)", ran)
                        continue
                    for _ in conn.notifies(timeout=poll_s, stop_after=1):
                        pass
        except psycopg.Error as e:
            log.warning("worker: database error, retrying in %.0fs: %s", poll_s, e)
            stop.wait(poll_s)
