"""Tag quality on real labeled photos (the 128 COCO photos of shared/data/coco128-train2017), through the SQL path.

Part 1, calibration and labels. The photos are split in two folds by file name: A = photos 65-128, B = photos
1-64 (= the repository's samples/coco64). For each direction (fit on A, report on B; fit on B, report on A):
  1. the per-model calibration is learned with mediatag.fit_model_calibration() on a dataset of the fit fold's
     photos only, every class with >= 3 positives there labeled yes/no on every photo;
  2. on a dataset of all 128 photos, one tag per COCO class with >= 8 positives among the 128, trained from the
     prompt only and then with 10, 25 and 50 random labels (>= 3 positive first), 3 seeds;
  3. scores read back through mediatag.preview(); metrics on the report fold's photos that were never labeled;
  4. the same tags labeled as the product proposes (evaluate_guided: the preview's top 10, then
     uncertain_keyframes 5 at a time), only on the fit fold's photos, scored on the whole report fold.
No figure uses a photo that took part in fitting the calibration or in training the tag.
Printed per label count: F1 at the default threshold 0.5 and at the best threshold, F1 at the cut that flags the
true number of positives (a perfect count: the ceiling of any calibration), AP, the flagged/true ratio (median, and
the share of tags within 0.5-2x) and the share of scores tied at 1.000 (> 0.9995).

Part 2, the evaluator on a skewed synthetic population (2 % positives): a 400-item bucket-stratified sample,
metrics unweighted vs Horvitz-Thompson weighted vs the full population, through mediatag_ml (the same functions
the SQL evaluator calls).

    MEDIATAG_SHARED_DATA=../shared/data python bench/bench_quality.py [--write-calibration] [--guided-only]

--write-calibration stores the fold-A fit (photos never in samples/coco64) in plpython/mediatag_ml/
model_calibration.json, the calibration shipped with the extension.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from bench_db import bench_database_url

from mediatag.cluster import project_root
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.models.registry import default_visual_model
from mediatag.sample_data import coco_dir
from mediatag.service.http import serve_in_background

sys.path.insert(0, str(project_root() / "plpython"))
from mediatag_ml import metrics, sampling  # noqa: E402
from mediatag_ml.skewed import skewed_population  # noqa: E402

COCO = coco_dir()
DB = "mediatag_bench"
LABEL_COUNTS = (0, 10, 25, 50)
SEEDS = (0, 1, 2)
MIN_POS_ALL = 8  # classes evaluated: >= 8 positives among all photos
MIN_POS_FIT = 3  # classes the calibration is fitted on: >= 3 positives in the fit fold
CALIBRATION_FILE = project_root() / "plpython" / "mediatag_ml" / "model_calibration.json"


def f1(scores: np.ndarray, truth: np.ndarray, thr: float) -> float:
    return float(metrics.threshold_metrics(scores, truth, np.array([thr]))["f1"][0])


def best_f1(scores: np.ndarray, truth: np.ndarray) -> float:
    return float(max(metrics.threshold_metrics(scores, truth)["f1"]))


def true_count_f1(scores: np.ndarray, truth: np.ndarray) -> float:
    """F1 of the cut that flags exactly as many photos as there are positives: what a perfect estimate of the
    tag's count would give. The gap between it and the best threshold's F1 is out of any calibration's reach (the
    best threshold is picked on the very photos it is scored on)."""
    k = int(truth.sum())
    top = np.argsort(-scores, kind="stable")[:k]
    tp = int(truth[top].sum())
    return 2 * tp / (2 * k) if k else 0.0


def label(conn, group: str, tag: str, ids: list[int], truth: list[bool]) -> None:
    for value in (True, False):
        sel = [i for i, t in zip(ids, truth, strict=True) if t == value]
        if sel:
            conn.execute("SELECT mediatag.label_keyframes(%s, %s, %s, %s, 'import')", (group, tag, sel, value))


def keyframes(conn, dataset: str) -> tuple[np.ndarray, list[str]]:
    rows = conn.execute(
        "SELECT k.id, k.image_path FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s) ORDER BY k.id",
        (dataset,),
    ).fetchall()
    return np.array([r[0] for r in rows]), [Path(r[1]).name for r in rows]


def recreate_group(conn, group: str, dataset: str, tags: list[str]) -> None:
    conn.execute(
        "SELECT mediatag.drop_tag_group(%s) "
        "WHERE EXISTS (SELECT 1 FROM mediatag.tag_group WHERE lower(name) = lower(%s))",
        (group, group),
    )
    conn.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s)", (dataset, group, tags))


def dataset_name(model: str, part: str) -> str:
    """One dataset per model and part: the bench database keeps every model's ingest between runs."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in model.lower())
    return f"coco128_{part}_{slug}"


def fit_calibration(conn, model: str, fold: str, files: list[str], truth_sets: dict[str, set[str]]) -> dict:
    """Ingest the fold's photos as their own dataset, label every photo for every class with >= 3 positives there,
    and fit (and store) the model's calibration from that group."""
    dataset = dataset_name(model, f"fold_{fold.lower()}")
    ingest(conn, dataset, [COCO / "images" / f for f in files], IngestOptions(progress=False))
    ids, names = keyframes(conn, dataset)
    counts: dict[str, int] = {}
    for f in names:
        for c in truth_sets[f]:
            counts[c] = counts.get(c, 0) + 1
    classes = sorted(c for c, n in counts.items() if n >= MIN_POS_FIT)
    group = f"Calibration fold {fold}"
    recreate_group(conn, group, dataset, classes)
    for c in classes:
        label(conn, group, c, [int(i) for i in ids], [c in truth_sets[f] for f in names])
    row = conn.execute("SELECT * FROM mediatag.fit_model_calibration(%s, save => true)", (group,)).fetchone()
    conn.commit()
    return {"model": row[0], "temperature": row[1], "bias": row[2], "tail": row[3], "tags": row[4], "pairs": row[5]}


def empty_results() -> dict:
    return {n: {"f1": [], "best": [], "oracle": [], "ap": [], "ratio": [], "tied": []} for n in LABEL_COUNTS}


def tag_scores(conn, group: str, tag: str) -> dict[int, float]:
    rows = conn.execute(
        "SELECT keyframe_id, score FROM mediatag.preview(%s, %s, kind => 'positives', threshold => 0, n => 1000)",
        (group, tag),
    )
    return {r[0]: r[1] for r in rows}


def record(r: dict, sc: np.ndarray, tr: np.ndarray) -> None:
    if tr.any():
        r["f1"].append(f1(sc, tr, 0.5))
        r["best"].append(best_f1(sc, tr))
        r["oracle"].append(true_count_f1(sc, tr))
        r["ap"].append(metrics.average_precision(sc, tr))
        r["ratio"].append(float((sc >= 0.5).sum() / tr.sum()))
        r["tied"].append(float(np.mean(sc > 0.9995)))


def evaluate(conn, dataset: str, direction: str, report_files: set[str], ids, files, truth_sets, classes) -> dict:
    """Random labels: 10/25/50 drawn from all photos (>= 3 positives first), 3 seeds; scored on the report fold's
    photos that none of the draws labeled."""
    results = empty_results()
    for seed in SEEDS:
        group = f"Quality {direction} seed {seed}"
        recreate_group(conn, group, dataset, classes)
        conn.commit()
        rng = np.random.default_rng(seed)
        for cls in classes:
            truth = np.array([cls in truth_sets[f] for f in files])
            order = rng.permutation(len(ids))
            # Keep at least 3 positives among the first labels so small label sets see both classes.
            pos_first = [i for i in order if truth[i]][:3]
            order = np.array(pos_first + [i for i in order if i not in pos_first])
            # The same held-out photos for every label count: never labeled, in the report fold.
            held = np.array([i for i in order[max(LABEL_COUNTS) :] if files[i] in report_files])
            labeled = 0
            for n in LABEL_COUNTS:
                if n > labeled:
                    new = order[labeled:n]
                    label(conn, group, cls, [int(ids[i]) for i in new], [bool(truth[i]) for i in new])
                    labeled = n
                s = tag_scores(conn, group, cls)
                record(results[n], np.array([s[int(ids[i])] for i in held]), truth[held])
            conn.commit()
    return results


def evaluate_guided(conn, dataset: str, direction: str, report_files: set[str], ids, files, truth_sets, classes):
    """Labels as the product proposes them: the first 10 from the top of the tag's preview (what a user labels
    first), the rest from mediatag.uncertain_keyframes() after each retrain, answered from the ground truth. Only
    the fit fold's photos are labeled (a proposal of a report-fold photo is passed over); scored on every photo
    of the report fold."""
    results = empty_results()
    group = f"Quality {direction} guided"
    recreate_group(conn, group, dataset, classes)
    conn.commit()
    by_id = {int(i): k for k, i in enumerate(ids)}
    held = np.array([k for k, f in enumerate(files) if f in report_files])
    for cls in classes:
        truth = np.array([cls in truth_sets[f] for f in files])
        done: set[int] = set()
        for n in LABEL_COUNTS:
            while len(done) < n:
                want = n - len(done)
                if not done:
                    s = tag_scores(conn, group, cls)
                    proposed = sorted(s, key=lambda i: -s[i])
                else:
                    rows = conn.execute(
                        "SELECT keyframe_id FROM mediatag.uncertain_keyframes(%s, %s, k => %s)",
                        (group, cls, 3 * want + 10),
                    )
                    proposed = [r[0] for r in rows]
                pick = [i for i in proposed if i not in done and files[by_id[i]] not in report_files]
                pick = pick[: min(want, 10 if not done else 5)]  # retrain every few labels, as a user would
                if not pick:
                    break
                label(conn, group, cls, pick, [bool(truth[by_id[i]]) for i in pick])
                done.update(pick)
            s = tag_scores(conn, group, cls)
            record(results[n], np.array([s[int(ids[k])] for k in held]), truth[held])
        conn.commit()
    return results


def print_results(title: str, results: dict) -> None:
    print(title)
    head = ("labels", "F1@0.5", "bestF1", "gap", "F1@count", "AP", "flag/true", "in 0.5-2x", "@1.000")
    widths = (7, 7, 7, 6, 8, 6, 9, 9, 7)
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    for n in LABEL_COUNTS:
        r = results[n]
        ratio = np.array(r["ratio"])
        ok = float(np.mean((ratio >= 0.5) & (ratio <= 2.0)))
        gap = np.mean(r["best"]) - np.mean(r["f1"])
        print(
            f"{n:>7} {np.mean(r['f1']):>7.3f} {np.mean(r['best']):>7.3f} {gap:>6.3f} {np.mean(r['oracle']):>8.3f} "
            f"{np.mean(r['ap']):>6.3f} "
            f"{np.median(ratio):>9.2f} {ok:>9.0%} {np.mean(r['tied']):>7.1%}"
        )


def bench_evaluator() -> None:
    s, y = skewed_population(n=50_000, prevalence=0.02, seed=0)
    pop = np.bincount(sampling.bucket_index(s, 10), minlength=10)
    thr = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    truth = metrics.threshold_metrics(s, y, thr)
    print(
        f"\n== evaluator on a skewed synthetic set: {s.shape[0]:,} keyframes, {y.mean():.1%} positives, "
        f"400-item bucket-stratified samples, mean over 8 samples (max |error| over one sample)"
    )
    runs = []
    for seed in range(8):
        pick = sampling.stratified_sample(np.arange(s.shape[0]), s, 400, seed=seed)
        w = sampling.inclusion_weights(sampling.bucket_index(s[pick], 10), pop)
        runs.append(
            (
                metrics.threshold_metrics(s[pick], y[pick], thr, weights=w),
                metrics.threshold_metrics(s[pick], y[pick], thr),
                metrics.best_threshold(s[pick], y[pick], "f1", weights=w),
                metrics.best_threshold(s[pick], y[pick], "f1"),
            )
        )
    for k in ("precision", "recall", "f1"):
        print(f"  {k:<9} threshold " + " ".join(f"{t:>6.1f}" for t in thr))
        print(f"  {'':<9} population " + " ".join(f"{v:>6.3f}" for v in truth[k]))
        for name, i in (("weighted", 0), ("unweighted", 1)):
            mean = np.mean([r[i][k] for r in runs], axis=0)
            worst = max(float(np.abs(np.array(r[i][k]) - truth[k]).max()) for r in runs)
            cells = " ".join(f"{v:>6.3f}" for v in mean)
            print(f"  {'':<9} {name:<10} {cells}   (one sample off by <= {worst:.3f})")
    best_t, best_v = metrics.best_threshold(s, y, "f1")
    for name, i in (("weighted", 2), ("unweighted", 3)):
        t = np.mean([r[i][0] for r in runs])
        v = np.mean([r[i][1] for r in runs])
        print(
            f"  suggested F1 threshold, {name:<10}: {t:.2f} (claims F1 {v:.3f}; "
            f"population: best {best_t:.2f} / F1 {best_v:.3f})"
        )
    for name, key in (("AP", "average_precision"), ("AUC", "auc")):
        print(
            f"  {name}: population {truth[key]:.3f}, weighted {np.mean([r[0][key] for r in runs]):.3f}, "
            f"unweighted {np.mean([r[1][key] for r in runs]):.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-calibration", action="store_true", help="ship the fold-A fit as the model's calibration")
    ap.add_argument("--evaluator-only", action="store_true")
    ap.add_argument("--guided-only", action="store_true", help="skip the random-label runs (the slow part)")
    args = ap.parse_args()
    if args.evaluator_only:
        bench_evaluator()
        return
    url = bench_database_url(DB)
    with (COCO / "labels.csv").open() as f:
        truth_sets = {r["file"]: set(filter(None, r["classes"].split(";"))) for r in csv.DictReader(f)}
    all_files = sorted(truth_sets)
    if len(all_files) < 128:
        sys.exit(f"needs the 128 shared photos (set MEDIATAG_SHARED_DATA); found {len(all_files)} in {COCO}")
    folds = {"B": all_files[:64], "A": all_files[64:128]}
    with connect(url) as conn:
        server, _, _ = serve_in_background(conn, media_roots=[COCO])
        model = default_visual_model()
        dataset = dataset_name(model, "quality")
        ingest(conn, dataset, [COCO / "images" / f for f in all_files[:128]], IngestOptions(progress=False))
        ids, files = keyframes(conn, dataset)
        counts: dict[str, int] = {}
        for f in files:
            for c in truth_sets[f]:
                counts[c] = counts.get(c, 0) + 1
        classes = sorted(c for c, n in counts.items() if n >= MIN_POS_ALL)
        print(
            f"== tag quality on {len(files)} COCO photos, {len(classes)} classes with >= {MIN_POS_ALL} positives "
            f"(visual model: {model}); labels {LABEL_COUNTS}, seeds {SEEDS}"
        )
        fits = {}
        try:
            for fit, report in (("A", "B"), ("B", "A")):
                fits[fit] = cal = fit_calibration(conn, model, fit, folds[fit], truth_sets)
                print(
                    f"\n-- calibration fitted on fold {fit} ({cal['tags']} classes, {cal['pairs']} photo-class "
                    f"pairs): temperature {cal['temperature']:.3f}, tail {cal['tail']:.3f}, bias {cal['bias']:.3f}"
                )
                if not args.guided_only:
                    res = evaluate(conn, dataset, f"{fit}{report}", set(folds[report]), ids, files, truth_sets, classes)
                    print_results(f"   random labels; fold {report}'s never-labeled photos (classes x seeds):", res)
                res = evaluate_guided(
                    conn, dataset, f"{fit}{report}", set(folds[report]), ids, files, truth_sets, classes
                )
                print_results(
                    f"   labels proposed by preview + uncertain_keyframes from fold {fit}; all of fold {report} "
                    "(mean over classes):",
                    res,
                )
        finally:
            conn.execute("SELECT mediatag.reset_model_calibration(%s)", (model,))
            conn.commit()
    server.shutdown()
    if args.write_calibration and "A" in fits:
        cal = fits["A"]
        doc = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.is_file() else {}
        doc.setdefault(
            "about",
            "Per-model calibration of prompt-only tags (mediatag_ml.calibration.ModelCalibration). "
            "Regenerate: python bench/bench_quality.py --write-calibration",
        )
        doc.setdefault("models", {})[model] = {
            "temperature": cal["temperature"],
            "bias": cal["bias"],
            "tail": cal["tail"],
            "tail_quantile": 0.95,
            "source": f"COCO train2017 photos 65-128 of coco128 (not in samples/coco64): {cal['tags']} classes with "
            f">= {MIN_POS_FIT} positives, prompt = class name, via mediatag.fit_model_calibration()",
        }
        CALIBRATION_FILE.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {CALIBRATION_FILE}")
    bench_evaluator()


if __name__ == "__main__":
    sys.exit(main())
