import numpy as np
import pytest

from mediatag_ml.sampling import bucket_index, dedupe_near, per_bucket, stratified_sample, uncertain_diverse


def test_stratified_sample_is_balanced():
    rng = np.random.default_rng(0)
    ids = np.arange(10_000) * 7
    scores = rng.random(10_000)
    picked = stratified_sample(ids, scores, n_total=400, seed=1)
    assert picked.shape == (400,) and len(set(picked.tolist())) == 400
    by_id = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    counts = np.bincount(bucket_index(np.array([by_id[i] for i in picked.tolist()]), 10), minlength=10)
    assert counts.tolist() == [40] * 10


def test_stratified_sample_fills_shortfalls():
    rng = np.random.default_rng(1)
    # Almost everything scores low; the top buckets hold 3, 5, 0 keyframes.
    scores = np.r_[rng.uniform(0, 0.3, 5000), [0.75] * 3, [0.85] * 5]
    ids = np.arange(scores.shape[0])
    picked = stratified_sample(ids, scores, n_total=100, seed=3)
    assert picked.shape == (100,)
    counts = np.bincount(bucket_index(scores[picked], 10), minlength=10)
    assert counts[7] == 3 and counts[8] == 5 and counts[9] == 0
    # The low buckets share the rest as evenly as possible.
    assert sorted(counts[:3].tolist()) == [30, 31, 31]


def test_stratified_sample_small_population_returns_all():
    ids = np.arange(7)
    picked = stratified_sample(ids, np.linspace(0, 1, 7), n_total=400, seed=0)
    assert sorted(picked.tolist()) == ids.tolist()


def test_stratified_sample_deterministic_and_order_independent():
    rng = np.random.default_rng(2)
    ids = rng.permutation(5000)
    scores = rng.random(5000)
    a = stratified_sample(ids, scores, n_total=50, seed=9)
    b = stratified_sample(ids, scores, n_total=50, seed=9)
    order = rng.permutation(5000)
    c = stratified_sample(ids[order], scores[order], n_total=50, seed=9)
    d = stratified_sample(ids, scores, n_total=50, seed=10)
    assert a.tolist() == b.tolist()
    assert sorted(a.tolist()) == sorted(c.tolist())
    assert sorted(a.tolist()) != sorted(d.tolist())


def test_text_ids_work():
    ids = np.array([f"kf-{i}" for i in range(300)])
    scores = np.linspace(0, 1, 300)
    picked = stratified_sample(ids, scores, n_total=20, seed=1)
    assert picked.shape == (20,) and picked.dtype == ids.dtype


def test_per_bucket():
    rng = np.random.default_rng(3)
    scores = np.r_[rng.uniform(0, 0.2, 100), [1.0, 0.95]]
    ids = np.arange(scores.shape[0])
    out = per_bucket(ids, scores, k=10, seed=4)
    assert [(lo, hi) for lo, hi, _ in out][:2] == [(0.0, 0.1), (0.1, 0.2)]
    assert [len(x) for _, _, x in out] == [10, 10, 0, 0, 0, 0, 0, 0, 0, 2]
    assert set(out[-1][2].tolist()) == {100, 101}


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_uncertain_diverse_skips_near_duplicates():
    rng = np.random.default_rng(5)
    base = _unit(rng.standard_normal((20, 64)))
    # Every vector appears five times with tiny jitter, and all of them sit near the boundary.
    X = _unit(np.repeat(base, 5, axis=0) + 0.001 * rng.standard_normal((100, 64)))
    scores = 0.5 + rng.uniform(-0.05, 0.05, 100)
    far = _unit(rng.standard_normal((200, 64)))
    X = np.vstack([X, far])
    scores = np.r_[scores, rng.uniform(0.0, 0.2, 200)]
    ids = np.arange(300)
    picked = uncertain_diverse(ids, X, scores, k=15, pool=100)
    assert len(picked) == 15
    V = X[picked]
    cos = V @ V.T
    np.fill_diagonal(cos, -1)
    assert cos.max() < 0.98
    # All fifteen come from the uncertain group (15 of its 20 distinct vectors).
    assert np.all(picked < 100)


def test_uncertain_diverse_widens_pool_when_duplicates_exhaust_it():
    rng = np.random.default_rng(6)
    v = _unit(rng.standard_normal(32))
    X = np.vstack([np.tile(v, (50, 1)), _unit(rng.standard_normal((50, 32)))])
    scores = np.r_[np.full(50, 0.5), rng.uniform(0.6, 0.9, 50)]
    picked = uncertain_diverse(np.arange(100), X, scores, k=5, pool=50)
    assert len(picked) == 5
    assert sum(int(i < 50) for i in picked) == 1


def test_uncertain_diverse_prefers_uncertain():
    rng = np.random.default_rng(7)
    X = _unit(rng.standard_normal((1000, 32)))
    scores = rng.random(1000)
    picked = uncertain_diverse(np.arange(1000), X, scores, k=20)
    assert np.all(np.abs(scores[picked] - 0.5) <= np.sort(np.abs(scores - 0.5))[199] + 1e-12)


def test_dedupe_near_keeps_first_of_each_group():
    rng = np.random.default_rng(8)
    a, b = _unit(rng.standard_normal((2, 16)))
    X = np.vstack([a, b, a * 2.0, _unit(b + 1e-4)])
    assert dedupe_near(X, np.array([10, 11, 12, 13])).tolist() == [10, 11]


@pytest.mark.parametrize("k", [0, 5])
def test_uncertain_diverse_edge_cases(k):
    out = uncertain_diverse(np.arange(3), np.eye(3), np.array([0.5, 0.5, 0.5]), k=k)
    assert len(out) == min(k, 3)
