"""Which keyframes to show a person: score-stratified previews and uncertain-but-diverse batches.

Randomness is keyed on (seed, id) rather than on row order, so the same seed gives the same picks whatever
order SQL returned the rows in, and a dataset that grows keeps most of its earlier picks.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .blas import single_threaded_blas
from .calibration import unit_rows


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A well-mixed 64-bit hash (Steele et al.'s SplitMix64 finaliser), vectorised on uint64."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def random_keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """Pseudo-random uint64 sort key per id, a pure function of (seed, id)."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        raw = ids.astype(np.int64).view(np.uint64)
    else:
        # Text/uuid ids: hash their string form (stable across processes, unlike Python's hash()).
        raw = np.array(
            [int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "little") for v in ids.ravel()],
            dtype=np.uint64,
        )
    salt = _splitmix64(np.array([seed % 2**64], dtype=np.uint64))
    return _splitmix64(raw ^ salt)


def bucket_index(scores: np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket j holds [j/n, (j+1)/n); a score of exactly 1.0 goes in the last bucket."""
    s = np.clip(np.asarray(scores, dtype=np.float64).ravel(), 0.0, 1.0)
    return np.minimum((s * n_buckets).astype(np.int64), n_buckets - 1)


def _quotas(available: np.ndarray, n_total: int) -> np.ndarray:
    """Equal share per bucket; what a short bucket cannot use is handed to the others (water-filling)."""
    quota = np.zeros_like(available)
    left = min(int(n_total), int(available.sum()))
    open_ = available > 0
    while left > 0 and open_.any():
        share, extra = divmod(left, int(open_.sum()))
        for j in np.flatnonzero(open_):
            want = share + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
            take = min(want, int(available[j] - quota[j]))
            quota[j] += take
            left -= take
        open_ = quota < available
    return quota


def stratified_sample(
    ids: np.ndarray, scores: np.ndarray, n_total: int = 400, n_buckets: int = 10, seed: int = 0
) -> np.ndarray:
    """About n_total ids spread equally over score buckets [0, 0.1), ..., [0.9, 1.0]; deterministic per seed.
    Returned lowest bucket first."""
    ids = np.asarray(ids).ravel()
    buckets = bucket_index(scores, n_buckets)
    if ids.shape[0] != buckets.shape[0]:
        raise ValueError("ids and scores differ in length")
    available = np.bincount(buckets, minlength=n_buckets)
    quota = _quotas(available, n_total)
    keys = random_keys(ids, seed)
    picked = []
    for j in range(n_buckets):
        if quota[j]:
            members = np.flatnonzero(buckets == j)
            picked.append(members[np.argsort(keys[members], kind="stable")[: quota[j]]])
    return ids[np.concatenate(picked)] if picked else ids[:0]


def inclusion_weights(buckets: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Horvitz-Thompson weight of each judged item: N_b / n_b, the population of its score bucket at sampling
    time over the number of judged items of that bucket. Within a bucket the sample is uniform, so the weighted
    sums estimate the population's sums without bias (as far as judging does not depend on the answer)."""
    b = np.asarray(buckets, dtype=np.int64).ravel()
    pop = np.asarray(population, dtype=np.float64).ravel()
    if b.size and (b.min() < 0 or b.max() >= pop.shape[0]):
        raise ValueError(f"bucket numbers must be in 0..{pop.shape[0] - 1}")
    n_b = np.bincount(b, minlength=pop.shape[0])
    if np.any(pop[b] < n_b[b]):
        bad = int(b[np.argmax(pop[b] < n_b[b])])
        raise ValueError(f"bucket {bad} has {n_b[bad]} judged items but a population of only {pop[bad]:.0f}")
    return pop[b] / n_b[b]


def per_bucket(
    ids: np.ndarray, scores: np.ndarray, k: int = 10, n_buckets: int = 10, seed: int = 0
) -> list[tuple[float, float, np.ndarray]]:
    """Up to k random ids from every score bucket, as (lo, hi, ids); empty buckets are listed too so a UI
    can show them as empty."""
    ids = np.asarray(ids).ravel()
    buckets = bucket_index(scores, n_buckets)
    keys = random_keys(ids, seed)
    out = []
    for j in range(n_buckets):
        members = np.flatnonzero(buckets == j)
        chosen = members[np.argsort(keys[members], kind="stable")[:k]]
        out.append((round(j / n_buckets, 10), round((j + 1) / n_buckets, 10), ids[chosen]))
    return out


def uncertainty(scores: np.ndarray) -> np.ndarray:
    """1 at score 0.5, 0 at 0 or 1 (linear in |score - 0.5|)."""
    return 1.0 - np.abs(2.0 * np.clip(np.asarray(scores, dtype=np.float64).ravel(), 0.0, 1.0) - 1.0)


@single_threaded_blas
def uncertain_diverse(
    ids: np.ndarray,
    X: np.ndarray,
    scores: np.ndarray,
    k: int,
    pool: int | None = None,
    min_cos: float = 0.98,
) -> np.ndarray:
    """k ids the classifier is least sure about, spread out: among the `pool` (default 10k) most uncertain,
    greedy max-min selection of (1 - cosine to the nearest pick) * (0.1 + uncertainty), never two picks with
    cosine >= min_cos. If duplicates exhaust the pool, it widens toward less uncertain keyframes."""
    ids = np.asarray(ids).ravel()
    n = ids.shape[0]
    if k <= 0 or n == 0:
        return ids[:0]
    u = uncertainty(scores)
    if u.shape[0] != n:
        raise ValueError("ids, X and scores differ in length")
    order = np.argsort(-u, kind="stable")
    size = min(n, pool if pool is not None else 10 * k)
    chosen: list[int] = []
    while True:
        cand = order[:size]
        chosen = _greedy_maxmin(unit_rows(np.asarray(X)[cand]), u[cand], k, min_cos, cand, chosen)
        if len(chosen) >= k or size >= n:
            break
        size = min(n, size * 2)
    return ids[np.asarray(chosen, dtype=np.int64)]


def _greedy_maxmin(
    V: np.ndarray, u: np.ndarray, k: int, min_cos: float, cand: np.ndarray, seeded: list[int]
) -> list[int]:
    """Greedy k-center on cosine distance weighted by uncertainty; `seeded` are earlier picks (indices into
    the full set) that later rounds keep and stay away from."""
    pos_of = {int(c): i for i, c in enumerate(cand)}
    max_cos = np.full(V.shape[0], -np.inf)
    taken = np.zeros(V.shape[0], dtype=bool)
    picks: list[int] = []
    for g in seeded:
        i = pos_of[int(g)]
        taken[i] = True
        max_cos = np.maximum(max_cos, V @ V[i])
        picks.append(int(g))
    while len(picks) < k:
        eligible = ~taken & (max_cos < min_cos)
        if not eligible.any():
            break
        spread = np.where(np.isfinite(max_cos), 1.0 - max_cos, 2.0)
        gain = np.where(eligible, spread * (0.1 + u), -np.inf)
        i = int(np.argmax(gain))
        taken[i] = True
        max_cos = np.maximum(max_cos, V @ V[i])
        picks.append(int(cand[i]))
    return picks


def dedupe_near(X: np.ndarray, ids: np.ndarray, min_cos: float = 0.98) -> np.ndarray:
    """ids without near-duplicates: walking in the given order, drop any row with cosine >= min_cos to a row
    already kept (so order by preference, e.g. uncertainty, first). O(n * kept * d); meant for samples."""
    ids = np.asarray(ids).ravel()
    V = unit_rows(np.asarray(X))
    kept_rows = np.empty_like(V)  # kept vectors packed at the front, so each test is one mat-vec
    kept: list[int] = []
    for i in range(V.shape[0]):
        if not kept or float(np.max(kept_rows[: len(kept)] @ V[i])) < min_cos:
            kept_rows[len(kept)] = V[i]
            kept.append(i)
    return ids[np.asarray(kept, dtype=np.int64)]
