-- Preview functions the UI calls while a tag is refined. They score with the tag's latest (draft) classifier:
-- over the dataset's fixed random sample (fast at any dataset size) plus, for positives, the HNSW neighbourhood
-- of the classifier direction (so rare tags still show positives).

-- Not STRICT, so the planner inlines it (greatest/least are not strict): a function call per row and tag would
-- cost more than the inner products themselves.
CREATE OR REPLACE FUNCTION mediatag.sigmoid(z double precision) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (1.0 / (1.0 + exp(-greatest(least(z, 60.0), -60.0))))::real
$$;

CREATE OR REPLACE FUNCTION mediatag._preview_pool(g mediatag.tag_group, t mediatag.tag, hnsw_k int)
RETURNS TABLE (keyframe_id bigint, score real)
LANGUAGE plpgsql AS $$
DECLARE c mediatag.classifier := mediatag._keyframe_classifier(t.id); dim int;
BEGIN
    IF c.modality = 'face' THEN
        -- A person tag (person_tags.sql): the sample scored by its faces, and the keyframes of the faces nearest
        -- each exemplar.
        RETURN QUERY SELECT * FROM mediatag._face_pool(g.training_dataset_id, mediatag._tag_face_exemplars(c),
                                                       (c.summary ->> 'max_distance')::real,
                                                       (c.summary ->> 'exemplars')::int, hnsw_k);
        RETURN;
    END IF;
    IF c.weights IS NULL THEN
        RAISE EXCEPTION 'tag "%" has no visual classifier yet (add a positive visual prompt)', t.name
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id;
    RETURN QUERY
    SELECT s.keyframe_id, mediatag.sigmoid(c.bias - (s.embedding <#> c.weights::halfvec))
    FROM mediatag.keyframe_sample s WHERE s.dataset_id = g.training_dataset_id;
    -- Without the dataset's HNSW index an ORDER BY would scan every keyframe: the sample alone must do.
    IF hnsw_k > 0 AND to_regclass('mediatag.keyframe_hnsw_ds' || g.training_dataset_id) IS NOT NULL THEN
        -- Literal dataset id and dimension so the planner matches the partial HNSW index.
        PERFORM set_config('hnsw.ef_search', least(greatest(hnsw_k, 40), 1000)::text, true);
        RETURN QUERY EXECUTE format(
            'SELECT k.id, mediatag.sigmoid(%s - (k.embedding <#> %L::halfvec)) FROM mediatag.keyframe k
             WHERE k.dataset_id = %s ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
            c.bias, c.weights::text, g.training_dataset_id, dim, c.weights::text, dim, hnsw_k);
    END IF;
END $$;

-- Previews are STABLE (they change nothing): with MEDIATAG_READ_URL the SDK reads them from the replica.
CREATE OR REPLACE FUNCTION mediatag.preview(tag_group text, tag text, kind mediatag.preview_kind DEFAULT 'compare',
                                 level mediatag.preview_level DEFAULT 'keyframe',
                                 threshold real DEFAULT NULL, n int DEFAULT 24, seed int DEFAULT NULL)
RETURNS TABLE (side text, keyframe_id bigint, asset_id bigint, video_id bigint, shot_id bigint, keyframe_index int,
               keyframe_time_ms int, path text, score real, decision boolean, shot_start_ms int, shot_end_ms int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    thr real := coalesce(threshold, t.threshold);
    salt text := coalesce(seed::text, random()::text);
BEGIN
    IF thr < 0 OR thr > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', thr USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH pool AS (
        SELECT DISTINCT ON (p.keyframe_id) p.keyframe_id, p.score
        FROM mediatag._preview_pool(g, t, CASE WHEN kind = 'negatives' THEN 0 ELSE greatest(4 * n, 100) END) p
    ), units AS (
        -- At shot level a shot is represented by its best-scoring keyframe, and scores as that keyframe.
        SELECT DISTINCT ON (CASE WHEN level = 'shot' THEN coalesce(k.shot_id, -k.id) ELSE k.id END)
               k.id, k.asset_id, k.shot_id, k.keyframe_index, k.time_ms, k.image_path, a.kind AS asset_kind, pool.score
        FROM pool JOIN mediatag.keyframe k ON k.id = pool.keyframe_id JOIN mediatag.asset a ON a.id = k.asset_id
        ORDER BY CASE WHEN level = 'shot' THEN coalesce(k.shot_id, -k.id) ELSE k.id END, pool.score DESC
    ), sides AS (
        SELECT CASE WHEN u.score >= thr THEN 'positive' ELSE 'negative' END AS side, u.*,
               row_number() OVER (PARTITION BY u.score >= thr ORDER BY md5(u.id::text || salt)) AS rn
        FROM units u
    )
    SELECT s.side, s.id, s.asset_id, CASE WHEN s.asset_kind = 'video' THEN s.asset_id END, s.shot_id, s.keyframe_index,
           s.time_ms, s.image_path, s.score, s.score >= thr, sh.start_ms, sh.end_ms
    FROM sides s LEFT JOIN mediatag.shot sh ON sh.id = s.shot_id
    WHERE s.rn <= n
      AND (kind = 'compare' OR (kind = 'positives' AND s.side = 'positive') OR (kind = 'negatives' AND s.side = 'negative'))
    ORDER BY s.side DESC, s.score DESC;
END $$;

CREATE OR REPLACE FUNCTION mediatag.preview_transcripts(tag_group text, tag text,
                                             kind mediatag.transcript_preview_kind DEFAULT 'positives',
                                             threshold real DEFAULT NULL, n int DEFAULT 50,
                                             sort mediatag.transcript_sort DEFAULT 'score')
RETURNS TABLE (segment_id bigint, asset_id bigint, start_ms int, end_ms int, text text, score real, decision boolean,
               source text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'transcript');
    thr real := coalesce(threshold, t.threshold);
BEGIN
    IF c.weights IS NULL THEN
        RETURN;   -- no transcript prompts: nothing scores on transcripts
    END IF;
    RETURN QUERY
    SELECT x.id, x.asset_id, x.start_ms, x.end_ms, x.text, x.score, x.score >= thr, x.source
    FROM (SELECT s.id, s.asset_id, s.start_ms, s.end_ms, s.text, s.source,
                 mediatag.sigmoid(c.bias - (s.embedding <#> c.weights::halfvec)) AS score
          FROM mediatag.transcript_segment s WHERE s.dataset_id = g.training_dataset_id) x
    WHERE kind = 'all' OR (kind = 'positives' AND x.score >= thr) OR (kind = 'negatives' AND x.score < thr)
    ORDER BY CASE WHEN sort = 'score' THEN -x.score WHEN sort = 'score_asc' THEN x.score END,
             CASE WHEN sort = 'time' THEN x.asset_id END, x.start_ms
    LIMIT n;
END $$;

-- "Add from search": a text query returns keyframes of the group's training dataset to label.
CREATE OR REPLACE FUNCTION mediatag.search_keyframes(dataset text, query text, k int DEFAULT 50)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, similarity real)
LANGUAGE plpgsql STABLE AS $$
DECLARE d mediatag.dataset; q vector;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    IF btrim(coalesce(query, '')) = '' THEN
        RAISE EXCEPTION 'empty search query' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    q := mediatag.embed_text(query, d.visual_model);
    PERFORM set_config('hnsw.ef_search', least(greatest(k, 100), 1000)::text, true);
    RETURN QUERY EXECUTE format(
        'SELECT k.id, k.asset_id, k.time_ms, k.image_path, (-(k.embedding::halfvec(%s) <#> %L::halfvec(%s)))::real
         FROM mediatag.keyframe k WHERE k.dataset_id = %s ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
        d.visual_dim, q::text, d.visual_dim, d.id, d.visual_dim, q::text, d.visual_dim, k);
END $$;

CREATE OR REPLACE FUNCTION mediatag.search_for_labeling(tag_group text, query text, k int DEFAULT 50)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, similarity real,
               current_label boolean)
LANGUAGE sql AS $$
    SELECT s.*, l.label
    FROM mediatag._group(tag_group) g
    CROSS JOIN LATERAL mediatag.search_keyframes((SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id), query, k) s
    LEFT JOIN mediatag.visual_label l ON l.keyframe_id = s.keyframe_id
        AND l.tag_id IN (SELECT id FROM mediatag.tag WHERE group_id = g.id)
$$;

-- The keyframes the classifier is least sure about, spread out rather than near-duplicates. Candidates: the dataset
-- sample and the HNSW neighbourhood of the classifier; once the training dataset is scored, also the keyframes
-- of the whole dataset nearest the threshold band in the score table. All are rescored with the current
-- (draft) classifier before the pick.
-- The keyframes of the scored training dataset whose published score is nearest 0.5 (none before publish).
CREATE OR REPLACE FUNCTION mediatag._scored_boundary(g mediatag.tag_group, t mediatag.tag, n int)
RETURNS TABLE (keyframe_id bigint)
LANGUAGE plpgsql AS $$
DECLARE pos int;
BEGIN
    SELECT vt.position INTO pos FROM mediatag.group_application a
    JOIN mediatag.group_version_tag vt ON vt.group_id = a.group_id AND vt.version = a.scored_version
    WHERE a.group_id = g.id AND a.dataset_id = g.training_dataset_id AND vt.tag_id = t.id;
    IF pos IS NULL OR to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'visual'))) IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format('SELECT v.keyframe_id FROM mediatag_data.%I v WHERE v.dataset_id = %s
                                 ORDER BY abs(v.scores[%s] - 0.5) LIMIT %s',
                                mediatag._score_table(g, 'visual'), g.training_dataset_id, pos, n);
END $$;

CREATE OR REPLACE FUNCTION mediatag.uncertain_keyframes(tag_group text, tag text, k int DEFAULT 20)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, score real)
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'visual');
    kc mediatag.classifier := mediatag._keyframe_classifier(t.id);   -- the face classifier of a person tag
    dim int;
    ids bigint[];
    cand_ids bigint[];
    cand_scores real[];
    cand_blob bytea;
BEGIN
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id;
    IF kc.modality = 'face' THEN
        -- A person tag (person_tags.sql): uncertain by its face scores, as a person concept's continue_labeling.
        RETURN QUERY SELECT * FROM mediatag._face_uncertain(
            g.training_dataset_id, mediatag._tag_face_exemplars(kc), (kc.summary ->> 'max_distance')::real,
            (kc.summary ->> 'exemplars')::int,
            ARRAY(SELECT l.keyframe_id FROM mediatag.visual_label l WHERE l.tag_id = t.id), k);
        RETURN;
    END IF;
    -- Candidates travel as arrays, never through a session scratch table a caller could plant (see roles.sql).
    SELECT array_agg(u.keyframe_id ORDER BY u.keyframe_id), array_agg(u.score ORDER BY u.keyframe_id),
           string_agg(halfvec_send(u.embedding), ''::bytea ORDER BY u.keyframe_id)
      INTO cand_ids, cand_scores, cand_blob
    FROM (SELECT DISTINCT ON (u0.keyframe_id) u0.* FROM (SELECT x.keyframe_id, x.score, x.embedding FROM (
        SELECT s.keyframe_id, s.embedding, mediatag.sigmoid(c.bias - (s.embedding <#> c.weights::halfvec)) AS score
        FROM mediatag.keyframe_sample s WHERE s.dataset_id = g.training_dataset_id
        UNION ALL
        -- The HNSW neighbourhood holds the boundary region for rare tags, which a random sample misses.
        SELECT p.keyframe_id, k2.embedding, p.score FROM mediatag._preview_pool(g, t, 400) p
        JOIN mediatag.keyframe k2 ON k2.id = p.keyframe_id
        UNION ALL
        SELECT b.keyframe_id, k3.embedding, mediatag.sigmoid(c.bias - (k3.embedding <#> c.weights::halfvec))
        FROM mediatag._scored_boundary(g, t, 10 * k) b JOIN mediatag.keyframe k3 ON k3.id = b.keyframe_id
    ) x
    WHERE NOT EXISTS (SELECT 1 FROM mediatag.visual_label l WHERE l.tag_id = t.id AND l.keyframe_id = x.keyframe_id)
    -- The picks spread over the 500 most uncertain (at least 10 k): see mediatag_ml.sql_preview.diverse_uncertain.
    ORDER BY abs(x.score - 0.5) LIMIT greatest(10 * k, 500)) u0 ORDER BY u0.keyframe_id) u;
    ids := mediatag._diverse_uncertain(dim, k, cand_ids, cand_scores, cand_blob);
    RETURN QUERY
    SELECT x.id, kf.asset_id, kf.time_ms, kf.image_path, cand_scores[array_position(cand_ids, x.id)]
    FROM unnest(ids) WITH ORDINALITY AS x(id, ord)
    JOIN mediatag.keyframe kf ON kf.id = x.id
    ORDER BY x.ord;
END $$;

CREATE OR REPLACE FUNCTION mediatag._diverse_uncertain(dim int, k int, ids bigint[], scores real[], blob bytea)
RETURNS bigint[]
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_preview
return sql_preview.diverse_uncertain(dim, k, ids, scores, blob)
$$;
