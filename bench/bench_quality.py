"""Tag quality on two labeled photo sources, through the SQL path and the published scores (issue 29's table).

Sources (under $MEDIATAG_SHARED_DATA, default ../shared/data):
  coco      coco128-train2017: 128 COCO photos, several classes per photo; the tags are the classes with
            >= COCO_MIN_POSITIVES positives, named as COCO names them ("dining table").
  clothing  clothing-train: 3,068 product photos, one garment class per photo; the 10 classes named as a user
            would type them ("t shirt", "long sleeve shirt", "outerwear").

Protocol, for each source R (the one reported on) and the other source F:
  1. Calibration (domain transfer): a dataset of F's photos, one tag per class of F with >= 3 positives there,
     every photo labeled yes/no for every tag; mediatag.fit_model_calibration() fits the model's calibration
     from that group and stores it (save => true). Nothing of R takes part.
  2. Zero-shot: on a dataset of all of R's photos, a group with one tag per class of R (the tag name is its only
     prompt), published and scored (mediatag.score_tag_group); scores and threshold_decision read back from the
     published table mediatag_data.dt_<group>_visual. Metrics over all of R's photos: AP, F1 at the tag's
     threshold (the default 0.5), the best F1 over thresholds 0.00-1.00 (an oracle), flagged / true count, the
     share of scores >= 0.999.
  3. Labels: R's photos are split by file name into two folds; for each direction and seed, 25 random labels
     (>= 3 positives first) from one fold, AP on the other fold's photos (never labeled), against the zero-shot
     AP on the same photos. Mean over tags x seeds x directions.
Part 2, the evaluator on a skewed synthetic population (2 % positives): a 400-item bucket-stratified sample,
metrics unweighted vs Horvitz-Thompson weighted vs the full population, through mediatag_ml.

    MEDIATAG_SHARED_DATA=../shared/data python bench/bench_quality.py [--sources coco clothing] [--seeds 0 1 2]
        [--clothing-photos N] [--no-embedding-cache] [--write-calibration] [--evaluator-only]

Photos are ingested with the real ingest; their vectors come from a cache keyed by model and photo
(bench/embedding_cache.py) unless --no-embedding-cache, so only the first run pays for the model (~10 min for
the clothing photos on an idle machine). --write-calibration fits the calibration on COCO photos 65-128 (none of
samples/coco64) and stores it in plpython/mediatag_ml/model_calibration.json with its source and protocol.
--clothing-photos N: the first N clothing photos by file name (UUIDs, so a random subset) for a quicker run.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from bench_db import bench_database_url
from embedding_cache import CachedVisualEncoder
from quality_sources import Source, ingest_photos, label, read_source

from mediatag.cluster import project_root
from mediatag.db import connect
from mediatag.models.registry import default_visual_model, get_visual_encoder
from mediatag.sample_data import shared_data_dir
from mediatag.service.http import serve_in_background

sys.path.insert(0, str(project_root() / "plpython"))
from mediatag_ml import metrics, sampling  # noqa: E402
from mediatag_ml.skewed import skewed_population  # noqa: E402

DB = "mediatag_bench"
LABELS = 25
SEEDS = (0, 1, 2)
COCO_MIN_POSITIVES = 6  # a COCO class is a tag of the report when >= 6 of the 128 photos show it (~5 %)
FIT_MIN_POSITIVES = 3  # a class takes part in the calibration fit with >= 3 positives
FIRST_POSITIVES = 3  # random label draws put this many positives first, so 25 labels see both classes
SPREAD = 0.999  # "scores stay spread": the share of scores at or above this
CALIBRATION_FILE = project_root() / "plpython" / "mediatag_ml" / "model_calibration.json"


def f1_at(scores: np.ndarray, truth: np.ndarray, thr: float) -> float:
    return float(metrics.threshold_metrics(scores, truth, np.array([thr]))["f1"][0])


def best_f1(scores: np.ndarray, truth: np.ndarray) -> float:
    return float(max(metrics.threshold_metrics(scores, truth)["f1"]))


def recreate_group(conn, group: str, dataset: str, tags: list[str]) -> None:
    conn.execute(
        "SELECT mediatag.drop_tag_group(%s) "
        "WHERE EXISTS (SELECT 1 FROM mediatag.tag_group WHERE lower(name) = lower(%s))",
        (group, group),
    )
    conn.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s)", (dataset, group, tags))


def load_source(conn, src: Source, model: str, encoder) -> tuple[str, np.ndarray, list[str]]:  # noqa: ANN001
    """All of the source's photos as one dataset (kept between runs); its keyframe ids and file names."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in model.lower())
    dataset = f"quality_{src.name}_{slug}"
    return (dataset, *ingest_photos(conn, dataset, src, src.files, encoder))


def fit_calibration(conn, src: Source, dataset: str, ids: np.ndarray, files: list[str], only: set[str] | None) -> dict:
    """Label every photo of the source (or of `only`) for every class with >= 3 positives there and fit (and store)
    the model's calibration from that group."""
    keep = [k for k, f in enumerate(files) if only is None or f in only]
    counts = src.positives([files[k] for k in keep])
    classes = sorted(c for c, n in counts.items() if n >= FIT_MIN_POSITIVES and c in src.tag_names)
    group = f"Calibration {src.name}"
    recreate_group(conn, group, dataset, [src.tag_names[c] for c in classes])
    for c in classes:
        label(conn, group, src.tag_names[c], [int(ids[k]) for k in keep], [c in src.truth[files[k]] for k in keep])
    row = conn.execute("SELECT * FROM mediatag.fit_model_calibration(%s, save => true)", (group,)).fetchone()
    conn.commit()
    return {"model": row[0], "temperature": row[1], "bias": row[2], "tail": row[3], "tags": row[4], "pairs": row[5],
            "classes": classes}  # fmt: skip


def published_scores(conn, group: str) -> dict[str, dict[int, tuple[float, bool]]]:
    """Publish the group, score its training dataset and read (score, threshold_decision) per tag and keyframe
    from the published table."""
    conn.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
    conn.execute("SELECT mediatag.score_tag_group(%s)", (group,))
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone()[0]
    out: dict[str, dict[int, tuple[float, bool]]] = {}
    rows = conn.execute(
        f"SELECT tag, keyframe_id, score, threshold_decision FROM mediatag_data.dt_{slug}_visual"  # noqa: S608 (a slug)
    )
    for tag, kf, score, decision in rows:
        out.setdefault(tag, {})[kf] = (float(score), bool(decision))
    conn.commit()
    return out


def preview_scores(conn, group: str, tag: str, n: int) -> dict[int, float]:
    rows = conn.execute(
        "SELECT keyframe_id, score FROM mediatag.preview(%s, %s, kind => 'positives', threshold => 0, n => %s)",
        (group, tag, n),
    )
    return {r[0]: r[1] for r in rows}


def zero_shot(conn, src: Source, dataset: str, ids: np.ndarray, files: list[str]) -> list[dict]:
    """Per tag, over all of the source's photos, from the published scores."""
    classes = src.classes(COCO_MIN_POSITIVES)
    group = f"Quality {src.name} zero-shot"
    recreate_group(conn, group, dataset, [src.tag_names[c] for c in classes])
    conn.commit()
    scored = published_scores(conn, group)
    rows = []
    for c in classes:
        tag = src.tag_names[c]
        by_kf = scored[tag]
        sc = np.array([by_kf[int(i)][0] for i in ids])
        flagged = np.array([by_kf[int(i)][1] for i in ids])
        truth = np.array([c in src.truth[f] for f in files])
        tp = int((flagged & truth).sum())
        rows.append(
            {
                "tag": tag,
                "true": int(truth.sum()),
                "flagged": int(flagged.sum()),
                "f1": 2 * tp / (int(flagged.sum()) + int(truth.sum())),
                "best_f1": best_f1(sc, truth),
                "ap": metrics.average_precision(sc, truth),
                "spread": float(np.mean(sc >= SPREAD)),
            }
        )
    return rows


def labeled_ap(conn, src: Source, dataset: str, ids: np.ndarray, files: list[str], seeds) -> list[dict]:  # noqa: ANN001
    """AP on one fold's photos before and after 25 random labels from the other fold, both directions, per seed."""
    classes = src.classes(COCO_MIN_POSITIVES)
    fold_a, fold_b = src.folds()
    out = []
    for seed in seeds:
        for name, pool, held in (("A->B", set(fold_a), set(fold_b)), ("B->A", set(fold_b), set(fold_a))):
            group = f"Quality {src.name} labels {name} seed {seed}"
            recreate_group(conn, group, dataset, [src.tag_names[c] for c in classes])
            conn.commit()
            rng = np.random.default_rng(seed)
            pool_k = np.array([k for k, f in enumerate(files) if f in pool])
            held_k = np.array([k for k, f in enumerate(files) if f in held])
            for c in classes:
                tag = src.tag_names[c]
                truth = np.array([c in src.truth[f] for f in files])
                if not truth[held_k].any() or truth[pool_k].sum() < FIRST_POSITIVES:
                    continue
                before = preview_scores(conn, group, tag, len(files))
                order = rng.permutation(pool_k)
                first = [k for k in order if truth[k]][:FIRST_POSITIVES]
                order = first + [k for k in order if k not in first]
                pick = order[:LABELS]
                label(conn, group, tag, [int(ids[k]) for k in pick], [bool(truth[k]) for k in pick])
                after = preview_scores(conn, group, tag, len(files))
                y = truth[held_k]
                ap0 = metrics.average_precision(np.array([before[int(ids[k])] for k in held_k]), y)
                ap1 = metrics.average_precision(np.array([after[int(ids[k])] for k in held_k]), y)
                out.append({"tag": tag, "seed": seed, "direction": name, "ap0": ap0, "ap25": ap1})
            conn.commit()
    return out


def print_zero_shot(src: Source, rows: list[dict], fit: dict) -> None:
    print(f"\n-- {src.name}: {len(rows)} tags on {len(src.files)} photos; calibration fitted on {fit['source']} "
          f"({fit['tags']} classes, {fit['pairs']} photo-class pairs): temperature {fit['temperature']:.3f}, "
          f"tail {fit['tail']:.3f}, bias {fit['bias']:.3f}")  # fmt: skip
    print(f"   {'tag':<18} {'true':>5} {'flagged':>7} {'ratio':>6} {'F1@thr':>6} {'bestF1':>6} {'AP':>6} {'>=.999':>7}")
    for r in rows:
        print(f"   {r['tag']:<18} {r['true']:>5} {r['flagged']:>7} {r['flagged'] / r['true']:>6.2f} {r['f1']:>6.3f} "
              f"{r['best_f1']:>6.3f} {r['ap']:>6.3f} {r['spread']:>7.2%}")  # fmt: skip


def in_range(rows: list[dict]) -> int:
    return sum(1 for r in rows if 0.5 <= r["flagged"] / r["true"] <= 2.0)


def print_table(results: dict[str, tuple[list[dict], list[dict]]], seeds) -> None:  # noqa: ANN001
    print(
        "\n== tag quality (zero-shot on all of a source's photos, calibration fitted on the other source; "
        f"{LABELS} random labels from one half, AP on the other half, both halves, seeds {tuple(seeds)})"
    )
    print(
        "| held-out set | zero-shot AP | F1 at the tag's threshold | best-threshold F1 | tags flagging 0.5–2× their "
        "true count | AP after 25 random labels (same photos, before) | scores >= 0.999 (worst tag) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (zs, lab) in results.items():
        n = len(zs)
        ap25 = f"{np.mean([r['ap25'] for r in lab]):.2f} ({np.mean([r['ap0'] for r in lab]):.2f})" if lab else "-"
        zs_ap, zs_f1, zs_best = (np.mean([r[k] for r in zs]) for k in ("ap", "f1", "best_f1"))
        print(
            f"| {name} photos ({n} tags) | {zs_ap:.2f} | {zs_f1:.2f} | {zs_best:.2f} | {in_range(zs)} of {n} "
            f"| {ap25} | {max(r['spread'] for r in zs):.1%} |"
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


def shipped_fit(conn, sources: dict[str, Source], loaded: dict) -> dict:
    """The calibration shipped with the extension: fitted on COCO photos 65-128 only (none of samples/coco64, so
    the demo and the tests report on photos it never saw); the domain-transfer figures above are what it is
    expected to do on a kind of photos it was not fitted on."""
    coco = sources["coco"]
    fit = fit_calibration(conn, coco, *loaded["coco"], only=set(coco.files[64:128]))
    fit["source"] = (
        f"COCO train2017 photos 65-128 of coco128 (not in samples/coco64): {fit['tags']} classes with "
        f">= {FIT_MIN_POSITIVES} positives, prompt = class name"
    )
    fit["protocol"] = (
        "mediatag.fit_model_calibration on a group whose tags are labeled yes/no on every photo of the fit set; "
        "the count at 0.5 then follows the sample's own mixture where it shows a separate mode "
        "(mediatag_ml.calibration). Domain transfer measured by bench/bench_quality.py: fitted on one source "
        "(COCO or clothing photos), reported on the other"
    )
    return fit


def write_calibration(fit: dict, model: str) -> None:
    """Store `fit` as the model's shipped calibration, with where it was fitted and how."""
    doc = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.is_file() else {}
    doc.setdefault(
        "about",
        "Per-model calibration of prompt-only tags (mediatag_ml.calibration.ModelCalibration). "
        "Regenerate: python bench/bench_quality.py --write-calibration",
    )
    entry = {k: fit[k] for k in ("temperature", "bias", "tail")}
    entry.update({"tail_quantile": 0.95, "source": fit["source"], "protocol": fit["protocol"]})
    doc.setdefault("models", {})[model] = entry
    CALIBRATION_FILE.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {CALIBRATION_FILE}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", nargs="+", choices=("coco", "clothing"), default=["coco", "clothing"])
    ap.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    ap.add_argument(
        "--clothing-photos",
        type=int,
        help="only the first N clothing photos by file name (the names are UUIDs: a random subset); a quicker run",
    )
    ap.add_argument("--no-embedding-cache", action="store_true", help="embed every photo with the model")
    ap.add_argument("--write-calibration", action="store_true", help="ship the calibration fitted on COCO 65-128")
    ap.add_argument("--evaluator-only", action="store_true")
    args = ap.parse_args()
    if args.evaluator_only:
        bench_evaluator()
        return
    shared = shared_data_dir()
    clothing = shared / "clothing-train" if shared else None
    if shared is None or clothing is None or not (clothing / "labels.csv").is_file():
        sys.exit("needs ../shared/data with coco128-train2017 and clothing-train (set MEDIATAG_SHARED_DATA)")
    sources = {"coco": read_source("coco", shared / "coco128-train2017"), "clothing": read_source("clothing", clothing)}
    if args.clothing_photos:
        sources["clothing"].files = sources["clothing"].files[: args.clothing_photos]
    model = default_visual_model()
    encoder = get_visual_encoder(model)
    if not args.no_embedding_cache:
        encoder = CachedVisualEncoder(encoder)
    print(
        f"== tag quality, visual model {model}; sources: "
        + ", ".join(
            f"{s.name} ({len(s.files)} photos, {len(s.classes(COCO_MIN_POSITIVES))} tags)" for s in sources.values()
        )
    )
    with connect(bench_database_url(DB)) as conn:
        server, _, _ = serve_in_background(conn, media_roots=[s.folder for s in sources.values()])
        loaded = {name: load_source(conn, s, model, encoder) for name, s in sources.items()}
        if isinstance(encoder, CachedVisualEncoder):
            print(f"   photo vectors: {encoder.hits} from the cache ({encoder.folder}), {encoder.misses} embedded")
        results = {}
        try:
            for report in args.sources:
                other = "clothing" if report == "coco" else "coco"
                fit = fit_calibration(conn, sources[other], *loaded[other], only=None)
                fit["source"] = f"all {len(sources[other].files)} {other} photos"
                zs = zero_shot(conn, sources[report], *loaded[report])
                print_zero_shot(sources[report], zs, fit)
                lab = labeled_ap(conn, sources[report], *loaded[report], args.seeds)
                results[report] = (zs, lab)
            print_table(results, args.seeds)
            if args.write_calibration:
                write_calibration(shipped_fit(conn, sources, loaded), model)
        finally:
            conn.execute("SELECT mediatag.reset_model_calibration(%s)", (model,))
            conn.commit()
    server.shutdown()
    bench_evaluator()


if __name__ == "__main__":
    sys.exit(main())
