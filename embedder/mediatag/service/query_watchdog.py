"""Enforces the Query role's time limit from outside its sessions.

`mediatag_query`'s statement_timeout is a role default that any session may `SET statement_timeout = 0` away (and
that logins made by hand never get). This thread calls `mediatag.cancel_overdue_queries()` every second from the
service's own connection, which cancels any Query-only member's statement that has run past the role's limit.
"""

from __future__ import annotations

import logging

import psycopg

from .periodic import PeriodicCall

log = logging.getLogger("mediatag.watchdog")

EVERY_S = 1.0


class QueryWatchdog(PeriodicCall):
    def __init__(self, url: str, every_s: float = EVERY_S, older_than: str | None = None) -> None:
        # older_than: a limit other than the role's own statement_timeout (an interval, e.g. '5 min').
        super().__init__(url, every_s, "mediatag-query-watchdog", log)
        self.older_than = older_than

    def tick(self, conn: psycopg.Connection) -> None:
        rows = conn.execute("SELECT * FROM mediatag.cancel_overdue_queries(%s::interval)", (self.older_than,))
        for pid, login, ran_for in rows:
            log.warning("cancelled Query-role statement of %s (pid %d) after %s", login, pid, ran_for)
