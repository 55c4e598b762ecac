-- Read functions the web UI (datasette_plugins/) calls for its pages: an asset grid, one asset's timeline, job
-- progress and an evaluation's header. Each goes through mediatag.dataset_id() / mediatag._group() so the
-- per-dataset access checks apply here as everywhere else.

CREATE OR REPLACE FUNCTION mediatag.list_assets(dataset text, lim int DEFAULT 60, off int DEFAULT 0)
RETURNS TABLE (asset_id bigint, kind text, path text, duration_ms int, width int, height int, status text,
               error text, metadata jsonb, keyframes bigint, shots bigint, first_keyframe_id bigint, total bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
        RAISE EXCEPTION 'lim must be between 1 and 1000, got %', lim USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off IS NULL OR off < 0 THEN
        RAISE EXCEPTION 'off must be 0 or more, got %', off USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT a.id, a.kind, a.path, a.duration_ms, a.width, a.height, a.status, a.error, a.metadata,
           (SELECT count(*) FROM mediatag.keyframe k WHERE k.asset_id = a.id),
           (SELECT count(*) FROM mediatag.shot s WHERE s.asset_id = a.id),
           (SELECT k.id FROM mediatag.keyframe k WHERE k.asset_id = a.id ORDER BY k.keyframe_index LIMIT 1),
           count(*) OVER ()
    FROM mediatag.asset a
    WHERE a.dataset_id = d
    ORDER BY a.id
    LIMIT lim OFFSET off;
END $$;

-- One asset with its shots, keyframes and transcript, for the video timeline.
CREATE OR REPLACE FUNCTION mediatag.asset_detail(asset bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE a mediatag.asset; ds text;
BEGIN
    SELECT * INTO a FROM mediatag.asset x WHERE x.id = asset;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', asset USING ERRCODE = 'no_data_found';
    END IF;
    SELECT x_.name INTO ds FROM mediatag.dataset x_ WHERE x_.id = a.dataset_id;
    PERFORM mediatag.dataset_id(ds);   -- the access check
    RETURN jsonb_build_object(
        'asset_id', a.id, 'dataset', ds, 'kind', a.kind, 'path', a.path, 'duration_ms', a.duration_ms,
        'width', a.width, 'height', a.height, 'status', a.status, 'error', a.error, 'metadata', a.metadata,
        'tech', a.tech,
        'shots', coalesce((SELECT jsonb_agg(jsonb_build_object('shot_id', s.id, 'shot_index', s.shot_index,
                                                               'start_ms', s.start_ms, 'end_ms', s.end_ms)
                                            ORDER BY s.shot_index)
                           FROM mediatag.shot s WHERE s.asset_id = a.id), '[]'),
        'keyframes', coalesce((SELECT jsonb_agg(jsonb_build_object('keyframe_id', k.id, 'shot_id', k.shot_id,
                                                                   'keyframe_index', k.keyframe_index, 'time_ms', k.time_ms)
                                                ORDER BY k.keyframe_index)
                               FROM mediatag.keyframe k WHERE k.asset_id = a.id), '[]'),
        'transcript', coalesce((SELECT jsonb_agg(jsonb_build_object('segment_id', t.id, 'start_ms', t.start_ms,
                                                                    'end_ms', t.end_ms, 'text', t.text, 'source', t.source)
                                                 ORDER BY t.segment_index)
                                FROM mediatag.transcript_segment t WHERE t.asset_id = a.id), '[]'));
END $$;

-- How one asset scores under every tag and concept the caller sees on its dataset (the asset page): a tag with
-- the version applied to the dataset (on the training dataset before any publish, its latest classifier, as the
-- search filters do), a concept with the version in use; a video by its best keyframe. Computed from the
-- classifiers, so it needs no scoring job and holds for a draft.
CREATE OR REPLACE FUNCTION mediatag.asset_scores(asset bigint)
RETURNS TABLE (kind text, tag_group text, name text, score real, decision boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE a mediatag.asset; ds text;
BEGIN
    SELECT * INTO a FROM mediatag.asset x WHERE x.id = asset;
    IF NOT FOUND OR NOT mediatag._can_read_dataset(a.dataset_id) THEN
        RAISE EXCEPTION 'unknown asset %', asset USING ERRCODE = 'no_data_found';
    END IF;
    SELECT x_.name INTO ds FROM mediatag.dataset x_ WHERE x_.id = a.dataset_id;
    RETURN QUERY
    SELECT 'tag', g.name, t.name, s.score, s.score >= t.threshold
    FROM mediatag.list_tag_groups(ds) lg
    CROSS JOIN LATERAL mediatag._group(lg.name) g
    JOIN mediatag.tag t ON t.group_id = g.id
    CROSS JOIN LATERAL (SELECT coalesce(
        (SELECT vt.visual_classifier_id FROM mediatag.group_application ga
         JOIN mediatag.group_version_tag vt ON vt.group_id = ga.group_id AND vt.version = ga.applied_version
                                           AND vt.tag_id = t.id
         WHERE ga.group_id = g.id AND ga.dataset_id = a.dataset_id),
        CASE WHEN g.training_dataset_id = a.dataset_id THEN (mediatag._keyframe_classifier(t.id)).id END) AS id) c
    JOIN mediatag.classifier cl ON cl.id = c.id
    -- `cl.id = c.id` again inside: without a reference to c, the planner may run this per row of the classifier
    -- table before the join, on classifiers of other models (other dimensions).
    CROSS JOIN LATERAL (SELECT max(mediatag.sigmoid(cl.bias - (k.embedding <#> cl.weights::halfvec)))::real AS score
                        FROM mediatag.keyframe k WHERE k.asset_id = a.id AND cl.id = c.id HAVING cl.modality <> 'face'
                        UNION ALL
                        -- a person tag (person_tags.sql): the asset's best face against the exemplars, 0 without faces
                        SELECT coalesce(mediatag._face_tag_score(min(f.descriptor OPERATOR(public.<->) fx.descriptor),
                                                             coalesce((cl.summary ->> 'max_distance')::real, 0.6)), 0)
                        FROM mediatag.face f JOIN mediatag.face_exemplar fx ON fx.classifier_id = cl.id
                        WHERE f.asset_id = a.id AND cl.id = c.id HAVING cl.modality = 'face') s
    WHERE s.score IS NOT NULL
    UNION ALL
    SELECT 'concept', NULL, cn.name, s.score, s.score >= cn.threshold
    FROM mediatag.list_concepts(ds) lc
    CROSS JOIN LATERAL mediatag._concept(lc.name) cn
    CROSS JOIN LATERAL mediatag._concept_classifier(cn) cc
    CROSS JOIN LATERAL (SELECT max(mediatag.sigmoid(cc.bias - (k.embedding <#> cc.weights::halfvec)))::real AS score
                        FROM mediatag.keyframe k WHERE k.asset_id = a.id HAVING cc.summary ->> 'kind' IS DISTINCT FROM 'face'
                        UNION ALL
                        SELECT coalesce(mediatag._face_tag_score(min(f.descriptor OPERATOR(public.<->) fx.descriptor),
                                                             coalesce((cc.summary ->> 'max_distance')::real, 0.6)), 0)
                        FROM mediatag.face f JOIN mediatag.face_exemplar fx
                             ON fx.concept_id = cc.concept_id AND fx.concept_version = cc.version
                        WHERE f.asset_id = a.id HAVING cc.summary ->> 'kind' = 'face') s
    WHERE s.score IS NOT NULL
    ORDER BY 1 DESC, 5 DESC, 4 DESC, 2, 3;
END $$;

COMMENT ON FUNCTION mediatag.asset_scores(bigint) IS
'How one asset scores under each tag and concept the caller sees on its dataset (a video: its best keyframe). Viewers.
asset: the asset''s id
Returns: kind (tag or concept), tag_group (NULL for a concept), name, score, decision (score at or above the
  threshold).';

-- The image file of a keyframe (the UI's thumbnails), through the dataset access check.
CREATE OR REPLACE FUNCTION mediatag.keyframe_image(keyframe bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE p text; ds bigint;
BEGIN
    SELECT k.image_path, k.dataset_id INTO p, ds FROM mediatag.keyframe k WHERE k.id = keyframe;
    -- A keyframe of a dataset the caller may not see is unknown to them: the same error, naming nothing more.
    IF NOT FOUND OR NOT mediatag._can_read_dataset(ds) THEN
        RAISE EXCEPTION 'unknown keyframe %', keyframe USING ERRCODE = 'no_data_found';
    END IF;
    RETURN p;
END $$;

-- Queue counts and the latest jobs, optionally of one tag group: what "long work" pages poll.
CREATE OR REPLACE FUNCTION mediatag.job_progress(tag_group text DEFAULT NULL, recent int DEFAULT 5)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE gid bigint;
BEGIN
    IF tag_group IS NOT NULL THEN
        gid := (mediatag._group(tag_group)).id;
    END IF;
    RETURN (
        -- Only jobs about datasets the caller may read (by the dataset or the evaluation they name); admins all.
        WITH j AS (SELECT * FROM mediatag.job x
                   WHERE (gid IS NULL OR (x.payload ->> 'group_id')::bigint = gid)
                     AND (mediatag._is_admin()
                          OR mediatag._can_read_dataset(coalesce((x.payload ->> 'dataset_id')::bigint,
                                 (SELECT e.dataset_id FROM mediatag.evaluation e
                                  WHERE e.id = (x.payload ->> 'evaluation_id')::bigint)))))
        SELECT jsonb_build_object(
            'queued', (SELECT count(*) FROM j WHERE state = 'queued'),
            'running', (SELECT count(*) FROM j WHERE state = 'running'),
            'done', (SELECT count(*) FROM j WHERE state = 'done'),
            'error', (SELECT count(*) FROM j WHERE state = 'error'),
            'recent', coalesce((SELECT jsonb_agg(jsonb_build_object('id', r.id, 'kind', r.kind, 'state', r.state,
                                                                    'error', r.error, 'created_at', r.created_at,
                                                                    'finished_at', r.finished_at) ORDER BY r.id DESC)
                                FROM (SELECT * FROM j ORDER BY id DESC LIMIT recent) r), '[]')));
END $$;

-- An evaluation's header: which group, tag and dataset, and how far the ground truth is.
CREATE OR REPLACE FUNCTION mediatag.evaluation_summary(evaluation_id bigint)
RETURNS TABLE (evaluation_id bigint, tag_group text, tag text, dataset text, threshold real, threshold_at_start real,
               items bigint, judged bigint, removed bigint, saved_threshold real, saved_metric text, created_at timestamptz,
               level text)
LANGUAGE sql STABLE AS $$
    SELECT e.id, g.name, t.name, d.name,
           CASE e.level WHEN 'shot' THEN mediatag._shot_threshold(t.id, d.id) ELSE mediatag._tag_threshold(t.id, d.id) END,
           e.threshold_at_start,
           (SELECT count(*) FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND NOT i.removed),
           (SELECT count(*) FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND NOT i.removed AND i.truth IS NOT NULL),
           (SELECT count(*) FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND i.removed),
           e.saved_threshold, e.saved_metric, e.created_at, e.level
    FROM mediatag._evaluation($1) e
    JOIN mediatag.tag t ON t.id = e.tag_id
    JOIN mediatag.tag_group g ON g.id = t.group_id
    JOIN mediatag.dataset d ON d.id = e.dataset_id
    -- the group lookup carries the access check
    WHERE (mediatag._group(g.name)).id = g.id
$$;

-- Evaluations of one tag, newest first (the preview page links them).
CREATE OR REPLACE FUNCTION mediatag.list_evaluations(tag_group text, tag text)
RETURNS TABLE (evaluation_id bigint, dataset text, items bigint, judged bigint, saved_threshold real, created_at timestamptz,
               level text)
LANGUAGE sql STABLE AS $$
    SELECT e.id, d.name,
           (SELECT count(*) FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND NOT i.removed),
           (SELECT count(*) FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND NOT i.removed AND i.truth IS NOT NULL),
           e.saved_threshold, e.created_at, e.level
    FROM mediatag._group(tag_group) g
    JOIN mediatag.tag t ON t.id = (mediatag._tag(g, tag)).id
    JOIN mediatag.evaluation e ON e.tag_id = t.id
    JOIN mediatag.dataset d ON d.id = e.dataset_id
    WHERE mediatag._can_read_dataset(d.id)
    ORDER BY e.id DESC
$$;

-- Existing labels as CSV text (the web UI's upload; psql users can pass a file's contents): the same columns as
-- the SDK's read_label_csv. With a header, the item column is one of keyframe_id, asset_id, path, file, filename,
-- file_name, image (keyframe_id values become "keyframe:<id>") and the label column one of label, answer, value;
-- without a header, the first column is the item and the second the label. The rows then go through
-- mediatag.import_concept_labels, which matches them to the concept's dataset and checks the caller's access.
CREATE OR REPLACE FUNCTION mediatag.import_concept_labels_csv(concept text, csv_text text)
RETURNS TABLE (item text, label text, keyframes int)
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_ui
return sql_ui.import_concept_labels_csv(plpy, concept, csv_text)
$$;
