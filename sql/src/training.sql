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

-- Per-model calibration of prompt-only tags (mediatag_ml.calibration.ModelCalibration): posterior log-odds =
-- temperature * z + tail * q + bias, learned once per model on labeled generic photos. Rows here override the
-- calibrations shipped with the extension (plpython/mediatag_ml/model_calibration.json); a model in neither
-- falls back to the unlabeled EM fit. Not per dataset: a model's calibration is shared by every dataset.
CREATE TABLE IF NOT EXISTS mediatag.model_calibration (
    model          text PRIMARY KEY,
    temperature    double precision NOT NULL CHECK (temperature > 0),
    bias           double precision NOT NULL,
    tail           double precision NOT NULL DEFAULT 0,
    tail_quantile  double precision NOT NULL DEFAULT 0.95 CHECK (tail_quantile > 0 AND tail_quantile < 1),
    source         text NOT NULL DEFAULT '',
    updated_by     text NOT NULL DEFAULT session_user,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The installation's own calibration of a model (an admin's fit_model_calibration), as JSON for
-- mediatag_ml.calibration.resolve_model_calibration; NULL falls back to the calibration shipped with the extension.
CREATE OR REPLACE FUNCTION mediatag._model_calibration_json(model text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT row_to_json(mc)::text FROM mediatag.model_calibration mc WHERE mc.model = _model_calibration_json.model
$$;

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
    FOR d IN SELECT DISTINCT g.training_dataset_id FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
             WHERE t.id = ANY (tag_ids) LOOP
        PERFORM mediatag._ensure_sample(d);
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
            """SELECT t.id, t.name, g.training_dataset_id AS ds, d.visual_dim, d.text_dim, d.visual_model,
                      mediatag._model_calibration_json(d.visual_model) AS visual_calibration,
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
        "kf_sample": plpy.prepare("SELECT mediatag._calibration_sample($1, $2) AS blob", ["bigint", "int"]),
        "tx_sample": plpy.prepare(
            """SELECT string_agg(halfvec_send(embedding), ''::bytea) AS blob FROM (
                 SELECT embedding FROM mediatag.transcript_sample WHERE dataset_id = $1
                 ORDER BY hashint8(segment_id), segment_id LIMIT $2) s""",
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


def model_calibration(t):
    return calibration.resolve_model_calibration(t["visual_calibration"], t["visual_model"])


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
        # The learned calibration is for the visual model; transcripts keep the unlabeled EM fit.
        clf = calibration.zero_shot(P, N, sample, baseline=parse_vector(t[modality + "_baseline"]),
                                    model_calibration=model_calibration(t) if modality == "visual" else None)
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

-- Learn a model's calibration from a fully labeled generic set: a group on a dataset of photos where every tag
-- has a label (yes or no) on the photos it is judged on (e.g. COCO photos with their class lists imported as
-- visual labels). Fits (temperature, tail, bias) by maximum likelihood over all (tag, photo) pairs, with z
-- standardised on the dataset's sample exactly as training does, and stores it for the dataset's model unless
-- save => false. Fit it on photos you will not report on.
CREATE OR REPLACE FUNCTION mediatag.fit_model_calibration(tag_group text, save boolean DEFAULT true,
                                                          min_positives int DEFAULT 3)
RETURNS TABLE (model text, temperature double precision, bias double precision, tail double precision,
               tags int, pairs int)
LANGUAGE plpython3u AS $$
import json
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import calibration
from mediatag_ml.vectors import decode_halfvecs, parse_vector

g = plpy.execute(plpy.prepare("SELECT (mediatag._group($1)).*", ["text"]), [tag_group])[0]
if save:
    plpy.execute("SELECT mediatag._require_role('mediatag_admin', 'set a model calibration')")
ds = plpy.execute(plpy.prepare("SELECT * FROM mediatag.dataset WHERE id = $1", ["bigint"]), [g["training_dataset_id"]])[0]
dim = ds["visual_dim"]
tag_ids = [r["id"] for r in plpy.execute(plpy.prepare(
    "SELECT id FROM mediatag.tag WHERE group_id = $1 ORDER BY position", ["bigint"]), [g["id"]])]
plpy.execute(plpy.prepare("SELECT mediatag._ensure_prompt_embeddings($1)", ["bigint[]"]), [tag_ids])
plpy.execute(plpy.prepare("SELECT mediatag._ensure_sample($1)", ["bigint"]), [ds["id"]])
sample = decode_halfvecs(plpy.execute(plpy.prepare("SELECT mediatag._calibration_sample($1, 2000) AS blob", ["bigint"]),
                                      [ds["id"]])[0]["blob"], dim)
base = plpy.execute(plpy.prepare("SELECT embedding::text AS e FROM mediatag.baseline_prompt WHERE model = $1 AND modality = 'visual'",
                                 ["text"]), [ds["visual_model"]])
baseline = parse_vector(base[0]["e"]) if base else None
zs, qs, ys = [], [], []
for tid in tag_ids:
    pr = plpy.execute(plpy.prepare("""SELECT polarity, embedding::text AS e FROM mediatag.tag_prompt
        WHERE tag_id = $1 AND modality = 'visual' AND embedding IS NOT NULL ORDER BY id""", ["bigint"]), [tid])
    pos = [parse_vector(p["e"]) for p in pr if p["polarity"] == "positive"]
    neg = [parse_vector(p["e"]) for p in pr if p["polarity"] == "negative"]
    lab = plpy.execute(plpy.prepare("""SELECT string_agg(halfvec_send(k.embedding), ''::bytea ORDER BY l.keyframe_id) AS blob,
        array_agg(l.label ORDER BY l.keyframe_id) AS y FROM mediatag.visual_label l JOIN mediatag.keyframe k ON k.id = l.keyframe_id
        WHERE l.tag_id = $1""", ["bigint"]), [tid])[0]
    if not pos or not lab["y"] or sum(lab["y"]) < min_positives or all(lab["y"]):
        continue
    use_baseline = not neg and baseline is not None
    u = calibration.prompt_direction(np.vstack(pos), baseline[None] if use_baseline else (np.vstack(neg) if neg else None))
    z_sample, med, sigma = calibration.standardised_scores(u, sample)
    X = decode_halfvecs(lab["blob"], dim)
    zs.append(((X @ u.astype(X.dtype)).astype(np.float64) - med) / sigma)
    qs.append(float(np.quantile(z_sample, calibration.TAIL_QUANTILE)))
    ys.append(np.array(lab["y"], dtype=bool))
if not zs:
    plpy.error(f'tag group "{tag_group}" has no tag with a visual prompt and at least {min_positives} positive and one negative label',
               hint="label every photo of a generic labeled set for each tag (yes and no) before fitting")
mc = calibration.fit_model_calibration(zs, ys, tails=qs, source=f"fit on group {g['name']} ({sum(len(z) for z in zs)} pairs)")
if save:
    plpy.execute(plpy.prepare(
        """INSERT INTO mediatag.model_calibration AS m (model, temperature, bias, tail, tail_quantile, source)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (model) DO UPDATE SET temperature = excluded.temperature, bias = excluded.bias, tail = excluded.tail,
               tail_quantile = excluded.tail_quantile, source = excluded.source, updated_by = session_user, updated_at = now()""",
        ["text", "float8", "float8", "float8", "float8", "text"]),
        [ds["visual_model"], mc.temperature, mc.bias, mc.tail, mc.tail_quantile, mc.source])
return [{"model": ds["visual_model"], "temperature": mc.temperature, "bias": mc.bias, "tail": mc.tail,
         "tags": len(zs), "pairs": int(sum(len(z) for z in zs))}]
$$;

-- Forget a stored calibration: the model goes back to the shipped one (or to the EM fit).
CREATE OR REPLACE FUNCTION mediatag.reset_model_calibration(model text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'reset a model calibration');
    DELETE FROM mediatag.model_calibration m WHERE m.model = reset_model_calibration.model;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END $$;
