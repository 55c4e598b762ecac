"""A background thread that runs one database call every few seconds on its own connection, until stopped, and
reconnects after a database error (a server restart). The worker's heartbeat and the Query-role watchdog are two."""

from __future__ import annotations

import logging
import threading

import psycopg


class PeriodicCall:
    """Context manager: `tick(conn)` every `every_s` seconds on an autocommit connection to `url`."""

    def __init__(self, url: str, every_s: float, name: str, log: logging.Logger) -> None:
        self.url, self.every_s, self.log = url, every_s, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def tick(self, conn: psycopg.Connection) -> None:
        raise NotImplementedError

    def __enter__(self) -> PeriodicCall:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name=self._thread.name) as conn:
                    while not self._stop.wait(self.every_s):
                        self.tick(conn)
            except psycopg.Error as e:
                self.log.warning("%s: database error, retrying: %s", self._thread.name, e)
                self._stop.wait(self.every_s)
