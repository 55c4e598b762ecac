-- Training in PL/Python: prompts → zero-shot classifier calibrated to [0,1]; with visual labels, a logistic model
-- regularised toward the prompt direction (mediatag_ml.training). Every call writes a new classifier version
-- per tag and modality, with its training summary.

-- A neutral prompt per model ("a photo"): the zero-shot direction of a tag with no negative prompts is taken
-- against it, which separates tags from the generic look of the dataset (mediatag_ml.calibration.zero_shot).
CREATE TABLE IF NOT EXISTS mediatag.baseline_prompt (
    model      text NOT NULL,
    modality   text NOT NULL CHECK (modality IN ('visual', 'transcript')),
    text       text NOT NULL,
    embedding  vector NOT NULL,
    PRIMARY KEY (model, modality)
);

CREATE OR REPLACE FUNCTION mediatag._ensure_prompt_embeddings(tag_ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE r record; n int := 0;
BEGIN
    FOR r IN
        SELECT DISTINCT m.model, m.modality, m.text
        FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
        JOIN mediatag.dataset d ON d.id = g.training_dataset_id
        CROSS JOIN LATERAL (VALUES (d.visual_model, 'visual', 'a photo'),
                                   (d.text_model, 'transcript', 'someone is talking')) AS m(model, modality, text)
        WHERE t.id = ANY (tag_ids)
          AND NOT EXISTS (SELECT 1 FROM mediatag.baseline_prompt b WHERE b.model = m.model AND b.modality = m.modality)
    LOOP
        INSERT INTO mediatag.baseline_prompt VALUES (r.model, r.modality, r.text, mediatag.embed_text(r.text, r.model))
        ON CONFLICT DO NOTHING;
    END LOOP;
    -- One service call per (model, modality): the prompts of all the tags at once.
    FOR r IN
        SELECT CASE WHEN p.modality = 'visual' THEN d.visual_model ELSE d.text_model END AS model,
               array_agg(p.id ORDER BY p.id) AS ids, array_agg(p.text ORDER BY p.id) AS texts
        FROM mediatag.tag_prompt p
        JOIN mediatag.tag t ON t.id = p.tag_id
        JOIN mediatag.tag_group g ON g.id = t.group_id
        JOIN mediatag.dataset d ON d.id = g.training_dataset_id
        WHERE p.tag_id = ANY (tag_ids) AND p.embedding IS NULL
        GROUP BY 1
    LOOP
        UPDATE mediatag.tag_prompt p SET embedding = e.v
        FROM (SELECT v, ord FROM mediatag.embed_texts(r.texts, r.model) WITH ORDINALITY AS x(v, ord)) e
        WHERE p.id = r.ids[e.ord];
        n := n + array_length(r.ids, 1);
    END LOOP;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag._train_tags(tag_ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint;
BEGIN
    IF coalesce(array_length(tag_ids, 1), 0) = 0 THEN RETURN 0; END IF;
    PERFORM mediatag._ensure_prompt_embeddings(tag_ids);
    -- The calibration sample is drawn lazily the first time a dataset trains.
    FOR d IN SELECT DISTINCT g.training_dataset_id FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
             WHERE t.id = ANY (tag_ids) LOOP
        IF NOT EXISTS (SELECT 1 FROM mediatag.keyframe_sample s WHERE s.dataset_id = d)
           AND EXISTS (SELECT 1 FROM mediatag.keyframe k WHERE k.dataset_id = d) THEN
            PERFORM mediatag.refresh_samples((SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = d));
        END IF;
    END LOOP;
    RETURN mediatag._fit_classifiers(tag_ids);
END $$;

CREATE OR REPLACE FUNCTION mediatag._fit_classifiers(tag_ids bigint[]) RETURNS int
LANGUAGE plpython3u AS $$
import json
import sys
import time
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import calibration, training
from mediatag_ml.jsonable import jsonable
from mediatag_ml.vectors import decode_halfvecs, format_vector, parse_vector

CALIBRATION_ROWS = 2000

plans = SD.get("plans")
if plans is None:
    plans = SD["plans"] = {
        "tags": plpy.prepare(
            """SELECT t.id, t.name, g.training_dataset_id AS ds, d.visual_dim, d.text_dim,
                      (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                       WHERE b.model = d.visual_model AND b.modality = 'visual') AS visual_baseline,
                      (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                       WHERE b.model = d.text_model AND b.modality = 'transcript') AS transcript_baseline
               FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
               JOIN mediatag.dataset d ON d.id = g.training_dataset_id
               WHERE t.id = ANY ($1) ORDER BY t.id""", ["bigint[]"]),
        "prompts": plpy.prepare(
            """SELECT modality, polarity, embedding::text AS e FROM mediatag.tag_prompt
               WHERE tag_id = $1 AND embedding IS NOT NULL ORDER BY id""", ["bigint"]),
        "labels": plpy.prepare(
            """SELECT string_agg(halfvec_send(k.embedding), ''::bytea ORDER BY l.keyframe_id) AS blob,
                      array_agg(l.label ORDER BY l.keyframe_id) AS y
               FROM mediatag.visual_label l JOIN mediatag.keyframe k ON k.id = l.keyframe_id
               WHERE l.tag_id = $1""", ["bigint"]),
        "sample_key": plpy.prepare(
            """SELECT (SELECT count(*) FROM mediatag.keyframe_sample WHERE dataset_id = $1)::text || '/' ||
                      (SELECT coalesce(max(keyframe_id), 0) FROM mediatag.keyframe_sample WHERE dataset_id = $1)::text
                      || '/' || (SELECT count(*) FROM mediatag.transcript_sample WHERE dataset_id = $1)::text AS k""",
            ["bigint"]),
        "kf_sample": plpy.prepare(
            """SELECT string_agg(halfvec_send(embedding), ''::bytea) AS blob FROM (
                 SELECT embedding FROM mediatag.keyframe_sample WHERE dataset_id = $1 ORDER BY keyframe_id LIMIT $2) s""",
            ["bigint", "int"]),
        "tx_sample": plpy.prepare(
            """SELECT string_agg(halfvec_send(embedding), ''::bytea) AS blob FROM (
                 SELECT embedding FROM mediatag.transcript_sample WHERE dataset_id = $1 ORDER BY segment_id LIMIT $2) s""",
            ["bigint", "int"]),
        "insert": plpy.prepare(
            """INSERT INTO mediatag.classifier (tag_id, modality, version, weights, bias, summary)
               VALUES ($1, $2, coalesce((SELECT max(version) FROM mediatag.classifier WHERE tag_id = $1 AND modality = $2), 0) + 1,
                       $3::vector, $4, $5::jsonb)""", ["bigint", "text", "text", "float8", "text"]),
    }


def samples(ds, vdim, tdim):
    # Cached per session and keyed by the sample's identity: retraining after one label reads no vectors.
    key = plpy.execute(plans["sample_key"], [ds])[0]["k"]
    cache = SD.setdefault("samples", {})
    hit = cache.get(ds)
    if hit is None or hit[0] != key:
        kf = decode_halfvecs(plpy.execute(plans["kf_sample"], [ds, CALIBRATION_ROWS])[0]["blob"], vdim)
        tx = decode_halfvecs(plpy.execute(plans["tx_sample"], [ds, CALIBRATION_ROWS])[0]["blob"], tdim)
        hit = cache[ds] = (key, kf, tx)
    return hit[1], hit[2]


n = 0
for t in plpy.execute(plans["tags"], [tag_ids]):
    started = time.perf_counter()
    kf_sample, tx_sample = samples(t["ds"], t["visual_dim"], t["text_dim"])
    prompts = {}
    for p in plpy.execute(plans["prompts"], [t["id"]]):
        prompts.setdefault((p["modality"], p["polarity"]), []).append(parse_vector(p["e"]))
    for modality, dim, sample in (("visual", t["visual_dim"], kf_sample), ("transcript", t["text_dim"], tx_sample)):
        pos = prompts.get((modality, "positive"), [])
        neg = prompts.get((modality, "negative"), [])
        if not pos:
            summary = {"method": "none", "reason": f"no positive {modality} prompt: not scored on {modality}"}
            plpy.execute(plans["insert"], [t["id"], modality, None, 0.0, json.dumps(summary)])
            continue
        P = np.vstack(pos)
        N = np.vstack(neg) if neg else np.zeros((0, dim), dtype=np.float32)
        clf = calibration.zero_shot(P, N, sample, baseline=parse_vector(t[modality + "_baseline"]))
        if modality == "visual":
            lab = plpy.execute(plans["labels"], [t["id"]])[0]
            if lab["y"]:
                X = decode_halfvecs(lab["blob"], dim)
                y = np.array(lab["y"], dtype=bool)
                clf = training.train_with_labels(X, y, clf, sample)
        summary = dict(clf.summary)
        summary["train_ms"] = round((time.perf_counter() - started) * 1000, 1)
        summary["prompts"] = {"positive": len(pos), "negative": len(neg)}
        plpy.execute(plans["insert"], [t["id"], modality, format_vector(clf.w), float(clf.b),
                                       json.dumps(jsonable(summary))])
    n += 1
return n
$$;

-- The latest classifier of a tag for a modality (the draft state).
CREATE OR REPLACE FUNCTION mediatag._latest_classifier(tag_id bigint, modality text) RETURNS mediatag.classifier
LANGUAGE sql STABLE AS $$
    SELECT * FROM mediatag.classifier c WHERE c.tag_id = $1 AND c.modality = $2 ORDER BY c.version DESC LIMIT 1
$$;

CREATE OR REPLACE FUNCTION mediatag.retrain(tag_group text, tag text DEFAULT NULL, dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset);
BEGIN
    RETURN mediatag._train_tags(CASE WHEN tag IS NULL
        THEN ARRAY(SELECT id FROM mediatag.tag WHERE group_id = g.id ORDER BY position)
        ELSE ARRAY[(mediatag._tag(g, tag)).id] END);
END $$;
