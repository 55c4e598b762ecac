"""Embedding back-fill throughput: the same keyframes (COCO photos stored without vectors, as `ingest --ray`
leaves them) embedded by `mediatag backfill` in one process and on a local Ray with 2 workers (2 actors, each
loading the model once and taking half the cores). Rates are end to end, in keyframes/s: model loads and, for
Ray, starting it and its actors are included.

    python bench/bench_backfill.py [--photos 64] [--model NAME] [--unit-rows 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_db import bench_database_url

from mediatag.backfill import BackfillOptions, backfill
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.sample_data import coco_dir

DB = "mediatag_bench"


def deferred_dataset(url: str, name: str, photos: list[Path], media: Path, model: str | None) -> None:
    with connect(url) as conn:
        s = ingest(
            conn, name, photos, IngestOptions(progress=False, media_dir=media, visual_model=model, defer_keyframes=True)
        )
    assert s.ingested == len(photos), s.render()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=64)
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
        for engine, address in (("one process", None), ("local Ray, 2 workers", "local")):
            name = f"backfill_bench_{'ray' if address else 'one'}_{stamp}"
            deferred_dataset(url, name, photos, Path(tmp) / "kf", args.model)
            s = backfill(
                url, name, BackfillOptions(ray_address=address, workers=2, unit_rows=args.unit_rows, progress=False)
            )
            assert s.stored == len(photos) and not s.failed, s.render()
            rates[engine] = s.rate
            print(
                f"  {engine}: {s.stored} keyframes with {s.model} in {s.seconds:.1f} s -> {s.rate:.2f} keyframes/s"
                f" (end to end; load average now {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            with connect(url) as conn:
                conn.execute("SELECT mediatag.drop_dataset(%s)", (name,))
                conn.commit()
    print(f"  Ray / one process: {rates['local Ray, 2 workers'] / rates['one process']:.2f}x", flush=True)


if __name__ == "__main__":
    print("== embedding back-fill: one process vs local Ray (2 workers)")
    main()
