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
