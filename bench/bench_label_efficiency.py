"""How much labels teach, as the product proposes them, through the SQL path (issue 29).

Photos of a source are sorted by file name and split in halves: the pool fold is ingested as one dataset (the only
photos ever labeled, and the dataset's own unlabeled sample), the held-out fold as another (only measured on). A
simulated user answers every proposal from the ground truth.

1. Tags (a prompt = the class name as a user types it): labels as the product proposes them: the first 10 from
   the top of mediatag.preview(), then mediatag.uncertain_keyframes(k => 5) after each retrain. Printed per
   label count 0/10/25/50, mean over the classes: held-out AP, its gain over 0 labels, F1 at the tag's own
   threshold, the share of held-out scores >= 0.999. COCO (coco128-train2017, classes with >= 8 positives) runs
   both ways on the name halves (pool = photos 65-128 / held-out 1-64, and back) and on --splits - 1 random halves,
   then prints the mean over runs with 95 % intervals (bench/resample_stats.py) overall and per tag; the clothing
   photos (clothing-train, 10 classes) one way (pool = first half).
2. Concepts (labels only: a meaningless name, no description) on the clothing pool: mediatag.continue_labeling(n
   => 5) + mediatag.label_concept against 5 random labels at a time (seeded), 10 classes x SEEDS; held-out AP
   after 10/25/50 labels, and how many active labels reach random's AP at 50.
Held-out scores are the latest classifier's sigmoid(x·w + b) over the held-out dataset's keyframes, in SQL.
Embeddings are cached per photo (bench/embedding_cache.py): only the first run pays for the model.

    MEDIATAG_SHARED_DATA=../shared/data python bench/bench_label_efficiency.py [--sources coco clothing]
        [--seeds 5] [--splits 5] [--skip-tags] [--skip-concepts] [--json runs.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from bench_db import bench_database_url
from embedding_cache import CachedVisualEncoder
from quality_sources import Source, ingest_photos, label, read_source
from resample_stats import spread

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
MIN_HALF_POSITIVES = 2  # random COCO halves are redrawn until each reported class has this many on each side
SPREAD = 0.999


def random_halves(src: Source, seed: int, classes: list[str]) -> tuple[list[str], list[str]]:
    """Two halves of the source's photos drawn at random (seeded), redrawn until every reported class has at least
    MIN_HALF_POSITIVES photos in each half (the name halves hold 2-9): AP needs positives on both sides."""
    rng = np.random.default_rng(seed)
    half = len(src.files) // 2
    while True:
        order = rng.permutation(len(src.files))
        one, two = sorted(src.files[i] for i in order[:half]), sorted(src.files[i] for i in order[half:])
        counts = (src.positives(one), src.positives(two))
        if all(c.get(cls, 0) >= MIN_HALF_POSITIVES for c in counts for cls in classes):
            return one, two


def directions(src: Source, splits: int) -> list[tuple[str, int, list[str], list[str]]]:
    """(name, split, pool files, held-out files). COCO: split 0 = the name halves (fold A = photos 65-128, B = 1-64),
    splits 1.. = random halves (seed = split), each both ways. Clothing: the name halves, one way."""
    b, a = src.folds()
    if src.name != "coco":
        return [("B->A", 0, b, a)]
    out = [("A->B", 0, a, b), ("B->A", 0, b, a)]
    for split in range(1, splits):
        one, two = random_halves(src, split, src.classes(COCO_MIN_POSITIVES))
        out += [(f"s{split} 1->2", split, one, two), (f"s{split} 2->1", split, two, one)]
    return out


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
    out = {n: {"ap": [], "f1": [], "spread": [], "pos": [], "flagged": [], "held_pos": []} for n in LABEL_COUNTS}
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
            out[n]["flagged"].append(int(np.sum(s >= thr)))
            out[n]["held_pos"].append(int(held_truth.sum()))
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


def print_spread(source: str, tags: list[str], runs: list[tuple[int, dict]]) -> None:
    """Tags over every run of a source: the mean over runs of the class-mean gain and F1, with the two 95 % intervals
    of resample_stats (over splits, corrected), the share of (tag, run) pairs keeping their zero-shot F1, and per
    tag its mean gain and F1 change at each label count with the interval over splits."""
    splits = [k for k, _ in runs]
    n_splits = len(set(splits))
    print(
        f"-- {source} tags over {len(runs)} runs ({n_splits} splits x directions): mean, 95 % interval over splits "
        "[corrected, Nadeau-Bengio]"
    )
    print(f"  {'labels':>6} {'AP gain':>26} {'F1@thr':>7} {'F1 change':>26} {'F1 kept':>8} {'flagged/true':>12}")

    def cell(values: list[float]) -> str:
        mean, over_splits, corrected = spread(values, splits)
        return f"{mean:+.3f} ±{over_splits:.3f} [±{corrected:.3f}]"

    ap = {n: np.array([out[n]["ap"] for _, out in runs], dtype=np.float64) for n in LABEL_COUNTS}
    f1 = {n: np.array([out[n]["f1"] for _, out in runs], dtype=np.float64) for n in LABEL_COUNTS}
    ratio = {
        n: np.median([np.array(out[n]["flagged"]) / np.array(out[n]["held_pos"]) for _, out in runs])
        for n in LABEL_COUNTS
    }
    for n in LABEL_COUNTS[1:]:
        gain, change = ap[n] - ap[0], f1[n] - f1[0]
        kept = float(np.mean(change >= -1e-9))
        print(
            f"  {n:>6} {cell(gain.mean(axis=1).tolist()):>26} {f1[n].mean():>7.3f} "
            f"{cell(change.mean(axis=1).tolist()):>26} {kept:>8.0%} {ratio[n]:>12.2f}"
        )
    print(
        f"  zero-shot: AP {ap[0].mean():.3f}, F1 at the threshold {f1[0].mean():.3f}, flagged/true {ratio[0]:.2f} "
        "(median over tags and runs); F1 kept: share of (tag, run) pairs"
    )
    counts = LABEL_COUNTS[1:]
    width = max(len(t) for t in tags)
    print("  per tag: mean over runs ± 95 % interval over splits; kept: share of runs keeping the zero-shot F1")
    print(
        f"  {'tag':>{width}} {'zero-shot AP':>12} "
        + " ".join(f"{f'gain {n}':>14}" for n in counts)
        + f" {'F1 0':>6} "
        + " ".join(f"{f'F1 change {n}':>14}" for n in counts)
        + f" {'kept ' + str(counts[1]):>8}"
    )
    for j, tag in enumerate(tags):

        def tag_cell(values: np.ndarray) -> str:
            mean, over_splits, _ = spread(values.tolist(), splits)
            return f"{mean:+.3f} ±{over_splits:.3f}"

        gains = " ".join(f"{tag_cell(ap[n][:, j] - ap[0][:, j]):>14}" for n in counts)
        changes = " ".join(f"{tag_cell(f1[n][:, j] - f1[0][:, j]):>14}" for n in counts)
        kept = float(np.mean(f1[counts[1]][:, j] >= f1[0][:, j] - 1e-9))
        print(f"  {tag:>45} {ap[0][:, j].mean():>12.3f} {gains} {f1[0][:, j].mean():>6.3f} {changes} {kept:>8.0%}")


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
    ap.add_argument("--splits", type=int, default=5, help="COCO: the name halves and N-1 random halves, each both ways")
    ap.add_argument("--skip-tags", action="store_true")
    ap.add_argument("--json", type=Path, help="also write every tag run's per-class figures here")
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
    dump: dict = {}
    with connect(bench_database_url(DB)) as conn:
        server, _, _ = serve_in_background(conn, media_roots=[folders[s] for s in args.sources])
        try:
            for name in args.sources:
                src = read_source(name, folders[name])
                classes = src.classes(COCO_MIN_POSITIVES)
                started = time.perf_counter()
                runs: list[tuple[int, dict]] = []
                for direction, split, pool_files, held_files in directions(src, args.splits):
                    pool = dataset(conn, encoder, src, pool_files, "pool")
                    held = dataset(conn, encoder, src, held_files, "held")
                    print(
                        f"\n== {name} ({model}) {direction}: pool {len(pool_files)} photos ({pool_files[0]} .. "
                        f"{pool_files[-1]}), held-out {len(held_files)}, {len(classes)} classes; embedding cache "
                        f"{encoder.hits} hits / {encoder.misses} computed",
                        flush=True,
                    )
                    if not args.skip_tags:
                        out = tag_runs(conn, src, pool, held, direction)
                        runs.append((split, out))
                        print_tags(
                            f"-- tags {direction}: labels as proposed (preview top {PREVIEW_FIRST}, then "
                            f"uncertain_keyframes {BATCH} at a time), mean over classes",
                            out,
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
                if len(runs) > 1:
                    print_spread(name, [src.tag_names[c] for c in classes], runs)
                if args.json:
                    dump[name] = {"tags": [src.tag_names[c] for c in classes], "runs": runs}
                    args.json.write_text(json.dumps(dump))
                print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
        finally:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
