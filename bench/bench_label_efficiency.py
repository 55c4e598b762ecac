"""How much labels teach, as the product proposes them, through the SQL path (issue 29).

Photos of a source are sorted by file name and split in halves: the pool fold is ingested as one dataset (the only
photos ever labeled, and the dataset's own unlabeled sample), the held-out fold as another (only measured on). A
simulated user answers every proposal from the ground truth.

1. Tags (a prompt = the class name as a user types it): labels as the product proposes them: the first 10 from
   the top of mediatag.preview(), then mediatag.uncertain_keyframes(k => 5) after each retrain. Printed per
   label count 0/10/25/50, mean over the classes: held-out AP, its gain over 0 labels, F1 at the tag's own
   threshold, the share of held-out scores >= 0.999. COCO (coco128-train2017, classes with >= 8 positives) runs
   both ways (pool = photos 65-128 / held-out 1-64, and back); the clothing photos (clothing-train, 10 classes)
   one way (pool = first half).
2. Concepts (labels only: a meaningless name, no description) on the clothing pool: mediatag.continue_labeling(n
   => 5) + mediatag.label_concept against 5 random labels at a time (seeded), 10 classes x SEEDS; held-out AP
   after 10/25/50 labels, and how many active labels reach random's AP at 50.
Held-out scores are the latest classifier's sigmoid(x·w + b) over the held-out dataset's keyframes, in SQL.
Embeddings are cached per photo (bench/embedding_cache.py): only the first run pays for the model.

    MEDIATAG_SHARED_DATA=../shared/data python bench/bench_label_efficiency.py [--sources coco clothing]
        [--seeds 5] [--skip-tags] [--skip-concepts]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from bench_db import bench_database_url
from embedding_cache import CachedVisualEncoder
from quality_sources import Source, ingest_photos, label, read_source

from mediatag.cluster import project_root
from mediatag.db import connect
from mediatag.models.registry import default_visual_model, get_visual_encoder
from mediatag.service.http import serve_in_background

sys.path.insert(0, str(project_root() / "plpython"))
from mediatag_ml import metrics  # noqa: E402

DB = "mediatag_bench"
LABEL_COUNTS = (0, 10, 25, 50)
CONCEPT_COUNTS = (10, 25, 50)
PREVIEW_FIRST = 10  # labels taken from the top of the preview before uncertain_keyframes
BATCH = 5  # labels per retrain after that, for tags and concepts
COCO_MIN_POSITIVES = 8
SPREAD = 0.999


def directions(src: Source) -> list[tuple[str, list[str], list[str]]]:
    """(name, pool files, held-out files): COCO both ways (fold A = photos 65-128, B = 1-64), clothing one."""
    b, a = src.folds()
    if src.name == "coco":
        return [("A->B", a, b), ("B->A", b, a)]
    return [("B->A", b, a)]


def dataset(conn, encoder, src: Source, files: list[str], part: str) -> tuple[str, np.ndarray, list[str]]:
    """A dataset of exactly these photos (named by model, source and a hash of the file list), its keyframe ids
    and file names in id order."""
    digest = hashlib.sha1("\n".join(files).encode()).hexdigest()[:8]
    slug = "".join(ch if ch.isalnum() else "_" for ch in encoder.name.lower())
    name = f"labeff_{src.name}_{part}_{digest}_{slug}"
    return (name, *ingest_photos(conn, name, src, files, encoder))


def held_scores(conn, held: str, weights_sql: str, key: object) -> np.ndarray:
    """Scores of the held-out dataset's keyframes (id order) under the classifier `weights_sql` selects."""
    rows = conn.execute(
        f"""SELECT mediatag.sigmoid(c.bias - (k.embedding <#> c.weights::halfvec))
            FROM mediatag.keyframe k, ({weights_sql}) c
            WHERE k.dataset_id = mediatag.dataset_id(%s) ORDER BY k.id""",
        (key, held),
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.float64)


TAG_CLASSIFIER = """SELECT x.weights, x.bias FROM mediatag.classifier x WHERE x.tag_id = %s AND x.modality = 'visual'
                    ORDER BY x.version DESC LIMIT 1"""
CONCEPT_CLASSIFIER = """SELECT x.weights, x.bias FROM mediatag.concept_classifier x
                        JOIN mediatag.concept c ON c.id = x.concept_id WHERE c.name = %s
                        ORDER BY x.version DESC LIMIT 1"""


def tag_runs(conn, src: Source, pool: tuple, held: tuple, direction: str) -> dict:
    """Per label count: AP, F1 at the tag's threshold and the share of scores >= SPREAD on the held-out photos."""
    pool_name, pool_ids, pool_files = pool
    held_name, _, held_files = held
    tags = {c: src.tag_names[c] for c in src.classes(COCO_MIN_POSITIVES)}
    group = f"Label efficiency {src.name} {direction}"
    conn.execute(
        "SELECT mediatag.drop_tag_group(%s) "
        "WHERE EXISTS (SELECT 1 FROM mediatag.tag_group WHERE lower(name) = lower(%s))",
        (group, group),
    )
    conn.execute(
        "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s)",
        (pool_name, group, list(tags.values())),
    )
    conn.commit()
    by_id = {int(i): k for k, i in enumerate(pool_ids)}
    out = {n: {"ap": [], "f1": [], "spread": [], "pos": []} for n in LABEL_COUNTS}
    for cls, tag in tags.items():
        truth = np.array([cls in src.truth[f] for f in pool_files])
        held_truth = np.array([cls in src.truth[f] for f in held_files])
        tag_id, thr = conn.execute(
            "SELECT t.id, t.threshold FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id "
            "WHERE lower(g.name) = lower(%s) AND lower(t.name) = lower(%s)",
            (group, tag),
        ).fetchone()
        done: list[int] = []
        for n in LABEL_COUNTS:
            while len(done) < n:
                if not done:
                    # The preview's best-scoring keyframes (threshold 0 and n large: every candidate, by score).
                    rows = conn.execute(
                        "SELECT keyframe_id FROM mediatag.preview(%s, %s, kind => 'positives', threshold => 0, "
                        "n => 1000) ORDER BY score DESC, keyframe_id LIMIT %s",
                        (group, tag, PREVIEW_FIRST),
                    )
                else:
                    rows = conn.execute(
                        "SELECT keyframe_id FROM mediatag.uncertain_keyframes(%s, %s, k => %s)",
                        (group, tag, min(BATCH, n - len(done))),
                    )
                pick = [r[0] for r in rows if r[0] not in done][: n - len(done)]
                if not pick:
                    break
                label(conn, group, tag, pick, [bool(truth[by_id[i]]) for i in pick])
                done += pick
            s = held_scores(conn, held_name, TAG_CLASSIFIER, tag_id)
            out[n]["ap"].append(metrics.average_precision(s, held_truth))
            out[n]["f1"].append(float(metrics.threshold_metrics(s, held_truth, np.array([thr]))["f1"][0]))
            out[n]["spread"].append(float(np.mean(s >= SPREAD)))
            out[n]["pos"].append(int(sum(truth[by_id[i]] for i in done)))
        conn.commit()
    return out


def print_tags(title: str, out: dict) -> None:
    print(title)
    print(f"  {'labels':>6} {'AP':>6} {'gain':>7} {'F1@thr':>7} {'F1 >= 0':>8} {'>=0.999':>8} {'positives':>9}")
    ap0, f10 = np.array(out[0]["ap"]), np.array(out[0]["f1"])
    for n in LABEL_COUNTS:
        r = out[n]
        kept = float(np.mean(np.array(r["f1"]) >= f10 - 1e-9))
        print(
            f"  {n:>6} {np.mean(r['ap']):>6.3f} {np.mean(r['ap']) - ap0.mean():>+7.3f} {np.mean(r['f1']):>7.3f} "
            f"{kept:>8.0%} {max(r['spread']):>8.1%} {np.mean(r['pos']):>9.1f}"
        )
    print("  (F1 >= 0: share of tags whose F1 at their threshold is at least their zero-shot F1; >=0.999: worst tag)")


def concept_runs(conn, src: Source, pool: tuple, held: tuple, seeds: list[int]) -> dict:
    """Held-out AP after CONCEPT_COUNTS labels, active (continue_labeling) and random, per (class, seed)."""
    pool_name, pool_ids, pool_files = pool
    held_name, _, held_files = held
    by_id = {int(i): k for k, i in enumerate(pool_ids)}
    out: dict = {s: {n: [] for n in CONCEPT_COUNTS} for s in ("active", "random")}
    for cls in src.classes(COCO_MIN_POSITIVES):
        truth = np.array([cls in src.truth[f] for f in pool_files])
        held_truth = np.array([cls in src.truth[f] for f in held_files])
        for seed in seeds:
            for strategy in ("active", "random"):
                name = f"labeff_{hashlib.sha1(f'{cls}/{seed}/{strategy}'.encode()).hexdigest()[:10]}"
                conn.execute(
                    "SELECT mediatag.drop_concept(%s) WHERE EXISTS "
                    "(SELECT 1 FROM mediatag.concept WHERE lower(name) = lower(%s))",
                    (name, name),
                )
                conn.execute("SELECT mediatag.create_concept(dataset => %s, name => %s)", (pool_name, name))
                order = [int(pool_ids[i]) for i in np.random.default_rng(seed).permutation(len(pool_ids))]
                done: list[int] = []
                while len(done) < max(CONCEPT_COUNTS):
                    if strategy == "active":
                        rows = conn.execute(
                            "SELECT keyframe_id FROM mediatag.continue_labeling(%s, n => %s, seed => %s)",
                            (name, BATCH, seed),
                        )
                        pick = [r[0] for r in rows]
                    else:
                        pick = [i for i in order if i not in set(done)][:BATCH]
                    if not pick:
                        break
                    for value in (True, False):
                        sel = [i for i in pick if bool(truth[by_id[i]]) == value]
                        if sel:
                            conn.execute(
                                "SELECT mediatag.label_concept(%s, %s, %s)", (name, sel, "yes" if value else "no")
                            )
                    done += pick
                    if len(done) in CONCEPT_COUNTS:
                        s = held_scores(conn, held_name, CONCEPT_CLASSIFIER, name)
                        out[strategy][len(done)].append(metrics.average_precision(s, held_truth))
                conn.execute("SELECT mediatag.drop_concept(%s)", (name,))
                conn.commit()
    return out


def labels_to_reach(active: dict, target: float) -> str:
    for n in CONCEPT_COUNTS:
        if np.mean(active[n]) >= target:
            return f"<= {n}"
    return f"> {max(CONCEPT_COUNTS)}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", nargs="+", choices=("coco", "clothing"), default=["coco", "clothing"])
    ap.add_argument("--seeds", type=int, default=5, help="concept seeds 0..N-1")
    ap.add_argument("--skip-tags", action="store_true")
    ap.add_argument("--skip-concepts", action="store_true")
    args = ap.parse_args()
    shared = Path(os.environ.get("MEDIATAG_SHARED_DATA", project_root() / ".." / "shared" / "data"))
    folders = {"coco": shared / "coco128-train2017", "clothing": shared / "clothing-train"}
    missing = [str(folders[s]) for s in args.sources if not (folders[s] / "labels.csv").is_file()]
    if missing:
        sys.exit(f"needs the shared photos (set MEDIATAG_SHARED_DATA): missing {', '.join(missing)}")
    model = default_visual_model()
    encoder = CachedVisualEncoder(get_visual_encoder(model))
    seeds = list(range(args.seeds))
    with connect(bench_database_url(DB)) as conn:
        server, _, _ = serve_in_background(conn, media_roots=[folders[s] for s in args.sources])
        try:
            for name in args.sources:
                src = read_source(name, folders[name])
                classes = src.classes(COCO_MIN_POSITIVES)
                started = time.perf_counter()
                for direction, pool_files, held_files in directions(src):
                    pool = dataset(conn, encoder, src, pool_files, "pool")
                    held = dataset(conn, encoder, src, held_files, "held")
                    print(
                        f"\n== {name} ({model}): pool {len(pool_files)} photos ({pool_files[0]} .. {pool_files[-1]}), "
                        f"held-out {len(held_files)} ({held_files[0]} .. {held_files[-1]}), {len(classes)} "
                        f"classes; embedding cache {encoder.hits} hits / {encoder.misses} computed",
                        flush=True,
                    )
                    if not args.skip_tags:
                        print_tags(
                            f"-- tags {direction}: labels as proposed (preview top {PREVIEW_FIRST}, then "
                            f"uncertain_keyframes {BATCH} at a time), mean over classes",
                            tag_runs(conn, src, pool, held, direction),
                        )
                    if name == "clothing" and not args.skip_concepts:
                        out = concept_runs(conn, src, pool, held, seeds)
                        print(f"-- concepts (no description), {len(classes)} classes x seeds {seeds}, held-out AP")
                        for strategy in ("random", "active"):
                            cells = " ".join(f"{n}: {np.mean(out[strategy][n]):.3f}" for n in CONCEPT_COUNTS)
                            print(f"  {strategy:>7} {cells}")
                        target = float(np.mean(out["random"][max(CONCEPT_COUNTS)]))
                        reach = labels_to_reach(out["active"], target)
                        print(f"  active labels to reach random's AP at 50 ({target:.3f}): {reach}")
                print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
        finally:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
