"""The loop both job workers share (SQL jobs in service/worker.py, LLM jobs in llm/jobs.py): one autocommit
connection that LISTENs on mediatag_jobs, reconnecting after a database error (a server restart)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg


def listen_for_jobs(
    url: str,
    stop: threading.Event,
    run_some: Callable[[psycopg.Connection], bool],
    poll_s: float,
    log: logging.Logger,
    what: str,
) -> None:
    """Calls `run_some(conn)` until `stop` is set: again at once while it reports work done, otherwise after a
    NOTIFY on mediatag_jobs or `poll_s` seconds, whichever comes first (the poll picks up jobs whose retry backoff
    has passed and those of dead workers, which no NOTIFY announces). `what` names the worker in log lines."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("LISTEN mediatag_jobs")
                while not stop.is_set():
                    if run_some(conn):
                        continue
                    for _ in conn.notifies(timeout=poll_s, stop_after=1):
                        pass
        except psycopg.Error as e:
            log.warning("%s: database error, retrying in %.0fs: %s", what, poll_s, e)
            stop.wait(poll_s)
