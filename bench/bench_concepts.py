"""Concept benchmarks.

1. Label efficiency on real photos (../shared/data/coco128-train2017, the offline model): a simulated labeler answers
   from the ground truth. For every COCO class with >= 8 positive photos and several seeds, the photos are split in
   half: a pool to label and a held-out half to measure on. Each concept starts from its description ("a photo of a
   {class}", zero-shot) and gets labels in batches of 5, either chosen by `mediatag_ml.active.select_batch` (what
   `continue_labeling` runs) or at random; after each batch it is retrained with `mediatag_ml.active.fit_concept`
   (what `label_concept` runs), with the model calibration fitted on the pool half's photos (as a deployment ships
   one fitted on other photos). Prints F1 at the default threshold 0.5 and average precision after 10, 20 and 50
   labels, and how many labels active learning needs to match random's F1 at 20 and 50.
   The simulation calls the in-database code directly (same module, same numbers), without the SQL candidate step:
   at 128 photos the whole pool is the candidate set.
   A pool of 64 photos is too small to tell strategies apart (50 labels cover most of it), so the same runs are
   repeated on a larger real pool: 14 crops of every photo (the whole photo, a 2x2 and a 3x3 grid; 1,792 items), a
   class present in a crop when half of one of its COCO boxes lies inside it. Pool and held-out halves are split
   by photo, so no crop of a held-out photo is ever labeled.
2. continue_labeling latency through SQL on the synthetic dataset bench_search.py builds (default 1,000,000
   keyframes; run bench_search.py first): next batch of 12, p50 / p95, and the retrain after one label.

    python bench/bench_concepts.py [--keyframes 1000000] [--seeds 5] [--min-positives 8] [--pool photos|crops|both]
        [--skip-latency] [--skip-efficiency]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plpython"))
from bench_db import bench_database_url  # noqa: E402
from synthetic_service import start  # noqa: E402

from mediatag_ml import active, calibration  # noqa: E402

CHECKPOINTS = (10, 20, 50)
BATCH = 5
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco128-train2017"


def coco_dir() -> Path:
    for d in (SHARED,):
        if (d / "labels.csv").exists():
            return d.resolve()
    from mediatag.sample_data import coco_dir as sample

    return sample()


def embeddings(photos: list[Path], model: str) -> np.ndarray:
    """The photos' embeddings with the offline model, cached (embedding 128 photos costs a minute on 2 cores)."""
    cache = Path.home() / ".cache" / "mediatag" / f"bench_concepts_{model.replace('/', '_')}_{len(photos)}.npy"
    if cache.exists():
        return np.load(cache)
    from mediatag.media import load_image
    from mediatag.models.registry import get_visual_encoder

    enc = get_visual_encoder(model)
    X = np.vstack([enc.embed_images([load_image(p)]) for p in photos]).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, X)
    return X


GRIDS = (1, 2, 3)  # the whole photo, then 2x2 and 3x3 tiles: 14 crops a photo


def crop_pool(coco: Path, photos: list[Path]) -> tuple[list[tuple[int, tuple[float, float, float, float]]], list[set]]:
    """Every photo's crops as (photo index, normalised box), and the classes present in each: those with at least
    half of one of their boxes (COCO labels, YOLO format) inside the crop."""
    import yaml

    names = yaml.safe_load((coco / "classes.yaml").read_text())["names"]
    names = names if isinstance(names, list) else [names[i] for i in sorted(names)]
    crops, present = [], []
    for pi, photo in enumerate(photos):
        boxes = []
        label_file = coco / "labels" / f"{photo.stem}.txt"
        for line in label_file.read_text().splitlines() if label_file.exists() else []:
            if line.strip():
                c, cx, cy, w, h = line.split()
                cx, cy, w, h = map(float, (cx, cy, w, h))
                boxes.append((names[int(c)], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        for g in GRIDS:
            for i in range(g):
                for j in range(g):
                    x0, y0, x1, y1 = j / g, i / g, (j + 1) / g, (i + 1) / g
                    inside = set()
                    for name, bx0, by0, bx1, by1 in boxes:
                        overlap = max(0.0, min(x1, bx1) - max(x0, bx0)) * max(0.0, min(y1, by1) - max(y0, by0))
                        if overlap >= 0.5 * max((bx1 - bx0) * (by1 - by0), 1e-9):
                            inside.add(name)
                    crops.append((pi, (x0, y0, x1, y1)))
                    present.append(inside)
    return crops, present


def crop_embeddings(photos: list[Path], crops: list, model: str) -> np.ndarray:
    """The crops' embeddings with the offline model, cached (1,792 crops: 20 min on 2 cores, default model)."""
    cache = Path.home() / ".cache" / "mediatag" / f"bench_concepts_crops_{model.replace('/', '_')}_{len(crops)}.npy"
    if cache.exists():
        return np.load(cache)
    from mediatag.media import load_image
    from mediatag.models.registry import get_visual_encoder

    enc = get_visual_encoder(model)
    out, batch, photo_index, image = [], [], None, None
    for pi, (x0, y0, x1, y1) in crops:  # a photo's crops are consecutive: each photo is decoded once
        if pi != photo_index:
            photo_index, image = pi, load_image(photos[pi])
        w, h = image.size
        batch.append(image.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h))))
        if len(batch) == 16:
            out.append(enc.embed_images(batch))
            batch = []
    if batch:
        out.append(enc.embed_images(batch))
    X = np.vstack(out).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, X)
    return X


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    t = truth[order]
    if not t.any():
        return float("nan")
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


def f1(scores: np.ndarray, truth: np.ndarray, thr: float = 0.5) -> float:
    pred = scores >= thr
    tp = int((pred & truth).sum())
    return 2 * tp / max(2 * tp + int((pred & ~truth).sum()) + int((~pred & truth).sum()), 1)


def pool_calibration(X, present, pool, prompts_by_class, baseline):
    """The model calibration as a deployment has it (fitted once on other labeled photos): here fitted on the
    pool half (every class with >= 3 positives there, all its items), never on the held-out half."""
    zs, ys = [], []
    for cls, prompt in prompts_by_class.items():
        y = np.array([cls in present[i] for i in pool])
        if y.sum() >= 3:
            u = calibration.prompt_direction(prompt[None, :], baseline[None, :])
            zs.append(calibration.standardised_scores(u, X[pool])[0])
            ys.append(y)
    return calibration.fit_model_calibration(zs, ys, source="bench: pool half")


def run_strategy(strategy, X, truth, pool, test, desc, baseline, seed, budget, mc=None):
    """F1 and AP on the test photos after each batch of labels, as {labels: (f1, ap)}."""
    sample = X  # the dataset's sample: every photo, labeled or not (labels of the held-out half are never used)
    labeled: list[int] = []
    rng = np.random.default_rng(seed)
    random_order = list(rng.permutation(pool))
    clf = active.fit_concept(None, None, None, desc, baseline, sample, dim=X.shape[1], seed=seed, model_calibration=mc)
    out = {}
    while len(labeled) < budget:
        todo = [i for i in pool if i not in set(labeled)]
        if strategy == "active":
            ids, _ = active.select_batch(
                np.array(todo),
                X[todo],
                clf.score(X[todo]),
                np.ones(len(todo), bool),
                X[labeled] if labeled else None,
                BATCH,
                len(labeled),
                seed,
            )
            new = [int(i) for i in ids]
        else:
            new = [i for i in random_order if i not in set(labeled)][:BATCH]
        labeled += new
        lab = np.array(labeled)
        clf = active.fit_concept(
            X[lab[truth[lab]]],
            X[lab[~truth[lab]]],
            None,
            desc,
            baseline,
            sample,
            dim=X.shape[1],
            seed=seed,
            model_calibration=mc,
        )
        s = clf.score(X[test])
        out[len(labeled)] = (f1(s, truth[test]), average_precision(s, truth[test]))
    return out


def label_efficiency(seeds: int, min_positives: int = 8, pools: tuple[str, ...] = ("photos", "crops")) -> None:
    from mediatag.models.registry import default_visual_model, get_visual_encoder

    coco = coco_dir()
    with (coco / "labels.csv").open() as f:
        truth_sets = {r["file"]: set(filter(None, r["classes"].split(";"))) for r in csv.DictReader(f)}
    photos = sorted((coco / "images").glob("*.jpg"))
    model = default_visual_model()
    enc = get_visual_encoder(model)
    for pool_kind in pools:
        t0 = time.perf_counter()
        if pool_kind == "photos":
            X, present, owner = embeddings(photos, model), [truth_sets[p.name] for p in photos], np.arange(len(photos))
        elif not (coco / "classes.yaml").exists() or not (coco / "labels").is_dir():
            print(f"== label efficiency on crops needs the COCO boxes (labels/, classes.yaml) beside {coco}: not run")
            continue
        else:
            crops, present = crop_pool(coco, photos)
            X, owner = crop_embeddings(photos, crops, model), np.array([c[0] for c in crops])
        efficiency_on(pool_kind, X, present, owner, enc, seeds, min_positives, time.perf_counter() - t0)


def efficiency_on(pool_kind, X, present, owner, enc, seeds, min_positives, embed_s) -> None:
    """Active vs random on one pool of items (photos or crops); `owner` is each item's photo, which decides its
    half, so that no item of a held-out photo is ever labeled."""
    counts: dict[str, int] = {}
    for items in present:
        for c in items:
            counts[c] = counts.get(c, 0) + 1
    classes = sorted(c for c, n in counts.items() if n >= min_positives)
    prompts = enc.embed_texts([f"a photo of a {c}" for c in classes] + ["a photo"])
    all_classes = sorted(c for c, n in counts.items() if n >= 3)
    prompts_by_class = dict(zip(all_classes, enc.embed_texts([f"a photo of a {c}" for c in all_classes]), strict=True))
    n_photos = int(owner.max()) + 1
    print(
        f"== concept label efficiency on {len(X)} {pool_kind} of {n_photos} COCO photos: {len(classes)} classes with "
        f">= {min_positives} positive {pool_kind}, {seeds} seeds, batches of {BATCH} (visual model {enc.name}; "
        f"embeddings {embed_s:.0f}s)"
    )
    budget = max(CHECKPOINTS)
    res = {s: {m: [] for m in range(BATCH, budget + 1, BATCH)} for s in ("active", "random")}
    for seed in range(seeds):
        held_out = set(np.random.default_rng(1000 + seed).permutation(n_photos)[n_photos // 2 :].tolist())
        pool = [i for i in range(len(X)) if int(owner[i]) not in held_out]
        test = [i for i in range(len(X)) if int(owner[i]) in held_out]
        mc = pool_calibration(X, present, pool, prompts_by_class, prompts[-1])
        for ci, cls in enumerate(classes):
            truth = np.array([cls in items for items in present])
            if not truth[test].any() or not truth[pool].any():
                continue
            for strategy in ("active", "random"):
                out = run_strategy(strategy, X, truth, pool, test, prompts[ci], prompts[-1], seed, budget, mc)
                for m, v in out.items():
                    res[strategy][m].append(v)
    print(f"{'labels':>8} {'active F1':>10} {'random F1':>10} {'active AP':>10} {'random AP':>10}   (held-out half)")
    mean = {s: {m: np.nanmean(np.array(v), axis=0) for m, v in r.items()} for s, r in res.items()}
    for m in CHECKPOINTS:
        a, r = mean["active"][m], mean["random"][m]
        print(f"{m:>8} {a[0]:>10.3f} {r[0]:>10.3f} {a[1]:>10.3f} {r[1]:>10.3f}")
    for metric, col in (("F1", 0), ("AP", 1)):
        for target in (20, 50):
            goal = mean["random"][target][col]
            need = next((m for m in sorted(mean["active"]) if mean["active"][m][col] >= goal), None)
            print(
                f"  random's mean {metric} at {target} labels ({goal:.3f}): active reaches it with "
                f"{need if need is not None else f'more than {budget}'} labels"
            )


def latency(n_keyframes: int) -> None:
    url = bench_database_url()
    dataset = f"search_{n_keyframes}"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_search import DIM, structure

    basis, _ = structure()
    svc, stop = start({f"synthetic-{DIM}": DIM, "synthetic-text-64": 64}, {f"synthetic-{DIM}": basis})
    concept = f"bench_concept_{n_keyframes}"
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        c.execute("SELECT mediatag.set_service(%s)", (svc,))  # an admin's setting, not a GUC
        if not c.execute("SELECT 1 FROM mediatag.dataset WHERE name = %s", (dataset,)).fetchone():
            sys.exit(f"no dataset {dataset}: run bench/bench_search.py --keyframes {n_keyframes} first")
        c.execute("SELECT mediatag.drop_concept(%s) FROM mediatag.concept WHERE name = %s", (concept, concept))
        t0 = time.perf_counter()
        c.execute(
            "SELECT mediatag.create_concept(dataset => %s, name => %s, description => 'query number 3')",
            (dataset, concept),
        )
        print(
            f"== continue_labeling at {n_keyframes:,} keyframes: create concept (zero-shot, draws the sample if "
            f"missing) {time.perf_counter() - t0:.2f}s"
        )
        top = [r[0] for r in c.execute("SELECT keyframe_id FROM mediatag.concept_top(%s, 20)", (concept,))]
        c.execute("SELECT mediatag.label_concept(concept => %s, keyframes => %s, label => 'yes')", (concept, top[:10]))
        rnd = [
            r[0]
            for r in c.execute(
                "SELECT keyframe_id FROM mediatag.keyframe_sample WHERE dataset_id = mediatag.dataset_id(%s) LIMIT 10",
                (dataset,),
            )
        ]
        c.execute("SELECT mediatag.label_concept(concept => %s, keyframes => %s, label => 'no')", (concept, rnd))
        times, retrain = [], []
        for i in range(20):
            t0 = time.perf_counter()
            rows = c.execute(
                "SELECT keyframe_id FROM mediatag.continue_labeling(concept => %s, n => 12)", (concept,)
            ).fetchall()
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c.execute(
                "SELECT mediatag.label_concept(concept => %s, keyframes => %s, label => %s)",
                (concept, [rows[0][0]], "yes" if i % 3 == 0 else "no"),
            )
            retrain.append(time.perf_counter() - t0)
        t = np.array(times) * 1000
        r = np.array(retrain) * 1000
        print(
            f"  continue_labeling(n => 12): p50 {np.median(t):.0f} ms, p95 {np.percentile(t, 95):.0f} ms, "
            f"max {t.max():.0f} ms ({len(rows)} rows)"
        )
        print(
            f"  label_concept (one label + retrain = new version): p50 {np.median(r):.0f} ms, "
            f"p95 {np.percentile(r, 95):.0f} ms"
        )
        t0 = time.perf_counter()
        n_yes = c.execute(
            "SELECT count(*) FROM mediatag.concept_scores(concept => %s) WHERE decision", (concept,)
        ).fetchone()[0]
        print(f"  concept_scores count of decisions over the dataset: {n_yes:,} in {time.perf_counter() - t0:.2f}s")
        c.execute("SELECT mediatag.drop_concept(%s)", (concept,))
    stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyframes", type=int, default=1_000_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--min-positives", type=int, default=8, help="classes with at least this many positive photos")
    ap.add_argument("--pool", choices=("photos", "crops", "both"), default="both", help="what the labeler labels")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-efficiency", action="store_true")
    args = ap.parse_args()
    if not args.skip_efficiency:
        pools = ("photos", "crops") if args.pool == "both" else (args.pool,)
        label_efficiency(args.seeds, args.min_positives, pools)
    if not args.skip_latency:
        latency(args.keyframes)


if __name__ == "__main__":
    main()
