"""Concepts: training from yes/no labels and example images, and choosing what to label next.

Training reuses the tag trainer (`training.train_with_labels`, a logistic model regularised toward a prior
classifier) and the zero-shot calibration (`calibration.zero_shot`); both are reached only through `_zero_shot`
and `_train_with_labels` below, so a change in their signatures is a one-line fix here.

Which prior a concept starts from:
- a description: its text embedding is a zero-shot prompt, calibrated like a tag's prompt: with the model's
  calibration where one is known (`calibration.ModelCalibration`, shipped per model or fitted by an admin), else
  the unlabeled EM fit on the dataset sample. The model calibration matters beyond where 0.5 sits: the EM fit's
  slopes are ~4x steeper, so labels barely move its ranking (measured on COCO photos with conse-effnet-lite02-wn:
  held-out AP +0.02-0.04 after 25 labels from the EM prior against +0.07-0.10 from the model-calibrated one);
- no description but positives (labels or example images): the direction mean(positives) - mean(sample),
  calibrated the same way, so a name like `blue_uniform2` that means nothing to the model still works;
- neither: a flat classifier (every keyframe scores the same low probability) until a "yes" arrives.

One-class label sets train sensibly instead of failing:
- only positives: random keyframes of the dataset's sample stand in as negatives (PU learning: most keyframes
  of a library do not show a given concept), `BACKGROUND_PER_POSITIVE` per positive, skipping any close to a
  positive; the summary says so and names the prevalence that choice implies;
- only negatives: they push their neighbourhood down from the description's (or nothing's) prior; without a
  description nothing says what the concept looks like, which the summary says.
"""

from __future__ import annotations

import numpy as np

from . import calibration, training
from .blas import single_threaded_blas
from .calibration import unit_rows
from .classifier import Classifier, logit, sigmoid
from .jsonable import jsonable
from .sampling import random_keys

# PU learning: background keyframes per positive when there are no negative labels, and their bounds.
BACKGROUND_PER_POSITIVE = 20
BACKGROUND_MIN, BACKGROUND_MAX = 100, 2000
# A background keyframe this close (cosine) to a positive is not taken as a negative.
BACKGROUND_MAX_COS = 0.9
# Log-odds by which a "no" label's keyframe stays below its prior score when only negatives are known.
NO_RAISE_MARGIN = 1e-3
# The flat classifier's probability before anything positive is known.
FLAT_PRIOR = 0.01
# Two keyframes with cosine at or above this are near-duplicates: never both in one batch, and never one
# that duplicates a keyframe already labeled.
NEAR_DUPLICATE_COS = 0.95
# Share of a batch spent exploring (farthest-first over the random sample): half at the start, decaying
# with the number of labels to EXPLORE_MIN.
EXPLORE_START, EXPLORE_MIN, EXPLORE_DECAY_LABELS = 0.5, 0.1, 30.0
# The uncertainty pool holds this many candidates per uncertainty pick before clustering, but never more than
# this share of the candidates left: on a small candidate set (a dataset of a few hundred photos) 8 per pick would
# take most of it, and "near the boundary" would mean "anywhere".
POOL_PER_PICK = 8
POOL_MAX_SHARE = 0.25
KMEANS_ITERATIONS = 8


# -- adapters to the shared trainer (the only two call sites) ----------------------------------------------------
def _zero_shot(
    pos: np.ndarray,
    sample: np.ndarray,
    baseline: np.ndarray | None,
    model_calibration: calibration.ModelCalibration | None = None,
) -> Classifier:
    return calibration.zero_shot(pos, None, sample, baseline=baseline, model_calibration=model_calibration)


def _train_with_labels(X: np.ndarray, y: np.ndarray, prior: Classifier, sample: np.ndarray) -> Classifier:
    return training.train_with_labels(X, y, prior, sample)


# -- training ----------------------------------------------------------------------------------------------------
def _rows(a: np.ndarray | None, d: int) -> np.ndarray:
    if a is None:
        return np.zeros((0, d), dtype=np.float32)
    a = np.asarray(a, dtype=np.float32)
    return a.reshape(-1, d) if a.size else np.zeros((0, d), dtype=np.float32)


def _background(sample: np.ndarray, pos: np.ndarray, seed: int) -> np.ndarray:
    """Sample rows to stand in as negatives: not near any positive, a deterministic subset per seed."""
    if sample.shape[0] == 0:
        return sample
    near = (unit_rows(sample) @ unit_rows(pos).T).max(axis=1) >= BACKGROUND_MAX_COS
    rows = np.flatnonzero(~near)
    want = int(np.clip(BACKGROUND_PER_POSITIVE * pos.shape[0], BACKGROUND_MIN, BACKGROUND_MAX))
    rows = rows[np.argsort(random_keys(rows, seed), kind="stable")[:want]]
    return sample[rows]


@single_threaded_blas
def fit_concept(
    positives: np.ndarray | None,
    negatives: np.ndarray | None,
    examples: np.ndarray | None,
    description: np.ndarray | None,
    baseline: np.ndarray | None,
    sample: np.ndarray,
    *,
    dim: int,
    seed: int = 0,
    model_calibration: calibration.ModelCalibration | None = None,
) -> Classifier:
    """A concept's classifier from its labels (keyframe embeddings), example images (embeddings, positives),
    description (text embedding or None) and the dataset's random sample. model_calibration (the dataset's visual
    model's, as for tags) calibrates the description prior; a positives-direction prior is not a text prompt, so
    it keeps the unlabeled fit. Returns weights, bias and a summary that says what the classifier was built from."""
    pos_labels, neg = _rows(positives, dim), _rows(negatives, dim)
    ex = _rows(examples, dim)
    pos = np.vstack([pos_labels, ex])
    sample = _rows(sample, dim)
    summary: dict = {
        "n_yes": int(pos_labels.shape[0]),
        "n_no": int(neg.shape[0]),
        "n_examples": int(ex.shape[0]),
        "n_sample": int(sample.shape[0]),
    }
    notes: list[str] = []

    if description is not None and np.any(description):
        prior = _zero_shot(np.asarray(description, dtype=np.float64)[None, :], sample, baseline, model_calibration)
        summary["prior"] = "description"
    elif pos.shape[0]:
        center = sample.mean(axis=0) if sample.shape[0] else np.zeros(dim, dtype=np.float32)
        direction = pos.mean(axis=0) - center
        if not np.any(direction):
            direction = pos.mean(axis=0)
        prior = _zero_shot(direction[None, :], sample, None)
        summary["prior"] = "positives_direction"
        notes.append("no description: the prior is the positives' mean direction against the dataset's average")
    else:
        clf = Classifier(w=np.zeros(dim), b=logit(FLAT_PRIOR))
        summary["prior"] = "flat"
        summary["kind"] = "flat"
        notes.append(
            "no description and no positive labels or example images: nothing says what the concept looks like, "
            f"so every keyframe scores {FLAT_PRIOR}; label some keyframes yes (continue_labeling explores) "
            "or add example images"
        )
        summary["notes"] = notes
        clf.summary = jsonable(summary)
        return clf
    summary["prior_summary"] = {
        k: prior.summary.get(k)
        for k in ("kind", "calibration", "prevalence", "separation", "expected_prevalence", "sample_frac_above_half")
    }

    if pos.shape[0] == 0 and neg.shape[0] == 0:
        clf = prior
        summary["kind"] = "zero_shot"
    elif neg.shape[0] == 0:
        bg = _background(sample, pos, seed)
        X = np.vstack([pos, bg])
        y = np.concatenate([np.ones(pos.shape[0], bool), np.zeros(bg.shape[0], bool)])
        clf = _train_with_labels(X, y, prior, sample)
        summary["kind"] = "positives_vs_background"
        summary["n_background"] = int(bg.shape[0])
        notes.append(
            f"only positive labels: {bg.shape[0]} random keyframes of the dataset stood in as negatives, which "
            f"assumes about {pos.shape[0] / max(pos.shape[0] + bg.shape[0], 1):.1%} of keyframes show the concept; "
            "label a few 'no' to calibrate it"
        )
    elif pos.shape[0] == 0:
        X, y = neg, np.zeros(neg.shape[0], bool)
        clf = _train_with_labels(X, y, prior, sample)
        # A "no" never raises what it was said of: the trainer re-places 0.5 at an expected count, which with
        # nothing but negatives can lift the intercept; pull it back so no labeled keyframe scores above its prior.
        # The margin covers the float32 arithmetic of scoring in SQL, where the keyframe that set the excess
        # would otherwise land a rounding error above its prior.
        excess = float(np.max(clf.decision(neg) - prior.decision(neg)))
        if excess > -NO_RAISE_MARGIN:
            clf.b -= excess + NO_RAISE_MARGIN
        summary["kind"] = "negatives_only"
        notes.append(
            "only negative labels: they lower the score of keyframes like them; the positive evidence is the "
            + ("description" if summary["prior"] == "description" else "example images")
        )
    else:
        X = np.vstack([pos, neg])
        y = np.concatenate([np.ones(pos.shape[0], bool), np.zeros(neg.shape[0], bool)])
        clf = _train_with_labels(X, y, prior, sample)
        summary["kind"] = "labels"
    summary["trainer"] = {k: v for k, v in clf.summary.items() if k != "prior"}
    if sample.shape[0]:
        summary["sample_frac_above_half"] = float(np.mean(clf.score(sample) >= 0.5))
    summary["notes"] = notes
    clf.summary = jsonable(summary)
    return clf


# -- what to label next ------------------------------------------------------------------------------------------
def explore_share(n_labeled: int) -> float:
    """Fraction of a batch spent exploring: EXPLORE_START with no labels, decaying toward EXPLORE_MIN."""
    return max(EXPLORE_MIN, EXPLORE_START * float(np.exp(-n_labeled / EXPLORE_DECAY_LABELS)))


def _kmeans(V: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Spherical k-means on unit rows V (k-means++ seeding, a few Lloyd steps); the cluster of each row."""
    rng = np.random.default_rng(seed)
    n = V.shape[0]
    k = min(k, n)
    centers = [int(rng.integers(n))]
    d = 1.0 - V @ V[centers[0]]
    for _ in range(1, k):
        p = np.clip(d, 0, None) ** 2
        c = int(rng.choice(n, p=p / p.sum())) if p.sum() > 0 else int(rng.integers(n))
        centers.append(c)
        d = np.minimum(d, 1.0 - V @ V[c])
    C = V[centers].copy()
    assign = np.zeros(n, dtype=np.int64)
    for _ in range(KMEANS_ITERATIONS):
        assign = np.argmax(V @ C.T, axis=1)
        for j in range(k):
            members = V[assign == j]
            if members.shape[0]:
                m = members.sum(axis=0)
                C[j] = m / (np.linalg.norm(m) or 1.0)
    return assign


@single_threaded_blas
def select_batch(
    ids: np.ndarray,
    X: np.ndarray,
    scores: np.ndarray,
    random_mask: np.ndarray,
    labeled: np.ndarray | None,
    n: int,
    n_labeled: int,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """The next n keyframes to label, and why each ('uncertain' or 'explore').

    ids/X/scores: unlabeled candidates (the caller never passes a labeled or skipped keyframe) with their
    embeddings and current scores; random_mask marks the ones from the dataset's random sample (the others come
    from the classifier's HNSW neighbourhood, where a rare concept's boundary lies). labeled: embeddings of the
    keyframes already labeled (yes, no or skip) and of example images.

    Strategy:
    1. Drop candidates that near-duplicate (cosine >= NEAR_DUPLICATE_COS) anything already labeled: a second
       copy of a labeled frame teaches nothing.
    2. Uncertainty with diversity: the POOL_PER_PICK * m candidates nearest the decision boundary (score 0.5),
       at most POOL_MAX_SHARE of the candidates, are clustered into m groups (spherical k-means), and each group
       gives its most uncertain member, so the batch covers m different regions of the boundary instead of m
       frames of one scene.
    3. Exploration: explore_share(n_labeled) of the batch (half at first, 10 % later) goes to random-sample
       keyframes farthest from everything labeled or picked (farthest-first traversal), which finds regions the
       classifier has never seen; early on its boundary is wrong and uncertainty alone would keep polishing it.
    4. No two picks near-duplicate each other; if the pools run dry, the rest fills from the remaining
       candidates by uncertainty.
    """
    ids = np.asarray(ids).ravel()
    if n <= 0 or ids.shape[0] == 0:
        return ids[:0], []
    V = unit_rows(np.asarray(X, dtype=np.float32)).astype(np.float32)
    u = 1.0 - np.abs(2.0 * np.clip(np.asarray(scores, dtype=np.float64).ravel(), 0.0, 1.0) - 1.0)
    random_mask = np.asarray(random_mask, dtype=bool).ravel()
    # Closest cosine to anything labeled or picked, kept up to date as picks are made.
    near = np.full(ids.shape[0], -1.0, dtype=np.float32)
    if labeled is not None and np.size(labeled):
        L = unit_rows(np.asarray(labeled, dtype=np.float32).reshape(-1, V.shape[1])).astype(np.float32)
        near = (V @ L.T).max(axis=1)
    alive = near < NEAR_DUPLICATE_COS

    picks: list[int] = []
    reasons: list[str] = []

    def take(i: int, why: str) -> None:
        nonlocal near
        picks.append(i)
        reasons.append(why)
        alive[i] = False
        near = np.maximum(near, V @ V[i])
        alive[near >= NEAR_DUPLICATE_COS] = False

    n_explore = int(round(n * explore_share(n_labeled))) if random_mask.any() else 0
    n_uncertain = n - n_explore

    # 2. uncertainty, one pick per cluster of the boundary pool
    order = np.argsort(-u, kind="stable")
    alive_order = order[alive[order]]
    pool_size = min(POOL_PER_PICK * max(n_uncertain, 1), max(n_uncertain, int(POOL_MAX_SHARE * alive_order.shape[0])))
    pool = alive_order[:pool_size]
    if n_uncertain > 0 and pool.shape[0]:
        assign = _kmeans(V[pool], n_uncertain, seed)
        for j in range(int(assign.max()) + 1):
            members = pool[assign == j]  # pool is sorted by uncertainty: the first alive member is the best
            for i in members:
                if alive[i]:
                    take(int(i), "uncertain")
                    break

    # 3. exploration: farthest-first over the random sample
    while len(picks) < n_uncertain + n_explore:
        cand = np.flatnonzero(alive & random_mask)
        if cand.shape[0] == 0:
            break
        take(int(cand[np.argmin(near[cand])]), "explore")

    # 4. fill
    for i in order:
        if len(picks) >= n:
            break
        if alive[i]:
            take(int(i), "uncertain")
    return ids[np.asarray(picks, dtype=np.int64)], reasons


def score(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """The concept score, as SQL computes it: sigmoid(x·w + b)."""
    return sigmoid(np.asarray(X, dtype=np.float64) @ np.asarray(w, dtype=np.float64) + b)
