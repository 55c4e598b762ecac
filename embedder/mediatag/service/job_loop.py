"""What the job workers share (SQL jobs in service/worker.py; the Python-run jobs of llm/jobs.py and
ingest/jobs.py): the loop on one autocommit connection that LISTENs on mediatag_jobs, reconnecting after a database
error (a server restart), its thread, and for Python-run jobs how a claimed job runs and records its end."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

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


def start_loop(
    url: str, stop: threading.Event, run_one: Callable[[psycopg.Connection], bool], log: logging.Logger, what: str
) -> threading.Thread:
    """`listen_for_jobs` over `run_one` in a daemon thread of its own (named after `what`), so its long jobs never
    delay another worker's."""
    t = threading.Thread(
        target=listen_for_jobs, args=(url, stop, run_one, 5.0, log, what), daemon=True, name=what.replace(" ", "-")
    )
    t.start()
    return t


def run_pending(url: str, run_one: Callable[[psycopg.Connection], bool], max_jobs: int) -> int:
    """Runs claimed jobs one by one until none is left or `max_jobs` ran; how many ran."""
    ran = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while ran < max_jobs and run_one(conn):
            ran += 1
    return ran


def run_claimed(
    conn: psycopg.Connection,
    job_id: int,
    what: str,
    work: Callable[[], dict[str, Any] | None],
    log: logging.Logger,
    plain: tuple[type[Exception], ...] = (),
) -> None:
    """Runs a job this worker claimed and records its end (mediatag._finish_llm_job): the result `work` returns,
    or why it failed. An exception of a `plain` type is its own message (it is written for people); any other
    is named with its type."""
    result, error = None, None
    try:
        result = work()
        log.info("job %d (%s) done: %s", job_id, what, result)
    except Exception as e:  # noqa: BLE001 — the job records why it stopped
        error = str(e) if isinstance(e, plain) else f"{type(e).__name__}: {e}"
        log.warning("job %d (%s) failed: %s", job_id, what, error)
    conn.execute(
        "SELECT mediatag._finish_llm_job(%s, %s::jsonb, %s)",
        (job_id, json.dumps(result, default=str) if result is not None else None, error),
    )
