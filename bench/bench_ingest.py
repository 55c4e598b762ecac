"""Ingestion throughput through the whole pipeline (decode, embed with the default offline model, COPY): the 128
COCO photos, before and after the ONNX Runtime path in the same run, and a generated 60 s 720p video with cuts (its
ingest timed apart from encoding the clip and from loading the models, beside decoding it alone).

"before" is the old embedding path: the offline model on PyTorch with one intra-op thread per core (what every ingest
ran until the ONNX path); "after" is the default now: the same weights exported to ONNX and run by ONNX Runtime
(models/conse/runtime.py), one thread per core and no spin-waiting. Both ingest the same photos into their own
dataset; each row prints keyframes/s (wall clock), the CPU seconds this process spent per keyframe (a shared host
changes the first, much less the second) and the mAP of the vectors ingest stored, read back from Postgres: COCO
classes with at least 5 positives among the photos, prompt "a photo of a {class}", photos ranked by prompt·image.
With --clothing N the same two encoders also embed N of the clothing photos (every k-th) and the mAP over the
clothing classes is printed for both.

    python bench/bench_ingest.py [--photos N] [--runtimes torch,onnx] [--clothing N] [--no-video]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_db import bench_database_url
from PIL import Image, ImageOps

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.media.decode import VideoDecoder
from mediatag.media.lavfi import concat_sources
from mediatag.media.probe import probe
from mediatag.models.conse.classprob import ClassProbConfig, ClassProbVisualEncoder
from mediatag.models.registry import OFFLINE_TEXT, OFFLINE_VISUAL, get_text_encoder, get_visual_encoder
from mediatag.sample_data import coco_dir, shared_data_dir

COCO = coco_dir()
DB = "mediatag_bench"
MIN_POSITIVES = 5
LABEL = {"torch": "before (PyTorch)", "onnx": "after (ONNX Runtime)"}


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


def encoder(runtime: str) -> ClassProbVisualEncoder:
    """The default offline model under its own name (the dataset records it) on one runtime."""
    return ClassProbVisualEncoder(OFFLINE_VISUAL, get_text_encoder(OFFLINE_TEXT), ClassProbConfig(runtime=runtime))


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    t = truth[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


def mean_ap(enc: ClassProbVisualEncoder, vectors: np.ndarray, label_sets: list[set[str]], min_pos: int) -> float:
    """mAP over the classes with at least min_pos positives, each queried as "a photo of a {class}"."""
    classes = sorted({c for s in label_sets for c in s})
    truth = np.array([[c in s for c in classes] for s in label_sets])
    keep = truth.sum(0) >= min_pos
    names, truth = [c for c, k in zip(classes, keep, strict=True) if k], truth[:, keep]
    scores = vectors @ enc.embed_texts([f"a photo of a {c}" for c in names]).T
    return float(np.mean([average_precision(scores[:, j], truth[:, j]) for j in range(len(names))]))


def stored_vectors(conn, dataset: str) -> dict[str, np.ndarray]:  # noqa: ANN001 — a psycopg connection
    rows = conn.execute(
        "SELECT k.image_path, k.embedding FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id"
        " WHERE d.name = %s",
        (dataset,),
    ).fetchall()
    conn.commit()
    return {Path(p).name: np.asarray(v.to_numpy(), dtype=np.float32) for p, v in rows}


def bench_photos(conn, runtimes: list[str], n_photos: int, tmp: Path) -> None:  # noqa: ANN001
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))[:n_photos]
    labels = {r["file"]: set(filter(None, r["classes"].split(";"))) for r in rows}
    paths = [COCO / "images" / r["file"] for r in rows]
    stamp = int(time.time())
    rates = {}
    for runtime in runtimes:
        enc = encoder(runtime)
        enc.embed_images([Image.new("RGB", (64, 64))])  # first-call costs (graph optimisation) outside the timing
        name = f"ingest_bench_photos_{runtime}_{stamp}"
        t0, c0 = time.perf_counter(), time.process_time()
        s = ingest(conn, name, paths, IngestOptions(progress=False, media_dir=tmp / "kf", visual_encoder=enc))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        stored = stored_vectors(conn, name)
        files = [f for f in labels if f in stored]
        ap = mean_ap(enc, np.stack([stored[f] for f in files]), [labels[f] for f in files], MIN_POSITIVES)
        rates[runtime] = s.keyframes / dt
        print(
            f"  photos, {LABEL[runtime]:<21} {s.keyframes} keyframes in {dt:6.1f}s -> {s.keyframes / dt:5.2f}"
            f" keyframes/s, {cpu / max(s.keyframes, 1):.3f} CPU-s/keyframe in this process, COCO mAP {ap:.3f}"
            f" ({enc.runtime})",
            flush=True,
        )
        conn.execute("SELECT mediatag.drop_dataset(%s)", (name,))
        conn.commit()
    if len(rates) == 2:
        print(f"  speed-up after/before: {rates['onnx'] / rates['torch']:.2f}x keyframes/s", flush=True)


def bench_clothing(runtimes: list[str], n: int) -> None:
    shared = shared_data_dir()
    folder = shared / "clothing-train" if shared else None
    if folder is None or not (folder / "labels.csv").is_file():
        print("  clothing photos not found (shared/data/clothing-train): skipped")
        return
    rows = list(csv.DictReader(open(folder / "labels.csv", newline="")))
    rows = rows[:: max(1, len(rows) // n)][:n]
    images = [ImageOps.exif_transpose(Image.open(folder / "images" / r["file"])).convert("RGB") for r in rows]
    vecs = {}
    for runtime in runtimes:
        enc = encoder(runtime)
        vecs[runtime] = enc.embed_images(images)
        ap = mean_ap(enc, vecs[runtime], [{r["class"]} for r in rows], 1)
        print(f"  clothing ({len(rows)} photos), {LABEL[runtime]:<21} mAP {ap:.3f}", flush=True)
    if len(vecs) == 2:
        print(
            f"  largest difference between the two runtimes' vectors: {np.abs(vecs['onnx'] - vecs['torch']).max():.1e}"
        )


def bench_video(conn, tmp: Path) -> None:  # noqa: ANN001
    """One 60-s 720p file through the whole ingest, timed apart from making the clip (encoding it takes ~6x as long
    as ingesting it) and from loading the models (once per process, paid by the first file of any run), beside
    decoding it alone with the same decoder settings: the gap is everything else ingest does."""
    path = make_video(tmp)
    seconds = (probe(path).duration_ms or 0) / 1000
    megabits = path.stat().st_size * 8 / 1e6 / max(seconds, 1e-9)
    t0 = time.perf_counter()
    get_visual_encoder(OFFLINE_VISUAL), get_text_encoder(OFFLINE_TEXT)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = sum(1 for _ in VideoDecoder(path).frames())
    decode_s = time.perf_counter() - t0
    name = f"ingest_bench_video_{int(time.time())}"
    t0 = time.perf_counter()
    s = ingest(conn, name, [path], IngestOptions(progress=False, media_dir=tmp / "kf"))
    dt = time.perf_counter() - t0
    print(
        f"  video ({seconds:.0f} s 720p H.264 at {megabits:.1f} Mbit/s, {frames} frames; models loaded first in"
        f" {load_s:.1f}s): {s.ingested} asset, {s.shots} shots, {s.keyframes} keyframes in {dt:.1f}s ->"
        f" {s.video_seconds / dt:.1f} s of video per second; decoding alone {seconds / decode_s:.1f} s of video per"
        f" second ({frames / decode_s:.0f} frames/s)",
        flush=True,
    )
    conn.execute("SELECT mediatag.drop_dataset(%s)", (name,))
    conn.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=128, help="how many of the COCO photos to ingest (default 128)")
    ap.add_argument("--runtimes", default="torch,onnx", help="before/after paths to run, in order (torch,onnx)")
    ap.add_argument("--clothing", type=int, default=0, help="also compare mAP on N clothing photos (default 0)")
    ap.add_argument("--no-video", action="store_true", help="skip the video ingest")
    args = ap.parse_args()
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if not set(runtimes) <= set(LABEL):
        raise SystemExit(f"--runtimes: use torch and/or onnx, not {args.runtimes!r}")
    url = bench_database_url(DB)
    with connect(url) as conn, tempfile.TemporaryDirectory() as tmp:
        bench_photos(conn, runtimes, args.photos, Path(tmp))
        if args.clothing:
            bench_clothing(runtimes, args.clothing)
        if not args.no_video:
            bench_video(conn, Path(tmp))


if __name__ == "__main__":
    print("== ingestion throughput (offline model, 2 CPU cores)")
    main()
