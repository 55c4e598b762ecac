"""Segment quality and reel speed on videos with known ground truth made from real photos.

Each video is a sequence of the shared COCO photos (10 per video by default, 1.5 to 4 s each, cut together with
ffmpeg), so which tag is on screen when is known from the photos' labels. The videos are ingested (shot detection,
keyframes, the offline model), a group with zero-shot tags is published and scored, and dt_<group>_segment (the
default segment options, the calibrated default threshold 0.5) is compared with the ground-truth ranges:

- segment precision / recall: a segment matches a ground-truth range of the same video and tag when their
  intersection over union is at least 0.5 (one to one, best IoU first);
- boundary error: |start - true start| and |end - true end| in ms over the matched pairs (median and p90);
- the same boundary error with perfect classification (every ground-truth range found, through the keyframe and
  shot structure ingest produced): what cut detection and keyframe spans cost on their own.

Measured twice: prompts only (zero-shot) on every video, then with visual labels taken from the ground truth of
the first half of the videos, on the other half.

Then a reel of every segment of the most frequent tag is cut with `mediatag reel`'s code: seconds of output per
second of wall time.

    python bench/bench_segments.py [--videos 8] [--photos 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "embedder"))
sys.path.insert(0, str(ROOT))

from mediatag.cluster import default_cluster  # noqa: E402
from mediatag.db import connect  # noqa: E402
from mediatag.reel import make_reel  # noqa: E402
from mediatag.sample_data import coco_dir  # noqa: E402
from tests.mediafactory import coco_labels  # noqa: E402

DB = "mediatag_bench_segments"
TAGS = ("person", "car", "dog", "pizza")
FPS = 25
Range = tuple[int, int]


def photo_video(path: Path, shots: list[tuple[Path, float]]) -> None:
    """Photos as still shots of the given lengths, letterboxed to 640x360 at 25 fps, H.264."""
    args: list[str] = []
    for photo, seconds in shots:
        args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{seconds:.2f}", "-i", str(photo)]
    fit = "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p"
    graph = "".join(f"[{i}:v]{fit}[v{i}];" for i in range(len(shots))) + "".join(f"[v{i}]" for i in range(len(shots)))
    graph += f"concat=n={len(shots)}:v=1:a=0[v]"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", *args, "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264",
         "-preset", "veryfast", "-r", str(FPS), str(path)],
        check=True,
    )  # fmt: skip


def truth_ranges(shots: list[tuple[Path, float]], labels: dict[str, set[str]], tag: str) -> list[Range]:
    """The times the tag is on screen: consecutive photos with it as one range."""
    out: list[list[int]] = []
    t = 0
    for photo, seconds in shots:
        end = t + round(seconds * 1000)
        if tag in labels.get(photo.name, set()):
            if out and out[-1][1] == t:
                out[-1][1] = end
            else:
                out.append([t, end])
        t = end
    return [(a, b) for a, b in out]


def iou(a: Range, b: Range) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / max(1, max(a[1], b[1]) - min(a[0], b[0]))


def match(found: list[Range], truth: list[Range]) -> list[tuple[Range, Range]]:
    """One-to-one pairs with IoU >= 0.5, best first."""
    pairs = sorted(((iou(f, t), f, t) for f in found for t in truth), reverse=True)
    used_f, used_t, out = set(), set(), []
    for score, f, t in pairs:
        if score >= 0.5 and f not in used_f and t not in used_t:
            used_f.add(f)
            used_t.add(t)
            out.append((f, t))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def measure(c, plans: dict, labels: dict, videos: set[str], what: str) -> list[tuple]:
    """Print segment precision / recall and boundary errors on `videos`; the segments found, all videos."""
    slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE name = 'Things'").fetchone()[0]
    found = c.execute(
        f"SELECT a.path, s.tag, s.start_ms, s.end_ms FROM mediatag_data.dt_{slug}_segment s "  # noqa: S608 (a slug)
        "JOIN mediatag.asset a ON a.id = s.asset_id"
    ).fetchall()
    shots_db = c.execute(
        "SELECT a.path, s.start_ms, s.end_ms FROM mediatag.shot s JOIN mediatag.asset a ON a.id = s.asset_id"
    ).fetchall()
    n_found = n_truth = n_match = 0
    errors: list[float] = []
    oracle: list[float] = []
    for name in sorted(videos):
        shots = plans[name]
        cuts = {a for p, a, _ in shots_db if Path(p).name == name} | {b for p, _, b in shots_db if Path(p).name == name}
        for tag in TAGS:
            truth = truth_ranges(shots, labels, tag)
            segs = [(a, b) for p, t, a, b in found if Path(p).name == name and t == tag]
            pairs = match(segs, truth)
            n_found, n_truth, n_match = n_found + len(segs), n_truth + len(truth), n_match + len(pairs)
            errors += [abs(f[0] - t[0]) for f, t in pairs] + [abs(f[1] - t[1]) for f, t in pairs]
            # Perfect classification: each true range snapped to the detected shot boundaries nearest its ends.
            for a, b in truth:
                oracle += [min(abs(x - a) for x in cuts), min(abs(x - b) for x in cuts)]
    precision = n_match / n_found if n_found else float("nan")
    recall = n_match / n_truth if n_truth else float("nan")
    print(f"{what}: {n_found} segments found, {n_truth} true, {n_match} matched (IoU >= 0.5): "
          f"precision {precision:.2f}, recall {recall:.2f}; boundary error over matched: median "
          f"{pct(errors, 0.5):.0f} ms, p90 {pct(errors, 0.9):.0f} ms; with perfect classification (shot cuts): "
          f"median {pct(oracle, 0.5):.0f} ms, p90 {pct(oracle, 0.9):.0f} ms")  # fmt: skip
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from mediatag.ingest import IngestOptions, ingest
    from mediatag.service.http import serve_in_background

    rng = random.Random(args.seed)
    labels = coco_labels()
    photos = sorted((coco_dir() / "images").glob("*.jpg"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-segments-"))
    cluster = default_cluster()
    cluster.start()
    cluster.psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    cluster.psql(f'CREATE DATABASE "{DB}"')
    url = cluster.url(DB)
    with connect(url, autocommit=True) as c:
        serve_in_background(c, media_roots=[tmp])

    plans: dict[str, list[tuple[Path, float]]] = {}
    for v in range(args.videos):
        shots = [(p, rng.uniform(1.5, 4.0)) for p in rng.sample(photos, args.photos)]
        path = tmp / f"photos{v}.mp4"
        photo_video(path, shots)
        plans[path.name] = shots
    t0 = time.perf_counter()
    with connect(url) as c:
        ingest(c, "segbench", sorted(tmp.glob("photos*.mp4")), IngestOptions(progress=False, media_dir=tmp / "kf"))
        c.execute("SELECT mediatag.create_tag_group(dataset => 'segbench', name => 'Things', keywords => %s)",
                  ["\n".join(TAGS)])  # fmt: skip
        c.execute("SELECT mediatag.publish_tag_group('Things')")
        c.execute("SELECT mediatag.score_tag_group('Things')")
        c.commit()
        print(f"{args.videos} videos of {args.photos} photos ingested and scored in {time.perf_counter() - t0:.1f} s")
        found = measure(c, plans, labels, set(plans), "prompts only, all videos")
        # Visual labels from the ground truth on the first half of the videos, measured on the other half.
        train = sorted(plans)[: len(plans) // 2]
        for tag in TAGS:
            yes, no = [], []
            for kf, path, t in c.execute(
                "SELECT k.id, a.path, k.time_ms FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id"
            ).fetchall():
                if Path(path).name in train:
                    inside = any(a <= t < b for a, b in truth_ranges(plans[Path(path).name], labels, tag))
                    (yes if inside else no).append(kf)
            for ids, label in ((yes, True), (no, False)):
                if ids:
                    c.execute("SELECT mediatag.label_keyframes('Things', %s, %s, %s)", (tag, ids, label))
        c.execute("SELECT mediatag.publish_tag_group('Things')")
        c.execute("SELECT mediatag.score_tag_group('Things')")
        c.commit()
        measure(c, plans, labels, set(plans) - set(train), "with labels on the other half, held-out videos")

    top = max(TAGS, key=lambda t: sum(1 for r in found if r[1] == t))
    rows = [
        {"path": p, "start_ms": a, "end_ms": b} for p, t, a, b in sorted(found, key=lambda r: (r[0], r[2])) if t == top
    ]
    for reencode in (False, True) if rows else ():
        t0 = time.perf_counter()
        done = make_reel(rows, tmp / "reel.mp4", progress=False, reencode=reencode)
        wall = time.perf_counter() - t0
        print(f"reel ({top}): {done['cuts']} cuts, {done['seconds']:.1f} s of output ({done['mode']}) in {wall:.2f} s: "
              f"{done['seconds'] / wall:.1f} s of output per second")  # fmt: skip


if __name__ == "__main__":
    main()
