"""The PL/Python bodies of sql/src/training.sql: fitting tag classifiers (mediatag._fit_classifiers) and learning
a model's calibration from a fully labeled group (mediatag.fit_model_calibration)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import calibration, training
from .classifier import Classifier
from .jsonable import jsonable
from .plpy_support import Plpy, Row, cached, prepared, run
from .vectors import decode_halfvecs, format_vector, parse_vector

# Rows of the dataset's random sample that calibrate a classifier (and standardise scores for a calibration fit).
CALIBRATION_ROWS = 2000
MODALITIES = ("visual", "transcript")

# A tag's prompts with embeddings, in the order they were added.
PROMPTS_SQL = """SELECT modality, polarity, embedding::text AS e FROM mediatag.tag_prompt
                 WHERE tag_id = $1 AND embedding IS NOT NULL ORDER BY id"""
# A tag's visual labels: their keyframes' embeddings as one halfvec blob and the labels, both in keyframe order.
LABELS_SQL = """SELECT string_agg(halfvec_send(k.embedding), ''::bytea ORDER BY l.keyframe_id) AS blob,
                       array_agg(l.label ORDER BY l.keyframe_id) AS y
                FROM mediatag.visual_label l JOIN mediatag.keyframe k ON k.id = l.keyframe_id
                WHERE l.tag_id = $1"""
KEYFRAME_SAMPLE_SQL = "SELECT mediatag._calibration_sample($1, $2) AS blob"
BASELINE_SQL = "SELECT embedding::text AS e FROM mediatag.baseline_prompt WHERE model = $1 AND modality = 'visual'"
SAVE_CALIBRATION_SQL = """
    INSERT INTO mediatag.model_calibration AS m (model, temperature, bias, tail, tail_quantile, source)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (model) DO UPDATE SET temperature = excluded.temperature, bias = excluded.bias,
        tail = excluded.tail, tail_quantile = excluded.tail_quantile, source = excluded.source,
        updated_by = session_user, updated_at = now()"""

STATEMENTS = {
    "tags": (
        """SELECT t.id, t.name, g.training_dataset_id AS ds, d.visual_dim, d.text_dim, d.visual_model,
                  mediatag._model_calibration_json(d.visual_model) AS visual_calibration,
                  (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                   WHERE b.model = d.visual_model AND b.modality = 'visual') AS visual_baseline,
                  (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                   WHERE b.model = d.text_model AND b.modality = 'transcript') AS transcript_baseline
           FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
           JOIN mediatag.dataset d ON d.id = g.training_dataset_id
           WHERE t.id = ANY ($1) ORDER BY t.id""",
        ["bigint[]"],
    ),
    "prompts": (PROMPTS_SQL, ["bigint"]),
    "labels": (LABELS_SQL, ["bigint"]),
    # Changes whenever the keyframe or transcript sample of the dataset does (see the cache in _samples).
    "sample_key": (
        """SELECT (SELECT count(*) FROM mediatag.keyframe_sample WHERE dataset_id = $1)::text || '/' ||
                  (SELECT coalesce(max(keyframe_id), 0) FROM mediatag.keyframe_sample WHERE dataset_id = $1)::text
                  || '/' || (SELECT count(*) FROM mediatag.transcript_sample WHERE dataset_id = $1)::text AS k""",
        ["bigint"],
    ),
    "kf_sample": (KEYFRAME_SAMPLE_SQL, ["bigint", "int"]),
    "tx_sample": (
        """SELECT string_agg(halfvec_send(embedding), ''::bytea) AS blob FROM (
             SELECT embedding FROM mediatag.transcript_sample WHERE dataset_id = $1
             ORDER BY hashint8(segment_id), segment_id LIMIT $2) s""",
        ["bigint", "int"],
    ),
    "insert": (
        """INSERT INTO mediatag.classifier (tag_id, modality, version, weights, bias, summary)
           VALUES ($1, $2, coalesce((SELECT max(version) FROM mediatag.classifier
                                     WHERE tag_id = $1 AND modality = $2), 0) + 1,
                   $3::vector, $4, $5::jsonb)""",
        ["bigint", "text", "text", "float8", "text"],
    ),
}


def fit_classifiers(plpy: Plpy, sd: dict, tag_ids: Sequence[int]) -> int:
    """mediatag._fit_classifiers: a new visual and transcript classifier version for each tag (zero-shot from
    its prompts, then trained on its visual labels if it has any); returns the number of tags."""
    plans = prepared(plpy, sd, "plans", STATEMENTS)
    n = 0
    for tag in plpy.execute(plans["tags"], [tag_ids]):
        started = time.perf_counter()
        samples = dict(zip(MODALITIES, _samples(plpy, sd, plans, tag), strict=True))
        prompts: dict[tuple[str, str], list[np.ndarray]] = {}
        for p in plpy.execute(plans["prompts"], [tag["id"]]):
            prompts.setdefault((p["modality"], p["polarity"]), []).append(parse_vector(p["e"]))
        for modality in MODALITIES:
            pos = prompts.get((modality, "positive"), [])
            neg = prompts.get((modality, "negative"), [])
            if not pos:
                summary = {"method": "none", "reason": f"no positive {modality} prompt: not scored on {modality}"}
                plpy.execute(plans["insert"], [tag["id"], modality, None, 0.0, json.dumps(summary)])
                continue
            clf = _fit_modality(plpy, plans, tag, modality, pos, neg, samples[modality])
            summary = dict(clf.summary)
            summary["train_ms"] = round((time.perf_counter() - started) * 1000, 1)
            summary["prompts"] = {"positive": len(pos), "negative": len(neg)}
            plpy.execute(
                plans["insert"],
                [tag["id"], modality, format_vector(clf.w), float(clf.b), json.dumps(jsonable(summary))],
            )
        n += 1
    return n


def _samples(plpy: Plpy, sd: dict, plans: dict[str, Any], tag: Row) -> tuple[np.ndarray, np.ndarray]:
    """The tag's dataset's keyframe and transcript samples, cached per session and keyed by the samples'
    identity: retraining after one label reads no vectors."""
    ds = tag["ds"]

    def load() -> tuple[np.ndarray, np.ndarray]:
        kf = plpy.execute(plans["kf_sample"], [ds, CALIBRATION_ROWS])[0]["blob"]
        tx = plpy.execute(plans["tx_sample"], [ds, CALIBRATION_ROWS])[0]["blob"]
        return decode_halfvecs(kf, tag["visual_dim"]), decode_halfvecs(tx, tag["text_dim"])

    version = plpy.execute(plans["sample_key"], [ds])[0]["k"]
    return cached(sd.setdefault("samples", {}), ds, version, load)


def _fit_modality(
    plpy: Plpy,
    plans: dict[str, Any],
    tag: Row,
    modality: str,
    pos: list[np.ndarray],
    neg: list[np.ndarray],
    sample: np.ndarray,
) -> Classifier:
    """A tag's classifier for one modality: zero-shot from its prompts, then (visual only: labels are keyframes)
    trained on its labels."""
    dim = tag["visual_dim"] if modality == "visual" else tag["text_dim"]
    N = np.vstack(neg) if neg else np.zeros((0, dim), dtype=np.float32)
    # The learned calibration is for the visual model; transcripts keep the unlabeled EM fit.
    model_calibration = (
        calibration.resolve_model_calibration(tag["visual_calibration"], tag["visual_model"])
        if modality == "visual"
        else None
    )
    clf = calibration.zero_shot(
        np.vstack(pos),
        N,
        sample,
        baseline=parse_vector(tag[modality + "_baseline"]),
        model_calibration=model_calibration,
    )
    if modality == "visual":
        lab = plpy.execute(plans["labels"], [tag["id"]])[0]
        if lab["y"]:
            X = decode_halfvecs(lab["blob"], dim)
            clf = training.train_with_labels(X, np.array(lab["y"], dtype=bool), clf, sample)
    return clf


def fit_model_calibration(plpy: Plpy, tag_group: str, save: bool, min_positives: int) -> list[dict[str, Any]]:
    """mediatag.fit_model_calibration: (temperature, tail, bias) by maximum likelihood over every (tag, photo)
    pair of a fully labeled group, stored for the training dataset's visual model unless save is false."""
    g = run(plpy, "SELECT (mediatag._group($1)).*", ["text"], [tag_group])[0]
    if save:
        plpy.execute("SELECT mediatag._require_role('mediatag_admin', 'set a model calibration')")
    ds = run(plpy, "SELECT * FROM mediatag.dataset WHERE id = $1", ["bigint"], [g["training_dataset_id"]])[0]
    dim = ds["visual_dim"]
    tags = run(plpy, "SELECT id FROM mediatag.tag WHERE group_id = $1 ORDER BY position", ["bigint"], [g["id"]])
    tag_ids = [r["id"] for r in tags]
    run(plpy, "SELECT mediatag._ensure_prompt_embeddings($1)", ["bigint[]"], [tag_ids])
    run(plpy, "SELECT mediatag._ensure_sample($1)", ["bigint"], [ds["id"]])
    blob = run(plpy, KEYFRAME_SAMPLE_SQL, ["bigint", "int"], [ds["id"], CALIBRATION_ROWS])[0]["blob"]
    sample = decode_halfvecs(blob, dim)
    base = run(plpy, BASELINE_SQL, ["text"], [ds["visual_model"]])
    baseline = parse_vector(base[0]["e"]) if base else None
    prompts_plan = plpy.prepare(PROMPTS_SQL, ["bigint"])
    labels_plan = plpy.prepare(LABELS_SQL, ["bigint"])
    zs, qs, ys = [], [], []
    for tid in tag_ids:
        visual = [p for p in plpy.execute(prompts_plan, [tid]) if p["modality"] == "visual"]
        pos = [parse_vector(p["e"]) for p in visual if p["polarity"] == "positive"]
        neg = [parse_vector(p["e"]) for p in visual if p["polarity"] == "negative"]
        lab = plpy.execute(labels_plan, [tid])[0]
        # Only tags with both classes among their labels say anything about the calibration.
        if not pos or not lab["y"] or sum(lab["y"]) < min_positives or all(lab["y"]):
            continue
        # As zero_shot does: the negative prompts, else the neutral prompt, are what the direction moves away from.
        against = np.vstack(neg) if neg else (baseline[None] if baseline is not None else None)
        u = calibration.prompt_direction(np.vstack(pos), against)
        z_sample, med, sigma = calibration.standardised_scores(u, sample)
        X = decode_halfvecs(lab["blob"], dim)
        zs.append(((X @ u.astype(X.dtype)).astype(np.float64) - med) / sigma)
        qs.append(float(np.quantile(z_sample, calibration.TAIL_QUANTILE)))
        ys.append(np.array(lab["y"], dtype=bool))
    if not zs:
        plpy.error(
            f'tag group "{tag_group}" has no tag with a visual prompt and at least {min_positives} positive and '
            "one negative label",
            hint="label every photo of a generic labeled set for each tag (yes and no) before fitting",
        )
    pairs = int(sum(len(z) for z in zs))
    mc = calibration.fit_model_calibration(zs, ys, tails=qs, source=f"fit on group {g['name']} ({pairs} pairs)")
    if save:
        run(
            plpy,
            SAVE_CALIBRATION_SQL,
            ["text", "float8", "float8", "float8", "float8", "text"],
            [ds["visual_model"], mc.temperature, mc.bias, mc.tail, mc.tail_quantile, mc.source],
        )
    return [
        {
            "model": ds["visual_model"],
            "temperature": mc.temperature,
            "bias": mc.bias,
            "tail": mc.tail,
            "tags": len(zs),
            "pairs": pairs,
        }
    ]
