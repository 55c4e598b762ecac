"""Tag quality on real labeled photos (../shared/data/coco128-train2017), through the real SQL path:
F1 of prompt-only tags at the default threshold 0.5, then with 10, 25 and 50 visual labels.

For each COCO class with at least 8 positive photos among the 128: a tag named after the class, its zero-shot
classifier from the prompt, then labels drawn at random (stratified to keep both classes present) from the photos;
F1 and average precision are computed on the photos that were *not* labeled. Averaged over classes and 3 seeds.

    python bench/bench_quality.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from mediatag.cluster import default_cluster
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.sample_data import coco_dir
from mediatag.service.http import serve_in_background

COCO = coco_dir()
DB = "mediatag_bench"
DATASET = "coco128_quality"
LABEL_COUNTS = (0, 10, 25, 50)
SEEDS = (0, 1, 2)


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    order = np.argsort(-scores)
    t = truth[order]
    if not t.any():
        return float("nan")
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


def f1(scores: np.ndarray, truth: np.ndarray, thr: float) -> float:
    pred = scores >= thr
    tp = (pred & truth).sum()
    fp = (pred & ~truth).sum()
    fn = (~pred & truth).sum()
    return float(2 * tp / max(2 * tp + fp + fn, 1))


def main() -> None:
    cluster = default_cluster()
    cluster.start()
    cluster.ensure_database(DB)
    url = cluster.url(DB)
    with connect(url) as conn:
        server, _, _ = serve_in_background(conn, media_roots=[COCO])
        ingest(conn, DATASET, sorted((COCO / "images").glob("*.jpg")), IngestOptions(progress=False))
        with (COCO / "labels.csv").open() as f:
            truth_sets = {r["file"]: set(filter(None, r["classes"].split(";"))) for r in csv.DictReader(f)}
        rows = conn.execute(
            "SELECT k.id, k.image_path FROM mediatag.keyframe k WHERE k.dataset_id = "
            "mediatag.dataset_id(%s) ORDER BY k.id",
            (DATASET,),
        ).fetchall()
        ids = np.array([r[0] for r in rows])
        files = [Path(r[1]).name for r in rows]
        counts: dict[str, int] = {}
        for f in files:
            for c in truth_sets[f]:
                counts[c] = counts.get(c, 0) + 1
        classes = sorted(c for c, n in counts.items() if n >= 8)
        model = conn.execute("SELECT visual_model FROM mediatag.dataset WHERE name = %s", (DATASET,)).fetchone()[0]
        print(
            f"== tag quality on {len(files)} COCO photos, {len(classes)} classes with >= 8 positives "
            f"(visual model: {model})"
        )
        results = {n: {"f1": [], "best": [], "ap": []} for n in LABEL_COUNTS}
        for seed in SEEDS:
            group = f"Quality seed {seed}"
            conn.execute(
                "SELECT mediatag.drop_tag_group(%s) WHERE EXISTS (SELECT 1 FROM mediatag.tag_group "
                "WHERE lower(name) = lower(%s))",
                (group, group),
            )
            conn.execute(
                "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s)", (DATASET, group, classes)
            )
            conn.commit()
            rng = np.random.default_rng(seed)
            for cls in classes:
                truth = np.array([cls in truth_sets[f] for f in files])
                order = rng.permutation(len(ids))
                # Keep at least 3 positives among the first labels so small label sets see both classes.
                pos_first = [i for i in order if truth[i]][:3]
                order = np.array(pos_first + [i for i in order if i not in pos_first])
                labeled = 0
                for n in LABEL_COUNTS:
                    if n > labeled:
                        new = order[labeled:n]
                        for value in (True, False):
                            sel = [int(ids[i]) for i in new if truth[i] == value]
                            if sel:
                                conn.execute(
                                    "SELECT mediatag.label_keyframes(%s, %s, %s, %s)", (group, cls, sel, value)
                                )
                        labeled = n
                    held = order[max(LABEL_COUNTS) :]  # the same held-out photos for every label count
                    s = {
                        r[0]: r[1]
                        for r in conn.execute(
                            "SELECT keyframe_id, score FROM mediatag.preview(%s, %s, kind => 'positives', "
                            "threshold => 0, n => 1000)",
                            (group, cls),
                        )
                    }
                    sc = np.array([s[int(ids[i])] for i in held])
                    tr = truth[held]
                    if tr.any():
                        results[n]["f1"].append(f1(sc, tr, 0.5))
                        results[n]["best"].append(max(f1(sc, tr, t) for t in np.linspace(0, 1, 101)))
                        results[n]["ap"].append(average_precision(sc, tr))
                conn.commit()
        print(f"{'labels':>8} {'F1@0.5':>8} {'best F1':>8} {'AP':>8}   (held-out photos, mean over classes x seeds;")
        print(f"{'':>8} {'':>8} {'':>8} {'':>8}    best F1 = at the threshold the evaluator would suggest)")
        for n in LABEL_COUNTS:
            r = results[n]
            print(f"{n:>8} {np.nanmean(r['f1']):>8.3f} {np.nanmean(r['best']):>8.3f} {np.nanmean(r['ap']):>8.3f}")
    server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
