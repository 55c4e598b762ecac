"""mediatag_ml.sql_training: the bodies of mediatag._fit_classifiers and mediatag.fit_model_calibration, run with a
fake plpy on synthetic CLIP-like embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fake_plpy import FakePlpy, PlpyError, halfvec_blob

from mediatag_ml import sql_training
from mediatag_ml.synthetic import ConceptWorld
from mediatag_ml.vectors import format_vector, parse_vector

DIM, TEXT_DIM = 32, 16
WORLD = ConceptWorld(d=DIM, n_concepts=8, seed=0)  # concepts 0, 1, 2, 4: 22 to 119 photos of 400
DATA = WORLD.draw(400, seed=1)
SAMPLE_BLOB = halfvec_blob(DATA.X)


def _tag(tag_id: int) -> dict:
    return {
        "id": tag_id,
        "name": f"tag {tag_id}",
        "ds": 7,
        "visual_dim": DIM,
        "text_dim": TEXT_DIM,
        "visual_model": "synthetic-model",  # no shipped calibration: zero_shot's unlabeled fit
        "visual_calibration": None,
        "visual_baseline": format_vector(DATA.generic_prompt),
        "transcript_baseline": None,
    }


def _prompt(modality: str, polarity: str, v: np.ndarray) -> dict:
    return {"modality": modality, "polarity": polarity, "e": format_vector(v)}


def _labels(concept: int, rows: slice | None) -> dict:
    """Visual labels of the drawn photos in `rows` for `concept` (None: the tag has no labels)."""
    if rows is None:
        return {"blob": None, "y": None}
    return {"blob": halfvec_blob(DATA.X[rows]), "y": DATA.Y[rows, concept].tolist()}


def _fit_plpy(tags: list[dict], labels: dict, sample_key: str = "400/400/0") -> FakePlpy:
    """A plpy answering _fit_classifiers' queries: each tag has a positive and a negative visual prompt (its concept
    and the related one) and, for tag 2, a positive transcript prompt."""
    prompts = {
        t["id"]: [
            _prompt("visual", "positive", DATA.prompts[t["id"]]),
            _prompt("visual", "negative", DATA.prompts[DATA.related[t["id"]]]),
        ]
        + ([_prompt("transcript", "positive", np.ones(TEXT_DIM))] if t["id"] == 2 else [])
        for t in tags
    }
    return FakePlpy(
        {
            "FROM mediatag.tag t JOIN": tags,
            "FROM mediatag.tag_prompt": lambda args: prompts[args[0]],
            "FROM mediatag.visual_label": [labels],
            "AS k": [{"k": sample_key}],
            "_calibration_sample": [{"blob": SAMPLE_BLOB}],
            "hashint8(segment_id)": [{"blob": halfvec_blob(np.eye(TEXT_DIM, dtype=np.float32))}],
            "INSERT INTO mediatag.classifier": [],
        }
    )


def _inserts(plpy: FakePlpy) -> dict[tuple[int, str], list]:
    """The classifier rows written, by (tag, modality): [weights, bias, summary as a dict]."""
    return {(a[0], a[1]): [a[2], a[3], json.loads(a[4])] for a in plpy.calls("INSERT INTO mediatag.classifier")}


def test_fit_classifiers_writes_a_visual_classifier_and_says_why_transcripts_are_not_scored():
    plpy = _fit_plpy([_tag(1)], _labels(1, None))
    assert sql_training.fit_classifiers(plpy, {}, [1]) == 1
    written = _inserts(plpy)
    assert set(written) == {(1, "visual"), (1, "transcript")}
    weights, bias, summary = written[(1, "visual")]
    w = parse_vector(weights)
    assert w.shape == (DIM,) and np.isfinite(w).all() and np.isfinite(bias)
    assert summary["kind"] == "zero_shot" and summary["prompts"] == {"positive": 1, "negative": 1}
    assert summary["train_ms"] >= 0
    # The classifier ranks the tag's photos first: it was built from the tag's prompts, not some other vector.
    scores = DATA.X @ w
    assert scores[DATA.Y[:, 1]].mean() > scores[~DATA.Y[:, 1]].mean()
    assert plpy.calls("FROM mediatag.tag t JOIN") == [[[1]]]
    # Without a positive transcript prompt there is no transcript classifier, and the row says why.
    weights, bias, summary = written[(1, "transcript")]
    assert weights is None and bias == 0.0
    assert summary == {"method": "none", "reason": "no positive transcript prompt: not scored on transcript"}


def test_fit_classifiers_trains_on_visual_labels_and_fits_transcripts_from_prompts():
    plpy = _fit_plpy([_tag(2)], _labels(2, slice(0, 200)))
    assert sql_training.fit_classifiers(plpy, {}, [2]) == 1
    written = _inserts(plpy)
    visual, transcript = written[(2, "visual")][2], written[(2, "transcript")][2]
    assert visual["kind"] == "labels" and visual["n_pos"] == int(DATA.Y[:200, 2].sum())
    assert transcript["kind"] == "zero_shot" and transcript["prompts"] == {"positive": 1, "negative": 0}
    assert parse_vector(written[(2, "transcript")][0]).shape == (TEXT_DIM,)
    assert plpy.calls("FROM mediatag.visual_label") == [[2]]  # labels are keyframes: visual only


def test_fit_classifiers_counts_every_tag():
    plpy = _fit_plpy([_tag(1), _tag(2), _tag(3)], _labels(1, None))
    assert sql_training.fit_classifiers(plpy, {}, [1, 2, 3]) == 3
    assert len(plpy.calls("INSERT INTO mediatag.classifier")) == 6


def test_fit_classifiers_plans_once_and_reads_the_sample_again_only_when_it_changed():
    sd: dict = {}
    first = _fit_plpy([_tag(1)], _labels(1, None))
    sql_training.fit_classifiers(first, sd, [1])
    assert len(first.prepared) == len(sql_training.STATEMENTS)
    assert len(first.calls("_calibration_sample")) == 1 and len(first.calls("hashint8")) == 1

    again = _fit_plpy([_tag(1)], _labels(1, None))
    sql_training.fit_classifiers(again, sd, [1])
    assert again.prepared == []  # the session's plans
    assert again.calls("_calibration_sample") == [] and again.calls("hashint8") == []

    changed = _fit_plpy([_tag(1)], _labels(1, None), sample_key="401/412/0")
    sql_training.fit_classifiers(changed, sd, [1])
    assert changed.calls("_calibration_sample") == [[7, sql_training.CALIBRATION_ROWS]]


# ---- fit_model_calibration ---------------------------------------------------------------------------------------


def _calibration_plpy(prompts: dict[int, list[dict]], labels: dict[int, dict]) -> FakePlpy:
    return FakePlpy(
        {
            "mediatag._group(": [{"id": 3, "name": "Generic", "training_dataset_id": 7}],
            "mediatag._require_role(": [],
            "FROM mediatag.dataset WHERE": [{"id": 7, "visual_dim": DIM, "visual_model": "synthetic-model"}],
            "FROM mediatag.tag WHERE group_id": [{"id": t} for t in prompts],
            "_ensure_prompt_embeddings": [],
            "_ensure_sample": [],
            "_calibration_sample": [{"blob": SAMPLE_BLOB}],
            "FROM mediatag.baseline_prompt": [{"e": format_vector(DATA.generic_prompt)}],
            "FROM mediatag.tag_prompt": lambda args: prompts[args[0]],
            "FROM mediatag.visual_label": lambda args: [labels[args[0]]],
            "INSERT INTO mediatag.model_calibration": [],
        }
    )


def _generic_set(concepts: list[int]) -> tuple[dict[int, list[dict]], dict[int, dict]]:
    """Tags 1.. with one positive visual prompt each, every drawn photo labeled for each."""
    prompts = {i + 1: [_prompt("visual", "positive", DATA.prompts[c])] for i, c in enumerate(concepts)}
    labels = {i + 1: _labels(c, slice(None)) for i, c in enumerate(concepts)}
    return prompts, labels


def test_fit_model_calibration_fits_and_saves_for_the_datasets_model():
    prompts, labels = _generic_set([0, 1, 2])
    plpy = _calibration_plpy(prompts, labels)
    (row,) = sql_training.fit_model_calibration(plpy, "Generic", True, 3)
    assert row["model"] == "synthetic-model" and row["tags"] == 3 and row["pairs"] == 3 * len(DATA.X)
    assert row["temperature"] > 0  # positives rank above negatives on a synthetic set
    assert plpy.calls("_require_role") == [[]]
    (saved,) = plpy.calls("INSERT INTO mediatag.model_calibration")
    assert saved[:4] == ["synthetic-model", row["temperature"], row["bias"], row["tail"]]
    assert saved[5] == f"fit on group Generic ({row['pairs']} pairs)"


def test_fit_model_calibration_without_save_checks_no_role_and_writes_nothing():
    prompts, labels = _generic_set([0, 1, 2])
    plpy = _calibration_plpy(prompts, labels)
    (row,) = sql_training.fit_model_calibration(plpy, "Generic", False, 3)
    assert row["tags"] == 3
    assert plpy.calls("_require_role") == [] and plpy.calls("INSERT INTO mediatag.model_calibration") == []


def test_fit_model_calibration_uses_only_tags_with_visual_prompts_and_both_classes():
    prompts, labels = _generic_set([0, 1, 2, 4])
    prompts[2] = [_prompt("transcript", "positive", np.ones(TEXT_DIM))]  # no visual prompt
    labels[3]["y"] = [True] * len(labels[3]["y"])  # no negative label
    labels[4]["y"] = [i < 2 for i in range(len(labels[4]["y"]))]  # 2 positives, fewer than min_positives
    (row,) = sql_training.fit_model_calibration(_calibration_plpy(prompts, labels), "Generic", False, 3)
    assert row["tags"] == 1 and row["pairs"] == len(DATA.X)


def test_fit_model_calibration_says_what_to_label_when_no_tag_qualifies():
    prompts, labels = _generic_set([0])
    labels[1] = {"blob": None, "y": None}
    with pytest.raises(PlpyError, match='tag group "Generic" has no tag with a visual prompt and at least 3') as e:
        sql_training.fit_model_calibration(_calibration_plpy(prompts, labels), "Generic", True, 3)
    assert "label every photo" in e.value.hint
