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
DECLARE d bigint; n int;
BEGIN
    IF coalesce(array_length(tag_ids, 1), 0) = 0 THEN RETURN 0; END IF;
    PERFORM mediatag._ensure_prompt_embeddings(tag_ids);
    FOR d IN SELECT DISTINCT g.training_dataset_id FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
             WHERE t.id = ANY (tag_ids) LOOP
        PERFORM mediatag._ensure_sample(d);
    END LOOP;
    n := mediatag._fit_classifiers(tag_ids);
    PERFORM mediatag._fit_face_classifiers(tag_ids);   -- person tags (person_tags.sql)
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag._fit_classifiers(tag_ids bigint[]) RETURNS int
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_training
return sql_training.fit_classifiers(plpy, SD, tag_ids)
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
LANGUAGE plpython3u ROWS 1 AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_training
return sql_training.fit_model_calibration(plpy, tag_group, save, min_positives)
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
