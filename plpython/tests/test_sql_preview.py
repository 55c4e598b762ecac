"""mediatag_ml.sql_preview: the body of mediatag._diverse_uncertain."""

from __future__ import annotations

import numpy as np
from fake_plpy import halfvec_blob

from mediatag_ml import sql_preview

DIM = 8


def test_no_candidates_no_picks():
    assert sql_preview.diverse_uncertain(DIM, 5, [], [], b"") == []
    assert sql_preview.diverse_uncertain(DIM, 5, None, None, None) == []


def test_picks_the_uncertain_ones_and_never_a_copy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, DIM)).astype(np.float32)
    X[1] = X[0]  # a copy of the most uncertain candidate
    ids = list(range(1000, 1040))
    scores = [0.5, 0.5] + [0.02] * 30 + [0.45] * 8
    picked = sql_preview.diverse_uncertain(DIM, 6, ids, scores, halfvec_blob(X))
    assert len(picked) == 6 and all(type(i) is int for i in picked)  # plain ints for bigint[]
    assert not {1000, 1001} <= set(picked)  # the copy adds nothing
    assert set(picked) <= {1000, 1001, *range(1032, 1040)}  # the uncertain ones first


def test_picks_spread_over_the_whole_candidate_list():
    """50 candidates at 0.5 in one tight cluster, 450 a little less uncertain spread everywhere: 5 picks do not all
    come from the cluster (with a pool of the 10 k most uncertain they did)."""
    rng = np.random.default_rng(1)
    center = rng.standard_normal(DIM)
    cluster = center + 0.15 * rng.standard_normal((50, DIM))
    spread = 3.0 * rng.standard_normal((450, DIM))
    X = np.vstack([cluster, spread]).astype(np.float32)
    ids = list(range(500))
    scores = [0.5] * 50 + [0.4] * 450
    picked = sql_preview.diverse_uncertain(DIM, 5, ids, scores, halfvec_blob(X))
    assert len(picked) == 5
    assert sum(i >= 50 for i in picked) >= 3
