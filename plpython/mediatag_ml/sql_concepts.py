"""The PL/Python bodies of sql/src/concepts.sql: fitting a concept's classifier (mediatag._fit_concept) and
picking the next keyframes to label (mediatag._select_batch)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np

from . import active, calibration
from .jsonable import jsonable
from .plpy_support import Plpy, cached, prepared, run
from .sql_training import CALIBRATION_ROWS, KEYFRAME_SAMPLE_SQL
from .vectors import decode_halfvecs, format_vector, parse_vector

# The most recent labels (and example images) a new pick is kept apart from: older ones could be duplicated.
MAX_LABELED = 5000

STATEMENTS = {
    "concept": (
        """SELECT c.dataset_id AS ds, d.visual_dim AS dim, c.description_embedding::text AS descr, d.visual_model,
                  mediatag._model_calibration_json(d.visual_model) AS visual_calibration,
                  (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                   WHERE b.model = d.visual_model AND b.modality = 'visual') AS baseline
           FROM mediatag.concept c JOIN mediatag.dataset d ON d.id = c.dataset_id WHERE c.id = $1""",
        ["bigint"],
    ),
    "labels": (
        """SELECT string_agg(halfvec_send(k.embedding), ''::bytea ORDER BY l.keyframe_id) AS blob, count(*) AS n
           FROM mediatag.concept_label l JOIN mediatag.keyframe k ON k.id = l.keyframe_id
           WHERE l.concept_id = $1 AND l.label = $2""",
        ["bigint", "text"],
    ),
    "examples": (
        """SELECT string_agg(halfvec_send(e.embedding::halfvec), ''::bytea ORDER BY e.id) AS blob
           FROM mediatag.concept_example e WHERE e.concept_id = $1""",
        ["bigint"],
    ),
    "sample": (KEYFRAME_SAMPLE_SQL, ["bigint", "int"]),
    # Changes whenever the dataset's keyframe sample does (see the cache in fit_concept).
    "sample_key": (
        """SELECT count(*)::text || '/' || coalesce(max(keyframe_id), 0)::text AS k
           FROM mediatag.keyframe_sample WHERE dataset_id = $1""",
        ["bigint"],
    ),
    "insert": (
        """INSERT INTO mediatag.concept_classifier (concept_id, version, weights, bias, summary)
           VALUES ($1, coalesce((SELECT max(version) FROM mediatag.concept_classifier WHERE concept_id = $1), 0) + 1,
                   $2::vector, $3, $4::jsonb) RETURNING version""",
        ["bigint", "text", "float8", "text"],
    ),
}

# The embeddings a new pick must not duplicate: the latest labels (yes, no or skip) and the example images.
LABELED_SQL = """SELECT string_agg(b, ''::bytea) AS blob FROM (
      (SELECT halfvec_send(k.embedding) AS b FROM mediatag.concept_label l
       JOIN mediatag.keyframe k ON k.id = l.keyframe_id
       WHERE l.concept_id = $1 ORDER BY l.labeled_at DESC LIMIT $2)
      UNION ALL
      (SELECT halfvec_send(e.embedding::halfvec) FROM mediatag.concept_example e WHERE e.concept_id = $1 LIMIT $2)) x"""


def fit_concept(plpy: Plpy, sd: dict, concept_id: int) -> int:
    """mediatag._fit_concept: a new classifier version for the concept from its labels, example images and
    description; returns the version."""
    started = time.perf_counter()
    plans = prepared(plpy, sd, "concept_plans", STATEMENTS)
    c = plpy.execute(plans["concept"], [concept_id])[0]
    dim = c["dim"]

    def blob(name: str, *args: object) -> np.ndarray:
        return decode_halfvecs(plpy.execute(plans[name], [*args])[0]["blob"], dim)

    # The sample is cached per session, keyed by its identity: a retrain after one more label reads no sample.
    version = plpy.execute(plans["sample_key"], [c["ds"]])[0]["k"]
    sample = cached(
        sd.setdefault("concept_samples", {}), c["ds"], version, lambda: blob("sample", c["ds"], CALIBRATION_ROWS)
    )
    # The same calibration and the same random subset of the sample as the dataset's tags.
    clf = active.fit_concept(
        blob("labels", concept_id, "yes"),
        blob("labels", concept_id, "no"),
        blob("examples", concept_id),
        parse_vector(c["descr"]),
        parse_vector(c["baseline"]),
        sample,
        dim=dim,
        seed=int(concept_id),
        model_calibration=calibration.resolve_model_calibration(c["visual_calibration"], c["visual_model"]),
    )
    summary = dict(clf.summary)
    summary["train_ms"] = round((time.perf_counter() - started) * 1000, 1)
    row = plpy.execute(plans["insert"], [concept_id, format_vector(clf.w), float(clf.b), json.dumps(jsonable(summary))])
    return row[0]["version"]


def select_batch(
    plpy: Plpy,
    concept_id: int,
    dim: int,
    n: int,
    n_labeled: int,
    seed: int,
    cand_ids: Sequence[int] | None,
    cand_scores: Sequence[float],
    cand_sample: Sequence[bool],
    cand_blob: bytes,
) -> tuple[list[int], list[str]]:
    """mediatag._select_batch: the next n candidates to label and why each (active.select_batch), as the OUT
    parameters (ids, reasons)."""
    if not cand_ids:
        return [], []
    # The sample's and the HNSW neighbourhood's candidates arrive one list after the other, each in id order; the
    # selection sees them as one list in id order, as it always has.
    order = np.argsort(np.array(cand_ids, dtype=np.int64), kind="stable")
    labeled = run(plpy, LABELED_SQL, ["bigint", "int"], [concept_id, MAX_LABELED])[0]["blob"]
    ids, why = active.select_batch(
        np.array(cand_ids, dtype=np.int64)[order],
        decode_halfvecs(cand_blob, dim)[order],
        np.array(cand_scores, dtype=np.float64)[order],
        np.array(cand_sample, dtype=bool)[order],
        decode_halfvecs(labeled, dim),
        n,
        n_labeled,
        seed,
    )
    return [int(i) for i in ids], why
