"""Timings and quality figures for plpython/mediatag_ml (the ML that runs inside PostgreSQL).

Prints:
  1. train_with_labels time for m = 10, 50, 200, 2,000 labels at d = 512 (CLIP) and d = 1,664 (offline
     layout), and zero_shot time with a 2,000-row sample;
  2. the measurements behind the design choices, on synthetic CLIP-like data (mediatag_ml.synthetic: no
     model weights needed): negative-prompt weight, zero-shot calibration at 0.5, labels vs prompts.
Synthetic data flatters every method equally (its concepts are linear in the embedding); the comparisons
between methods are the point, not the absolute numbers.

Usage: python bench/bench_training.py [--quick]   (runs with the server's /usr/bin/python3 or the venv)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plpython"))

from mediatag_ml import train_with_labels, zero_shot  # noqa: E402
from mediatag_ml.calibration import prompt_direction  # noqa: E402
from mediatag_ml.metrics import best_threshold, roc_auc  # noqa: E402
from mediatag_ml.sampling import stratified_sample  # noqa: E402
from mediatag_ml.synthetic import ConceptWorld  # noqa: E402

LAYOUTS = (("clip", 512), ("offline", 1664))


def best_of(fn, repeats: int) -> tuple[float, float, object]:
    """(best, median) wall time in ms over `repeats` calls, and the last result."""
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return min(times), float(np.median(times)), out


def bench_timings(repeats: int) -> None:
    print("== timings (ms, best / median) ==")
    for layout, d in LAYOUTS:
        world = ConceptWorld(layout=layout, seed=1)
        sample, pool = world.draw(2000, seed=10), world.draw(20000, seed=12)
        k = int(np.argmin(np.abs(world.prevalence - 0.06)))
        neg = sample.prompts[world.related[k] : world.related[k] + 1]
        pos = np.vstack([sample.prompts[k], sample.prompts[k] + 0.01 * sample.generic_prompt])
        zs_best, zs_med, prior = best_of(lambda: zero_shot(pos, neg, sample.X), repeats * 4)  # noqa: B023
        print(f"zero_shot          d={d:4d} sample=2000 prompts=2+1: {zs_best:6.1f} / {zs_med:6.1f}")
        scores = prior.score(pool.X)
        for m in (10, 50, 200, 2000):
            # Labels the way the UI collects them: a score-stratified preview of the prior.
            idx = stratified_sample(np.arange(pool.X.shape[0]), scores, n_total=m, seed=m)
            X, y = pool.X[idx], pool.Y[idx, k]
            best, med, clf = best_of(lambda: train_with_labels(X, y, prior, sample.X), repeats)  # noqa: B023
            s = clf.summary
            print(
                f"train_with_labels  d={d:4d} m={m:4d} (pos {s['n_pos']:4d}): {best:6.1f} / {med:6.1f}"
                f"  lambda by {s['lambda_source']}, {s['iterations']} L-BFGS iterations"
            )


def _best_f1(scores: np.ndarray, truth: np.ndarray) -> float:
    order = np.argsort(-scores)
    tp = np.cumsum(truth[order])
    return float(np.max(2 * tp / (np.arange(1, truth.shape[0] + 1) + truth.sum())))


def bench_negative_weight(world: ConceptWorld, test) -> None:
    print(f"-- negative prompt weight ({world.layout}): best F1 over all keyframes / AUC pos vs hard negatives --")
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
        f1s, hard = [], []
        for k in range(world.n_concepts):
            u = prompt_direction(test.prompts[k : k + 1], test.prompts[world.related[k]][None], negative_weight=weight)
            s = test.X @ u
            y = test.Y[:, k]
            f1s.append(_best_f1(s, y))
            rel = test.Y[:, world.related[k]] & ~y
            if rel.sum() >= 5 and y.sum() >= 5:
                hard.append(roc_auc(np.r_[s[y], s[rel]], np.r_[np.ones(y.sum(), bool), np.zeros(rel.sum(), bool)]))
        print(f"weight {weight:.2f}: best F1 {np.mean(f1s):.3f}   pos-vs-hard AUC {np.mean(hard):.3f}")


def bench_zero_shot(world: ConceptWorld, sample, test) -> None:
    print(f"-- zero-shot calibration ({world.layout}), means over {world.n_concepts} tags --")
    for mode in ("no negatives", "hard negative", "baseline prompt"):
        rows = []
        for k in range(world.n_concepts):
            neg = sample.prompts[world.related[k]][None] if mode == "hard negative" else None
            base = sample.generic_prompt if mode == "baseline prompt" else None
            clf = zero_shot(sample.prompts[k : k + 1], neg, sample.X, baseline=base)
            s = clf.score(test.X)
            y = test.Y[:, k]
            f1_half = best_threshold(s, y, "f1", thresholds=np.array([0.5]))[1]
            rows.append((roc_auc(s, y), f1_half, _best_f1(s, y), s.mean() / y.mean(), (s >= 0.5).mean() / y.mean()))
        r = np.array(rows)
        print(
            f"{mode:16s} AUC {r[:, 0].mean():.3f}  F1@0.5 {r[:, 1].mean():.3f}  best F1 {r[:, 2].mean():.3f}"
            f"  mean score/prevalence {np.median(r[:, 3]):.2f}  flagged/prevalence {np.median(r[:, 4]):.2f}"
        )


def bench_labels(world: ConceptWorld, sample, test, quick: bool) -> None:
    print(f"-- labels vs prompts ({world.layout}), held-out, labels from a stratified preview --")
    pool = world.draw(20000, seed=12)
    concepts = range(0, world.n_concepts, 6 if quick else 3)
    results: dict[str, list] = {}
    for k in concepts:
        y_test = test.Y[:, k]
        prior = zero_shot(sample.prompts[k : k + 1], None, sample.X)
        s0 = prior.score(test.X)
        results.setdefault("prompts", []).append(
            (roc_auc(s0, y_test), _best_f1(s0, y_test), best_threshold(s0, y_test, "f1", np.array([0.5]))[1], 1.0)
        )
        scores = prior.score(pool.X)
        for m in (5, 20, 50, 200, 1000):
            idx = stratified_sample(np.arange(pool.X.shape[0]), scores, n_total=m, seed=k)
            clf = train_with_labels(pool.X[idx], pool.Y[idx, k], prior, sample.X)
            s = clf.score(test.X)
            results.setdefault(f"{m} labels", []).append(
                (
                    roc_auc(s, y_test),
                    _best_f1(s, y_test),
                    best_threshold(s, y_test, "f1", np.array([0.5]))[1],
                    clf.summary["cos_to_prior"],
                )
            )
    for name, rows in results.items():
        r = np.array(rows)
        print(
            f"{name:12s} AUC {r[:, 0].mean():.3f}  best F1 {r[:, 1].mean():.3f}  F1@0.5 {r[:, 2].mean():.3f}"
            f"  cos(w, w_prior) {r[:, 3].mean():.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and tags")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    bench_timings(repeats=3 if args.quick else 7)
    print("\n== quality on synthetic CLIP-like data ==")
    for layout, _ in LAYOUTS:
        world = ConceptWorld(layout=layout, seed=1)
        sample, test = world.draw(2000, seed=10), world.draw(10000 if args.quick else 20000, seed=11)
        bench_negative_weight(world, test)
        bench_zero_shot(world, sample, test)
        bench_labels(world, sample, test, args.quick)


if __name__ == "__main__":
    main()
