-- Tag evaluator: a stratified sample (~400 keyframes, equal per score bucket) gets ground truth from a person
-- (or, later, an LLM); wrong items are removed; metrics against every threshold from 0 to 1; the best threshold
-- for a chosen metric is suggested and can be saved (threshold_decision follows at once).

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
                                          seed int DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'visual');
    d bigint;
    e bigint;
    counts bigint[];
    lo bigint;
    hi bigint;
    mid bigint;
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    IF d <> g.training_dataset_id AND NOT EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d) THEN
        RAISE EXCEPTION 'tag group "%" is not used on dataset "%"', g.name, dataset USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mediatag._require_write(d, 'starting an evaluation');
    IF size IS NULL OR size < 10 OR size > 5000 THEN
        RAISE EXCEPTION 'evaluation size must be between 10 and 5000, got %', size USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF c.weights IS NULL THEN
        RAISE EXCEPTION 'tag "%" has no visual classifier to evaluate', t.name USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO mediatag.evaluation (tag_id, dataset_id, classifier_id, threshold_at_start)
    VALUES (t.id, d, c.id, t.threshold) RETURNING id INTO e;
    -- Score the whole dataset with the tag's current classifier once (one parallel pass into a temp table), then
    -- stratify: equal quota per 0.1-wide score bucket, shortfalls of sparse buckets handed to the others
    -- (water-filling), and a deterministic per-seed hash picks the members without sorting a million rows.
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;
    DROP TABLE IF EXISTS _mediatag_eval_scored;
    EXECUTE format('CREATE TEMP TABLE _mediatag_eval_scored ON COMMIT DROP AS
        SELECT k.id, k.shot_id, s.score, least(floor(s.score * 10)::int, 9) AS bucket,
               (hashtext(k.id::text || %L) & 2147483647)::float8 / 2147483647 AS draw
        FROM mediatag.keyframe k CROSS JOIN LATERAL
             (SELECT mediatag.sigmoid(%s - (k.embedding <#> %L::halfvec)) AS score) s
        WHERE k.dataset_id = %s', seed::text, c.bias, c.weights::text, d);
    SELECT array_agg(coalesce(cnt.n, 0) ORDER BY b) INTO counts
    FROM generate_series(0, 9) b
    LEFT JOIN (SELECT x.bucket, count(*) AS n FROM _mediatag_eval_scored x GROUP BY x.bucket) cnt ON cnt.bucket = b;
    -- The smallest per-bucket level whose total reaches `size` (or everything, if the dataset is smaller).
    lo := 0;
    hi := greatest((SELECT max(v) FROM unnest(counts) v), 1);
    WHILE lo < hi LOOP
        mid := (lo + hi) / 2;
        IF (SELECT sum(least(v, mid)) FROM unnest(counts) v) >= size THEN hi := mid; ELSE lo := mid + 1; END IF;
    END LOOP;
    INSERT INTO mediatag.evaluation_item (evaluation_id, keyframe_id, shot_id, score, bucket)
    SELECT e, r.id, r.shot_id, r.score, r.bucket
    FROM (SELECT x.*, row_number() OVER (PARTITION BY x.bucket ORDER BY x.draw) AS rn
          FROM _mediatag_eval_scored x
          -- keep ~2x the quota (+10) of each bucket before the exact cut, so the window sorts thousands, not millions
          WHERE x.draw < least(1.0, (2.0 * least(counts[x.bucket + 1], lo) + 10) / greatest(counts[x.bucket + 1], 1))) r
    WHERE r.rn <= least(counts[r.bucket + 1], lo);
    DROP TABLE _mediatag_eval_scored;
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
               truth boolean, truth_source text, removed boolean)
LANGUAGE sql STABLE AS $$
    SELECT i.keyframe_id, i.shot_id, k.image_path, k.time_ms, i.score, i.bucket, i.truth, i.truth_source, i.removed
    FROM mediatag.evaluation_item i JOIN mediatag.keyframe k ON k.id = i.keyframe_id
    WHERE i.evaluation_id = (mediatag._evaluation($1)).id AND (include_removed OR NOT i.removed)
    ORDER BY i.bucket, i.keyframe_id
$$;

CREATE OR REPLACE FUNCTION mediatag.set_ground_truth(evaluation_id bigint, keyframes bigint[], truth boolean,
                                          source text DEFAULT 'person') RETURNS int
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); n int; missing bigint;
BEGIN
    PERFORM mediatag._require_write(e.dataset_id, 'recording ground truth');
    IF source NOT IN ('person', 'llm') THEN
        RAISE EXCEPTION 'invalid ground truth source "%": use person or llm', source USING ERRCODE = 'invalid_parameter_value';
    END IF;
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

CREATE OR REPLACE FUNCTION mediatag.evaluation_metrics(evaluation_id bigint)
RETURNS TABLE (threshold real, "precision" real, recall real, f1 real, f05 real, accuracy real,
               tp int, fp int, fn int, tn int)
LANGUAGE plpython3u AS $$
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import metrics

plpy.execute(plpy.prepare("SELECT mediatag._evaluation($1)", ["bigint"]), [evaluation_id])
r = plpy.execute(plpy.prepare(
    """SELECT array_agg(score) AS s, array_agg(truth) AS y FROM mediatag.evaluation_item
       WHERE evaluation_id = $1 AND truth IS NOT NULL AND NOT removed""", ["bigint"]), [evaluation_id])[0]
if not r["s"]:
    plpy.error(f"evaluation {evaluation_id} has no judged items yet", hint="record ground truth with mediatag.set_ground_truth()")
m = metrics.threshold_metrics(np.array(r["s"], dtype=np.float64), np.array(r["y"], dtype=bool))
keys = ("thresholds", "precision", "recall", "f1", "f05", "accuracy", "tp", "fp", "fn", "tn")
cols = [np.asarray(m[k]).tolist() for k in keys]
return [dict(zip(("threshold", *keys[1:]), row)) for row in zip(*cols)]
$$;

CREATE OR REPLACE FUNCTION mediatag.suggest_threshold(evaluation_id bigint, metric text DEFAULT 'f1')
RETURNS TABLE (threshold real, value real, metric text, judged int)
LANGUAGE plpython3u AS $$
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import metrics as M

if metric not in ("f1", "f05", "precision", "recall", "accuracy"):
    plpy.error(f'invalid metric "{metric}": use f1, f05, precision, recall or accuracy')
plpy.execute(plpy.prepare("SELECT mediatag._evaluation($1)", ["bigint"]), [evaluation_id])
r = plpy.execute(plpy.prepare(
    """SELECT array_agg(score) AS s, array_agg(truth) AS y FROM mediatag.evaluation_item
       WHERE evaluation_id = $1 AND truth IS NOT NULL AND NOT removed""", ["bigint"]), [evaluation_id])[0]
if not r["s"]:
    plpy.error(f"evaluation {evaluation_id} has no judged items yet", hint="record ground truth with mediatag.set_ground_truth()")
thr, val = M.best_threshold(np.array(r["s"], dtype=np.float64), np.array(r["y"], dtype=bool), metric=metric)
return [{"threshold": float(thr), "value": float(val), "metric": metric, "judged": len(r["s"])}]
$$;

CREATE OR REPLACE FUNCTION mediatag.save_threshold(evaluation_id bigint, metric text DEFAULT 'f1', threshold real DEFAULT NULL)
RETURNS real
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); thr real;
BEGIN
    PERFORM mediatag._require_write(e.dataset_id, 'saving a threshold');
    thr := coalesce(threshold, (SELECT s.threshold FROM mediatag.suggest_threshold(evaluation_id, metric) s));
    IF thr < 0 OR thr > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', thr USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.tag SET threshold = thr WHERE id = e.tag_id;
    UPDATE mediatag.evaluation x SET saved_threshold = thr, saved_metric = CASE WHEN save_threshold.threshold IS NULL THEN metric ELSE 'manual' END
    WHERE x.id = e.id;
    RETURN thr;
END $$;

-- After publish: ten keyframes from each score bucket of the scored dataset.
CREATE OR REPLACE FUNCTION mediatag.stratified_preview(tag_group text, tag text, dataset text DEFAULT NULL, per_bucket int DEFAULT 10,
                                            seed int DEFAULT 0)
RETURNS TABLE (bucket_low real, bucket_high real, keyframe_id bigint, asset_id bigint, video_id bigint,
               keyframe_time_ms int, path text, score real, threshold_decision boolean)
LANGUAGE plpgsql AS $$
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
