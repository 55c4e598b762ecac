"""Embedding back-fill throughput: the same keyframes (COCO photos stored without vectors, as `ingest --ray`
leaves them) embedded by `mediatag backfill` in one process and on a local Ray with 2 workers (2 actors, each
loading the model once and taking half the cores), plus one process with torch held to 1 thread (its default,
every core, oversubscribes a shared machine). Rates are end to end, in keyframes/s: the first run loads the model
(later one-process runs reuse it); for Ray, starting it and its actors' model loads are included. The steady
rate counts from the first unit written back to the last, and the ratios compare those.

    python bench/bench_backfill.py [--photos 32] [--model NAME] [--unit-rows 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from bench_db import bench_database_url

from mediatag.backfill import BackfillOptions, backfill
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.sample_data import coco_dir

DB = "mediatag_bench"
RUNS = (  # (engine, Ray address, torch threads)
    ("one process", None, None),
    ("one process, 1 torch thread", None, 1),
    ("local Ray, 2 workers", "local", None),
)


def deferred_dataset(url: str, name: str, photos: list[Path], media: Path, model: str | None) -> None:
    with connect(url) as conn:
        s = ingest(
            conn, name, photos, IngestOptions(progress=False, media_dir=media, visual_model=model, defer_keyframes=True)
        )
    assert s.ingested == len(photos), s.render()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--model", help="visual model (default: the product's default)")
    ap.add_argument("--unit-rows", type=int, default=8)
    args = ap.parse_args()
    url = bench_database_url(DB)
    photos = sorted((coco_dir() / "images").glob("*.jpg"))[: args.photos]
    stamp = int(time.time())
    print(
        f"  {len(photos)} keyframes per run, {os.cpu_count()} CPU(s) on this machine; load average"
        f" {os.getloadavg()[0]:.1f} at start (shared machine: figures are noisy)",
        flush=True,
    )
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (engine, address, threads) in enumerate(RUNS):
            name = f"backfill_bench_{i}_{stamp}"
            deferred_dataset(url, name, photos, Path(tmp) / "kf", args.model)
            if threads:  # torch's default (every core) oversubscribes a shared machine; the actors use 1 each
                torch.set_num_threads(threads)
            s = backfill(
                url, name, BackfillOptions(ray_address=address, workers=2, unit_rows=args.unit_rows, progress=False)
            )
            if threads:
                torch.set_num_threads(len(os.sched_getaffinity(0)))
            assert s.stored == len(photos) and not s.failed, s.render()
            rates[engine] = s.steady_rate
            print(
                f"  {engine}: {s.stored} keyframes with {s.model} in {s.seconds:.1f} s -> {s.rate:.2f} keyframes/s"
                f" end to end, {s.steady_rate:.2f} after the first unit (load average now {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            with connect(url) as conn:
                conn.execute("SELECT mediatag.drop_dataset(%s)", (name,))
                conn.commit()
    ray_rate = rates["local Ray, 2 workers"]
    print(
        f"  after the first unit, Ray / one process: {ray_rate / rates['one process']:.2f}x; Ray / one process with"
        f" 1 torch thread: {ray_rate / rates['one process, 1 torch thread']:.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    print("== embedding back-fill: one process vs local Ray (2 workers)")
    main()
