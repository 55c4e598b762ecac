"""Web UI speed on the demo data (the 64 sample photos), in headless Chromium: the tag preview page's load and the
threshold slider's redraw, plus thumbnail generation cold vs cached.

    .venv/bin/python bench/bench_ui.py [--loads 10] [--moves 20]

Builds its own database (mediatag_bench_ui) on the embedded cluster, runs the embedding service and the UI in
threads, and prints medians and p95s. The page figure is navigation start to DOMContentLoaded (the grid is in the
server's HTML); the redraw is the slider's input event to the tiles replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from mediatag.cluster import default_cluster
from mediatag.db import connect
from mediatag.sample_data import coco_dir

DB = "mediatag_bench_ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def line(name: str, xs: list[float]) -> None:
    print(f"{name:45} median {statistics.median(xs):7.1f} ms   p95 {p95(xs):7.1f} ms   (n={len(xs)})", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(tmp: Path) -> tuple[str, str]:
    from mediatag.ingest import IngestOptions, ingest
    from mediatag.service.http import serve_in_background

    cluster = default_cluster()
    cluster.start()
    cluster.psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    cluster.psql(f'CREATE DATABASE "{DB}"')
    url = cluster.url(DB)
    with connect(url, autocommit=True) as c:
        serve_in_background(c, media_roots=[tmp / "keyframes", coco_dir() / "images"])
    t0 = time.perf_counter()
    with connect(url) as c:
        files = sorted((coco_dir() / "images").glob("*.jpg"))
        summary = ingest(c, "demo", files, IngestOptions(progress=False, media_dir=tmp / "keyframes"))
        c.execute("SELECT mediatag.create_tag_group(dataset => 'demo', name => 'Objects', keywords => %s)",
                  ["person\ngiraffe\ncar"])  # fmt: skip
        c.commit()
    print(f"setup: {summary.ingested} photos ingested, group created in {time.perf_counter() - t0:.1f} s", flush=True)
    return url, "Objects"


def serve_ui(url: str, thumb_dir: Path) -> str:
    import secrets

    import uvicorn
    from datasette_mediatag.app import login_url_for, make_datasette
    from psycopg.conninfo import make_conninfo

    from mediatag.users import ensure_ui_login

    # The no-login UI acts as a non-superuser editor login over TCP, as `mediatag ui --no-login` sets it up.
    password = secrets.token_urlsafe(16)
    with connect(url, autocommit=True) as c:
        ensure_ui_login(c, "mediatag_bench_ui", ("editor",), password)
    local = make_conninfo(login_url_for(url), user="mediatag_bench_ui", password=password)
    app = make_datasette(None, local_url=local, thumb_dir=str(thumb_dir))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app.app(), host="127.0.0.1", port=port, log_level="warning"))
    loop = asyncio.new_event_loop()
    threading.Thread(target=lambda: loop.run_until_complete(server.serve()), daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=10)
    ap.add_argument("--moves", type=int, default=20)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        url, group = setup(tmp)
        base = serve_ui(url, tmp / "thumbs")
        page_url = base + "/mediatag/tag?" + urlencode({"group": group, "tag": "car"})
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            cold = time.perf_counter()
            page.goto(page_url, wait_until="load")  # first visit: every thumbnail is made
            print(f"first visit (thumbnails generated): load event after {1000 * (time.perf_counter() - cold):.0f} ms")
            dcl, ttfb, srv = [], [], []
            for _ in range(args.loads):
                page.goto(page_url, wait_until="load")
                n = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
                    return [n.domContentLoadedEventEnd - n.startTime, n.responseStart - n.startTime,
                            n.serverTiming.length ? n.serverTiming[0].duration : 0]; }""")
                dcl.append(n[0])
                ttfb.append(n[1])
                srv.append(n[2])
            line("preview page: navigation to DOMContentLoaded", dcl)
            line("preview page: time to first byte", ttfb)
            line("preview page: server (SQL + template)", srv)
            for i in range(args.moves):
                v = f"{0.05 + 0.9 * ((i * 7) % args.moves) / args.moves:.2f}"
                page.evaluate("(v) => { const s = document.getElementById('threshold'); s.value = v;"
                              " s.dispatchEvent(new Event('input', {bubbles: true})); }", v)  # fmt: skip
                page.wait_for_function("(v) => document.getElementById('preview').dataset.threshold === v", arg=v)
            line("threshold slider: input to tiles redrawn", page.evaluate("window.mtRedraws"))
            thumbs = page.evaluate("""async () => { const t = [];
                for (const img of Array.from(document.images).slice(0, 10)) {
                    const s = performance.now(); await fetch(img.src, {cache: 'no-store'});
                    t.push(performance.now() - s); }
                return t; }""")
            line("thumbnail request, cached on disk", thumbs)
            browser.close()
    with psycopg.connect(default_cluster().url("postgres"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
