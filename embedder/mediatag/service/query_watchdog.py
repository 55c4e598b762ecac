"""Enforces the Query role's time limit from outside its sessions.

`mediatag_query`'s statement_timeout is a role default that any session may `SET statement_timeout = 0` away (and
that logins made by hand never get). This thread calls `mediatag.cancel_overdue_queries()` every second from the
service's own connection, which cancels any member's statement that has run past the role's limit.
"""

from __future__ import annotations

import logging
import threading

import psycopg

log = logging.getLogger("mediatag.watchdog")

EVERY_S = 1.0


class QueryWatchdog:
    """Runs until stopped; survives database restarts (reconnects after `EVERY_S`)."""

    def __init__(self, url: str, every_s: float = EVERY_S, older_than: str | None = None) -> None:
        # older_than: a limit other than the role's own statement_timeout (an interval, e.g. '5 min').
        self.url, self.every_s, self.older_than = url, every_s, older_than
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediatag-query-watchdog", daemon=True)

    def __enter__(self) -> QueryWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name="mediatag watchdog") as conn:
                    while not self._stop.wait(self.every_s):
                        for pid, login, ran_for in conn.execute(
                            "SELECT * FROM mediatag.cancel_overdue_queries(%s::interval)", (self.older_than,)
                        ):
                            log.warning("cancelled Query-role statement of %s (pid %d) after %s", login, pid, ran_for)
            except psycopg.Error as e:
                log.warning("query watchdog: database error, retrying: %s", e)
                self._stop.wait(self.every_s)
