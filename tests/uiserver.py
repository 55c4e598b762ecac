"""The web UI's ASGI apps served by uvicorn on free loopback ports in a thread, as `mediatag ui` serves one."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_apps(*datasettes) -> Iterator[list[str]]:
    """Serve each of `datasettes` (from `make_datasette`) until the block ends; yields their base URLs.

    One event loop for all of them: the plugin's sessions (and their async pools) are one store per process, closed
    on the loop that opened them."""
    import uvicorn
    from datasette_mediatag.sessions import STORE

    ports = [free_port() for _ in datasettes]
    servers = [
        uvicorn.Server(uvicorn.Config(d.app(), host="127.0.0.1", port=p, log_level="warning"))
        for d, p in zip(datasettes, ports, strict=True)
    ]
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        loop.run_until_complete(STORE.close_all())

    thread = threading.Thread(target=run, daemon=True, name="mediatag-ui")
    thread.start()
    deadline = time.monotonic() + 30
    while not all(s.started for s in servers):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the UI server did not start")
        time.sleep(0.05)
    try:
        yield [f"http://127.0.0.1:{p}" for p in ports]
    finally:
        for s in servers:
            s.should_exit = True
        thread.join(timeout=15)
