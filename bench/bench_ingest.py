"""Ingestion throughput through the whole pipeline (decode, embed with the offline model, COPY): the 128 COCO
photos and a generated 60 s 720p video with cuts and subtitles.

    python bench/bench_ingest.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_db import bench_database_url

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.media.lavfi import concat_sources
from mediatag.sample_data import coco_dir

COCO = coco_dir()
DB = "mediatag_bench"


def make_video(folder: Path) -> Path:
    path = folder / "bench_720p.mp4"
    sources = [
        "testsrc2=size=1280x720:rate=30",
        "mandelbrot=size=1280x720:rate=30",
        "smptehdbars=size=1280x720:rate=30",
        "life=size=1280x720:rate=30:mold=10:ratio=0.2",
    ]
    concat_sources(path, [sources[i % len(sources)] for i in range(12)], 5, preset="veryfast")
    return path


def main() -> None:
    url = bench_database_url(DB)
    with connect(url) as conn, tempfile.TemporaryDirectory() as tmp:
        stamp = int(time.time())
        for name, paths in (("photos", sorted((COCO / "images").glob("*.jpg"))), ("video", [make_video(Path(tmp))])):
            t0 = time.perf_counter()
            s = ingest(
                conn, f"ingest_bench_{name}_{stamp}", paths, IngestOptions(progress=False, media_dir=Path(tmp) / "kf")
            )
            dt = time.perf_counter() - t0
            line = f"  {name}: {s.ingested} assets, {s.keyframes} keyframes in {dt:.1f}s"
            line += f" -> {s.keyframes / dt:.1f} keyframes/s"
            if s.video_seconds:
                line += f", {s.video_seconds / dt:.1f} s of video per second ({s.shots} shots)"
            print(line, flush=True)
            conn.execute("SELECT mediatag.drop_dataset(%s)", (f"ingest_bench_{name}_{stamp}",))
            conn.commit()


if __name__ == "__main__":
    print("== ingestion throughput (offline model, 2 CPU cores)")
    main()
