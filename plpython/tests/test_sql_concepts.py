"""mediatag_ml.sql_concepts: the bodies of mediatag._fit_concept and mediatag._select_batch, run with a fake plpy."""

from __future__ import annotations

import json

import numpy as np
from fake_plpy import FakePlpy, halfvec_blob

from mediatag_ml import sql_concepts
from mediatag_ml.synthetic import ConceptWorld
from mediatag_ml.vectors import format_vector, parse_vector

DIM = 32
DATA = ConceptWorld(d=DIM, n_concepts=8, seed=0).draw(400, seed=1)
CONCEPT = 1  # 119 of the 400 photos
YES = np.flatnonzero(DATA.Y[:, CONCEPT])[:10]
NO = np.flatnonzero(~DATA.Y[:, CONCEPT])[:20]


def _fit_plpy(sample_key: str = "400/400", description: np.ndarray | None = None) -> FakePlpy:
    labels = {"yes": halfvec_blob(DATA.X[YES]), "no": halfvec_blob(DATA.X[NO])}
    return FakePlpy(
        {
            "FROM mediatag.concept c JOIN": [
                {
                    "ds": 7,
                    "dim": DIM,
                    "descr": None if description is None else format_vector(description),
                    "visual_model": "synthetic-model",
                    "visual_calibration": None,
                    "baseline": format_vector(DATA.generic_prompt),
                }
            ],
            "AS k": [{"k": sample_key}],
            "_calibration_sample": [{"blob": halfvec_blob(DATA.X)}],
            "FROM mediatag.concept_label l": lambda args: [{"blob": labels[args[1]], "n": 0}],
            "FROM mediatag.concept_example": [{"blob": None}],
            "INSERT INTO mediatag.concept_classifier": [{"version": 3}],
        }
    )


def test_fit_concept_trains_on_yes_and_no_labels_and_returns_the_new_version():
    plpy = _fit_plpy()
    assert sql_concepts.fit_concept(plpy, {}, 42) == 3
    assert plpy.calls("FROM mediatag.concept_label l") == [[42, "yes"], [42, "no"]]
    ((concept_id, weights, bias, summary),) = plpy.calls("INSERT INTO mediatag.concept_classifier")
    summary = json.loads(summary)
    assert concept_id == 42 and summary["kind"] == "labels" and summary["train_ms"] >= 0
    scores = DATA.X @ parse_vector(weights) + bias
    assert scores[DATA.Y[:, CONCEPT]].mean() > scores[~DATA.Y[:, CONCEPT]].mean()


def test_fit_concept_reads_the_sample_once_per_session_until_it_changes():
    sd: dict = {}
    first = _fit_plpy()
    sql_concepts.fit_concept(first, sd, 42)
    assert first.calls("_calibration_sample") == [[7, sql_concepts.CALIBRATION_ROWS]]
    again = _fit_plpy()
    sql_concepts.fit_concept(again, sd, 42)
    assert again.prepared == [] and again.calls("_calibration_sample") == []
    changed = _fit_plpy(sample_key="401/405")
    sql_concepts.fit_concept(changed, sd, 42)
    assert changed.calls("_calibration_sample") == [[7, sql_concepts.CALIBRATION_ROWS]]


def test_select_batch_without_candidates_picks_nothing_and_reads_nothing():
    plpy = FakePlpy({})
    assert sql_concepts.select_batch(plpy, 42, DIM, 5, 0, 0, [], [], [], b"") == ([], [])
    assert sql_concepts.select_batch(plpy, 42, DIM, 5, 0, 0, None, None, None, None) == ([], [])
    assert plpy.executed == []


def test_select_batch_sees_the_candidates_in_id_order_with_their_own_vectors(monkeypatch):
    # The sample's candidates, then the HNSW neighbourhood's, each in id order; every vector's first component is
    # its id, so a vector that moved away from its id shows.
    ids = [5, 9, 30, 2, 7, 40]
    X = np.zeros((len(ids), DIM), dtype=np.float32)
    X[:, 0] = ids
    scores = [0.5, 0.6, 0.7, 0.1, 0.2, 0.3]
    from_sample = [True, True, True, False, False, False]
    labeled = np.ones((2, DIM), dtype=np.float32)
    seen = {}

    def select_batch(cand_ids, cand_X, cand_scores, random_mask, labeled_X, n, n_labeled, seed):
        seen.update(
            ids=cand_ids, X=cand_X, scores=cand_scores, mask=random_mask, labeled=labeled_X, rest=(n, n_labeled, seed)
        )
        return np.array([cand_ids[1], cand_ids[4]]), ["uncertain", "explore"]

    monkeypatch.setattr(sql_concepts.active, "select_batch", select_batch)
    plpy = FakePlpy({"FROM mediatag.concept_label l": [{"blob": halfvec_blob(labeled)}]})
    picked, why = sql_concepts.select_batch(plpy, 42, DIM, 2, 11, 3, ids, scores, from_sample, halfvec_blob(X))
    assert picked == [5, 30] and why == ["uncertain", "explore"]
    assert all(type(i) is int for i in picked)  # plain ints for the bigint[] OUT parameter
    assert seen["ids"].tolist() == [2, 5, 7, 9, 30, 40]
    assert seen["X"][:, 0].tolist() == [2, 5, 7, 9, 30, 40]
    assert seen["scores"].tolist() == [0.1, 0.5, 0.2, 0.6, 0.7, 0.3]
    assert seen["mask"].tolist() == [False, True, False, True, True, False]
    np.testing.assert_array_equal(seen["labeled"], labeled)
    assert seen["rest"] == (2, 11, 3)
    assert plpy.calls("FROM mediatag.concept_label l") == [[42, sql_concepts.MAX_LABELED]]


def test_select_batch_with_the_real_selection_picks_distinct_candidates():
    ids = list(range(100, 160))
    plpy = FakePlpy({"FROM mediatag.concept_label l": [{"blob": None}]})
    picked, why = sql_concepts.select_batch(
        plpy, 42, DIM, 8, 0, 0, ids, [0.5] * 60, [True] * 60, halfvec_blob(DATA.X[:60])
    )
    assert len(picked) == 8 and len(set(picked)) == 8 and set(picked) <= set(ids)
    assert len(why) == 8 and set(why) <= {"uncertain", "explore"}
