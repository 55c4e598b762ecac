-- Tag evaluator: a stratified sample (~400 keyframes, equal per score bucket) gets ground truth from a person
-- (or, later, an LLM); wrong items are removed; metrics against every threshold from 0 to 1; the best threshold
-- for a chosen metric is suggested and can be saved (threshold_decision follows at once).
-- The sample is equal per bucket, not per keyframe, so each judged item stands for N_b / n_b keyframes of its
-- bucket (Horvitz-Thompson): every metric and the suggestion are population estimates by default, from the
-- bucket populations stored when the sample was drawn. The classifier evaluated is the one the dataset was
-- scored with (its group_application's scored version); before any scoring, the draft.

CREATE TABLE IF NOT EXISTS mediatag.evaluation (
    id                 bigserial PRIMARY KEY,
    tag_id             bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    dataset_id         bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    classifier_id      bigint REFERENCES mediatag.classifier(id) ON DELETE SET NULL,
    threshold_at_start real NOT NULL,
    created_by         text NOT NULL DEFAULT session_user,
    created_at         timestamptz NOT NULL DEFAULT now(),
    saved_threshold    real,
    saved_metric       text
);
-- Keyframes per score bucket [0, 0.1), ..., [0.9, 1] of the whole dataset when the sample was drawn.
ALTER TABLE mediatag.evaluation ADD COLUMN IF NOT EXISTS bucket_population bigint[];
-- The group version whose scores were evaluated (NULL: the draft classifier, before any scoring).
ALTER TABLE mediatag.evaluation ADD COLUMN IF NOT EXISTS group_version int;
-- What an item is: a keyframe (dt_<group>_visual) or a video shot (dt_<group>_shot). A shot scores as its best
-- keyframe, so a shot item is keyed, shown and judged (by a person or the vision model) as that keyframe, with
-- its shot_id; its bucket populations count shots, and its saved threshold is the shot threshold.
ALTER TABLE mediatag.evaluation ADD COLUMN IF NOT EXISTS level text NOT NULL DEFAULT 'keyframe'
    CHECK (level IN ('keyframe', 'shot'));

-- A tag's threshold on a dataset other than its training dataset (saved from an evaluation on that dataset);
-- the training dataset's threshold is the tag's own (mediatag.tag.threshold) and is every dataset's default.
CREATE TABLE IF NOT EXISTS mediatag.tag_dataset_threshold (
    tag_id         bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    dataset_id     bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    threshold      real NOT NULL CHECK (threshold BETWEEN 0 AND 1),
    evaluation_id  bigint REFERENCES mediatag.evaluation(id) ON DELETE SET NULL,
    saved_by       text NOT NULL DEFAULT session_user,
    saved_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tag_id, dataset_id)
);

-- A tag's shot-level threshold on a dataset (saved from a shot-level evaluation): threshold_decision of
-- dt_<group>_shot; without one, shots follow the keyframe threshold in force (mediatag._tag_threshold).
CREATE TABLE IF NOT EXISTS mediatag.tag_shot_threshold (
    tag_id         bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    dataset_id     bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    threshold      real NOT NULL CHECK (threshold BETWEEN 0 AND 1),
    evaluation_id  bigint REFERENCES mediatag.evaluation(id) ON DELETE SET NULL,
    saved_by       text NOT NULL DEFAULT session_user,
    saved_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tag_id, dataset_id)
);

CREATE TABLE IF NOT EXISTS mediatag.evaluation_item (
    evaluation_id  bigint NOT NULL REFERENCES mediatag.evaluation(id) ON DELETE CASCADE,
    keyframe_id    bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    shot_id        bigint,
    score          real NOT NULL,
    bucket         int NOT NULL,
    truth          boolean,
    truth_source   text CHECK (truth_source IN ('person', 'llm')),
    judged_by      text,
    judged_at      timestamptz,
    removed        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (evaluation_id, keyframe_id)
);

CREATE OR REPLACE FUNCTION mediatag.start_evaluation(tag_group text, tag text, dataset text DEFAULT NULL, size int DEFAULT 400,
                                          seed int DEFAULT 0, level mediatag.preview_level DEFAULT 'keyframe')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier;
    cid bigint;
    scored_v int;
    d bigint;
    e bigint;
    counts bigint[];
    quotas bigint[];
    over bigint;
    bi int;
    lo bigint;
    hi bigint;
    mid bigint;
    scored text;
    m_ids bigint[];
    m_shots bigint[];
    m_scores real[];
    m_buckets int[];
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    IF d <> g.training_dataset_id AND NOT EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d) THEN
        RAISE EXCEPTION 'tag group "%" is not used on dataset "%"', g.name, dataset USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mediatag._require_write(d, 'starting an evaluation');
    IF size IS NULL OR size < 10 OR size > 5000 THEN
        RAISE EXCEPTION 'evaluation size must be between 10 and 5000, got %', size USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mediatag._required('preview_level', level);
    IF level = 'shot' AND NOT EXISTS (SELECT 1 FROM mediatag.keyframe k WHERE k.dataset_id = d AND k.shot_id IS NOT NULL) THEN
        RAISE EXCEPTION 'dataset "%" has no video shots to evaluate', (SELECT x.name FROM mediatag.dataset x WHERE x.id = d)
            USING ERRCODE = 'no_data_found', HINT = 'evaluate at level keyframe, or ingest videos first';
    END IF;
    -- The scores users see on this dataset come from its scored version: evaluate that classifier.
    SELECT a.scored_version, vt.visual_classifier_id INTO scored_v, cid
    FROM mediatag.group_application a
    JOIN mediatag.group_version_tag vt ON vt.group_id = a.group_id AND vt.version = a.scored_version AND vt.tag_id = t.id
    WHERE a.group_id = g.id AND a.dataset_id = d;
    IF scored_v IS NOT NULL THEN
        SELECT cl.* INTO c FROM mediatag.classifier cl WHERE cl.id = cid;
    ELSE
        IF d <> g.training_dataset_id THEN
            RAISE EXCEPTION 'tag group "%" has not been scored on dataset "%" yet (let the worker run)', g.name, dataset
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        c := mediatag._keyframe_classifier(t.id);   -- a person tag's face classifier (person_tags.sql)
    END IF;
    IF c.id IS NULL OR (c.weights IS NULL AND c.modality <> 'face') THEN
        RAISE EXCEPTION 'tag "%" has no visual classifier to evaluate', t.name USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO mediatag.evaluation (tag_id, dataset_id, classifier_id, threshold_at_start, group_version, level)
    VALUES (t.id, d, c.id, CASE level WHEN 'shot' THEN mediatag._shot_threshold(t.id, d) ELSE mediatag._tag_threshold(t.id, d) END,
            scored_v, level) RETURNING id INTO e;
    -- Score the whole dataset with the tag's current classifier in two parallel passes (bucket counts, then the
    -- draw), with no scratch table: a session table is something a caller can plant for this SECURITY DEFINER
    -- function to write to (see roles.sql). Stratify: equal quota per 0.1-wide score bucket, shortfalls of sparse
    -- buckets handed to the others (water-filling), and a deterministic per-seed hash picks the members without
    -- sorting a million rows.
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;
    scored := format('SELECT k.id, k.shot_id, s.score, least(floor(s.score * 10)::int, 9) AS bucket,
                             (hashtext(k.id::text || %L) & 2147483647)::float8 / 2147483647 AS draw
                      FROM mediatag.keyframe k CROSS JOIN LATERAL
                           (SELECT %s AS score) s
                      WHERE k.dataset_id = %s', seed::text, mediatag._classifier_score_sql(c), d);
    IF level = 'shot' THEN
        -- One row per shot: its best keyframe (the shot's score, as dt_<group>_shot aggregates it).
        scored := format('SELECT DISTINCT ON (x.shot_id) x.id, x.shot_id, x.score, x.bucket,
                                 (hashtext(x.shot_id::text || %L) & 2147483647)::float8 / 2147483647 AS draw
                          FROM (%s) x WHERE x.shot_id IS NOT NULL ORDER BY x.shot_id, x.score DESC, x.id', seed::text, scored);
    END IF;
    EXECUTE format('SELECT array_agg(coalesce(cnt.n, 0) ORDER BY b) FROM generate_series(0, 9) b
                    LEFT JOIN (SELECT x.bucket, count(*) AS n FROM (%s) x GROUP BY x.bucket) cnt ON cnt.bucket = b',
                   scored) INTO counts;
    UPDATE mediatag.evaluation x SET bucket_population = counts WHERE x.id = e;
    -- The smallest per-bucket level whose total reaches `size` (or everything, if the dataset is smaller).
    lo := 0;
    hi := greatest((SELECT max(v) FROM unnest(counts) v), 1);
    WHILE lo < hi LOOP
        mid := (lo + hi) / 2;
        IF (SELECT sum(least(v, mid)) FROM unnest(counts) v) >= size THEN hi := mid; ELSE lo := mid + 1; END IF;
    END LOOP;
    -- Exactly `size` items: the level can overshoot by less than one item per full bucket; the highest full
    -- buckets give one back each (they hold the fewest keyframes per item anyway).
    quotas := ARRAY(SELECT least(v, lo) FROM unnest(counts) v);
    over := (SELECT sum(q) FROM unnest(quotas) q) - size;
    FOR bi IN REVERSE 10..1 LOOP
        EXIT WHEN over <= 0;
        IF counts[bi] >= lo AND quotas[bi] > 0 THEN quotas[bi] := quotas[bi] - 1; over := over - 1; END IF;
    END LOOP;
    -- The members are read into arrays first: a plain SELECT may scan in parallel, an INSERT ... SELECT may not.
    EXECUTE format('SELECT array_agg(r.id), array_agg(r.shot_id), array_agg(r.score), array_agg(r.bucket)
        FROM (SELECT x.*, row_number() OVER (PARTITION BY x.bucket ORDER BY x.draw) AS rn
              FROM (%s) x
              -- keep ~2x the quota (+10) of each bucket before the exact cut, so the window sorts thousands
              WHERE x.draw < least(1.0, (2.0 * ($1)[x.bucket + 1] + 10) / greatest(($2)[x.bucket + 1], 1))) r
        WHERE r.rn <= ($1)[r.bucket + 1]', scored) INTO m_ids, m_shots, m_scores, m_buckets USING quotas, counts;
    INSERT INTO mediatag.evaluation_item (evaluation_id, keyframe_id, shot_id, score, bucket)
    SELECT e, m.id, m.shot_id, m.score, m.bucket FROM unnest(m_ids, m_shots, m_scores, m_buckets) AS m(id, shot_id, score, bucket);
    RETURN e;
END $$;

CREATE OR REPLACE FUNCTION mediatag._evaluation(evaluation_id bigint) RETURNS mediatag.evaluation
LANGUAGE plpgsql STABLE AS $$
DECLARE e mediatag.evaluation;
BEGIN
    SELECT * INTO e FROM mediatag.evaluation x WHERE x.id = evaluation_id;
    IF NOT FOUND OR NOT mediatag._can_read_dataset(e.dataset_id) THEN
        RAISE EXCEPTION 'unknown evaluation %', evaluation_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN e;
END $$;

CREATE OR REPLACE FUNCTION mediatag.evaluation_items(evaluation_id bigint, include_removed boolean DEFAULT false)
RETURNS TABLE (keyframe_id bigint, shot_id bigint, path text, keyframe_time_ms int, score real, bucket int,
               truth boolean, truth_source text, removed boolean, asset_id bigint, shot_start_ms int, shot_end_ms int)
LANGUAGE sql STABLE AS $$
    SELECT i.keyframe_id, i.shot_id, k.image_path, k.time_ms, i.score, i.bucket, i.truth, i.truth_source, i.removed,
           k.asset_id, sh.start_ms, sh.end_ms
    FROM mediatag.evaluation_item i JOIN mediatag.keyframe k ON k.id = i.keyframe_id
    LEFT JOIN mediatag.shot sh ON sh.id = i.shot_id
    WHERE i.evaluation_id = (mediatag._evaluation($1)).id AND (include_removed OR NOT i.removed)
    ORDER BY i.bucket, i.keyframe_id
$$;

CREATE OR REPLACE FUNCTION mediatag.set_ground_truth(evaluation_id bigint, keyframes bigint[], truth boolean,
                                          source mediatag.ground_truth_source DEFAULT 'person') RETURNS int
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); n int; missing bigint;
BEGIN
    PERFORM mediatag._require_write(e.dataset_id, 'recording ground truth');
    SELECT u.k INTO missing FROM unnest(keyframes) u(k)
    WHERE NOT EXISTS (SELECT 1 FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND i.keyframe_id = u.k) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'keyframe % is not in evaluation %', missing, e.id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.evaluation_item i SET truth = set_ground_truth.truth, truth_source = source,
           judged_by = session_user, judged_at = now()
    WHERE i.evaluation_id = e.id AND i.keyframe_id = ANY (keyframes);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- "Remove items judged wrong": excluded from the metrics, kept for the record.
CREATE OR REPLACE FUNCTION mediatag.remove_evaluation_items(evaluation_id bigint, keyframes bigint[], removed boolean DEFAULT true)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); n int;
BEGIN
    PERFORM mediatag._require_write(e.dataset_id, 'removing evaluation items');
    UPDATE mediatag.evaluation_item i SET removed = remove_evaluation_items.removed
    WHERE i.evaluation_id = e.id AND i.keyframe_id = ANY (keyframes);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The judged, kept items of an evaluation with their Horvitz-Thompson weights (N_b / n_b); the weights are NULL
-- for evaluations drawn before bucket populations were stored (then the metrics are the sample's own).
CREATE OR REPLACE FUNCTION mediatag.evaluation_weights(evaluation_id bigint)
RETURNS TABLE (keyframe_id bigint, score real, bucket int, truth boolean, weight double precision)
LANGUAGE sql STABLE AS $$
    SELECT i.keyframe_id, i.score, i.bucket, i.truth,
           e.bucket_population[i.bucket + 1]::double precision / count(*) OVER (PARTITION BY i.bucket)
    FROM mediatag.evaluation e JOIN mediatag.evaluation_item i ON i.evaluation_id = e.id
    WHERE e.id = (mediatag._evaluation($1)).id AND i.truth IS NOT NULL AND NOT i.removed
    ORDER BY i.bucket, i.keyframe_id
$$;

DROP FUNCTION IF EXISTS mediatag.evaluation_metrics(bigint);
DROP FUNCTION IF EXISTS mediatag.suggest_threshold(bigint, text);

-- tp/fp/fn/tn are the judged sample's counts; est_* are the estimated numbers of keyframes of the dataset, and
-- precision/recall/f1/f05/accuracy are computed from those estimates (weighted => false: from the sample counts).
CREATE OR REPLACE FUNCTION mediatag.evaluation_metrics(evaluation_id bigint, weighted boolean DEFAULT true)
RETURNS TABLE (threshold real, "precision" real, recall real, f1 real, f05 real, accuracy real,
               tp int, fp int, fn int, tn int, est_tp real, est_fp real, est_fn real, est_tn real)
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_evaluation
return sql_evaluation.evaluation_metrics(plpy, evaluation_id, weighted)
$$;

CREATE OR REPLACE FUNCTION mediatag.suggest_threshold(evaluation_id bigint, metric mediatag.metric DEFAULT 'f1', weighted boolean DEFAULT true)
RETURNS TABLE (threshold real, value real, metric text, judged int)
LANGUAGE plpython3u ROWS 1 AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_evaluation
return sql_evaluation.suggest_threshold(plpy, evaluation_id, metric, weighted)
$$;

-- The shot threshold in force for a tag on a dataset: the one a shot-level evaluation saved, else the keyframes'.
CREATE OR REPLACE FUNCTION mediatag._shot_threshold(tag_id bigint, dataset_id bigint) RETURNS real
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT x.threshold FROM mediatag.tag_shot_threshold x WHERE x.tag_id = $1 AND x.dataset_id = $2),
                    mediatag._tag_threshold($1, $2))
$$;

-- The threshold in force for a tag on a dataset: the one saved for that dataset, else the tag's own.
CREATE OR REPLACE FUNCTION mediatag._tag_threshold(tag_id bigint, dataset_id bigint) RETURNS real
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT x.threshold FROM mediatag.tag_dataset_threshold x WHERE x.tag_id = $1 AND x.dataset_id = $2),
                    (SELECT t.threshold FROM mediatag.tag t WHERE t.id = $1))
$$;

CREATE OR REPLACE FUNCTION mediatag.save_threshold(evaluation_id bigint, metric mediatag.metric DEFAULT 'f1', threshold real DEFAULT NULL)
RETURNS real
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); thr real;
BEGIN
    PERFORM mediatag._require_write(e.dataset_id, 'saving a threshold');
    thr := coalesce(threshold, (SELECT s.threshold FROM mediatag.suggest_threshold(evaluation_id, metric) s));
    IF thr < 0 OR thr > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', thr USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A shot-level evaluation sets the shots' threshold on its dataset (dt_<group>_shot); keyframes and segments
    -- keep theirs. Otherwise the training dataset's threshold is the tag's own (every dataset's default); another
    -- dataset gets its own.
    IF e.level = 'shot' THEN
        INSERT INTO mediatag.tag_shot_threshold AS x (tag_id, dataset_id, threshold, evaluation_id)
        VALUES (e.tag_id, e.dataset_id, thr, e.id)
        ON CONFLICT (tag_id, dataset_id) DO UPDATE SET threshold = excluded.threshold, evaluation_id = excluded.evaluation_id,
            saved_by = session_user, saved_at = now();
    ELSIF e.dataset_id = (SELECT g.training_dataset_id FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
                       WHERE t.id = e.tag_id) THEN
        UPDATE mediatag.tag SET threshold = thr WHERE id = e.tag_id;
    ELSE
        INSERT INTO mediatag.tag_dataset_threshold AS x (tag_id, dataset_id, threshold, evaluation_id)
        VALUES (e.tag_id, e.dataset_id, thr, e.id)
        ON CONFLICT (tag_id, dataset_id) DO UPDATE SET threshold = excluded.threshold, evaluation_id = excluded.evaluation_id,
            saved_by = session_user, saved_at = now();
    END IF;
    IF e.level = 'keyframe' THEN
        PERFORM mediatag._refresh_tag_segments(e.tag_id);   -- segments follow the threshold (segments.sql)
    END IF;
    UPDATE mediatag.evaluation x SET saved_threshold = thr, saved_metric = CASE WHEN save_threshold.threshold IS NULL THEN metric ELSE 'manual' END
    WHERE x.id = e.id;
    RETURN thr;
END $$;

-- Evaluator ground truth as visual labels of the tag (origin 'evaluation'), then the tag is retrained: one call
-- turns a finished evaluation into training data. Only evaluations on the group's training dataset: labels must
-- be keyframes of the training dataset (and in its model's space). Removed and unjudged items are skipped.
CREATE OR REPLACE FUNCTION mediatag.labels_from_evaluation(evaluation bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    e mediatag.evaluation := mediatag._evaluation(evaluation);
    g mediatag.tag_group;
    t mediatag.tag;
    yes_ids bigint[];
    no_ids bigint[];
BEGIN
    SELECT x.* INTO t FROM mediatag.tag x WHERE x.id = e.tag_id;
    SELECT x.* INTO g FROM mediatag.tag_group x WHERE x.id = t.group_id;
    IF e.dataset_id <> g.training_dataset_id THEN
        RAISE EXCEPTION 'evaluation % is on dataset "%", but group "%" trains on dataset "%": only evaluations on the training dataset become labels',
            e.id, (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = e.dataset_id), g.name,
            (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(i.keyframe_id) FILTER (WHERE i.truth), array_agg(i.keyframe_id) FILTER (WHERE NOT i.truth)
    INTO yes_ids, no_ids FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND i.truth IS NOT NULL AND NOT i.removed;
    IF yes_ids IS NULL AND no_ids IS NULL THEN
        RAISE EXCEPTION 'evaluation % has no judged items yet', e.id USING ERRCODE = 'no_data_found';
    END IF;
    -- label_keyframes checks the editor role and the group, and retrains; the last call retrains with both sets.
    IF yes_ids IS NOT NULL THEN PERFORM mediatag.label_keyframes(g.name, t.name, yes_ids, true, 'evaluation'); END IF;
    IF no_ids IS NOT NULL THEN PERFORM mediatag.label_keyframes(g.name, t.name, no_ids, false, 'evaluation'); END IF;
    RETURN coalesce(array_length(yes_ids, 1), 0) + coalesce(array_length(no_ids, 1), 0);
END $$;

-- After publish: ten keyframes from each score bucket of the scored dataset.
CREATE OR REPLACE FUNCTION mediatag.stratified_preview(tag_group text, tag text, dataset text DEFAULT NULL, per_bucket int DEFAULT 10,
                                            seed int DEFAULT 0)
RETURNS TABLE (bucket_low real, bucket_high real, keyframe_id bigint, asset_id bigint, video_id bigint,
               keyframe_time_ms int, path text, score real, threshold_decision boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); t mediatag.tag := mediatag._tag(g, tag); d bigint;
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    IF NOT EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d AND a.scored_version IS NOT NULL) THEN
        RAISE EXCEPTION 'tag group "%" has not been scored on this dataset yet (publish it and let the worker run)', g.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT (b.bucket / 10.0)::real, ((b.bucket + 1) / 10.0)::real, b.keyframe_id, b.asset_id, b.video_id,
               b.keyframe_time_ms, k.image_path, b.score, b.threshold_decision
        FROM (SELECT v.*, least(floor(v.score * 10)::int, 9) AS bucket,
                     row_number() OVER (PARTITION BY least(floor(v.score * 10)::int, 9) ORDER BY md5(v.keyframe_id::text || %L)) AS rn
              FROM mediatag_data.%I v WHERE v.dataset_id = %s AND v.tag = %L) b
        JOIN mediatag.keyframe k ON k.id = b.keyframe_id
        WHERE b.rn <= %s ORDER BY b.bucket, b.score$q$, seed::text, 'dt_' || g.slug || '_visual', d,
        (SELECT vt.tag_name FROM mediatag.group_version_tag vt JOIN mediatag.group_application a
           ON a.group_id = vt.group_id AND a.scored_version = vt.version
         WHERE vt.tag_id = t.id AND a.dataset_id = d), per_bucket);
END $$;
