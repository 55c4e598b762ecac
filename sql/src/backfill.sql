-- Embedding back-fills (`mediatag backfill`, embedder/mediatag/backfill/): rows that lack a vector of a model are
-- handed out as id ranges, embedded by any number of workers (one process or a Ray cluster) and written back one
-- range per transaction. Two cases:
-- 1. Keyframes stored without a vector (`mediatag ingest --ray` decodes and stores, the back-fill embeds): they
--    wait in keyframe_pending, keeping the id they will have, and move into mediatag.keyframe with their vector.
--    Nothing reads a keyframe without a vector: search, scoring and training never see half-ingested rows.
-- 2. Re-embedding a dataset into another model: the new vectors live beside the old ones in keyframe_vector /
--    segment_vector, keyed by (row, model), until switch_dataset_model swaps them in (the old model's vectors then
--    stay in the side table, so switching back costs no embedding).
-- Exactly once: each write is keyed by row id and model (primary keys), inside one transaction per range; a
-- range re-sent after a crash finds its rows done and changes nothing.

CREATE TABLE IF NOT EXISTS mediatag.keyframe_pending (
    id              bigint PRIMARY KEY DEFAULT nextval('mediatag.keyframe_id_seq'),  -- the keyframe's id to be
    dataset_id      bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    asset_id        bigint NOT NULL REFERENCES mediatag.asset(id) ON DELETE CASCADE,
    shot_id         bigint REFERENCES mediatag.shot(id) ON DELETE CASCADE,
    keyframe_index  int NOT NULL,
    time_ms         int NOT NULL DEFAULT 0,
    image_path      text NOT NULL,
    width           int,
    height          int,
    UNIQUE (asset_id, keyframe_index)
);
CREATE INDEX IF NOT EXISTS keyframe_pending_dataset_idx ON mediatag.keyframe_pending (dataset_id, id);

CREATE TABLE IF NOT EXISTS mediatag.keyframe_vector (
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    model        text NOT NULL,
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    embedding    halfvec NOT NULL,
    PRIMARY KEY (keyframe_id, model)
);
CREATE INDEX IF NOT EXISTS keyframe_vector_dataset_idx ON mediatag.keyframe_vector (dataset_id, model);

CREATE TABLE IF NOT EXISTS mediatag.segment_vector (
    segment_id  bigint NOT NULL REFERENCES mediatag.transcript_segment(id) ON DELETE CASCADE,
    model       text NOT NULL,
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    embedding   halfvec NOT NULL,
    PRIMARY KEY (segment_id, model)
);
CREATE INDEX IF NOT EXISTS segment_vector_dataset_idx ON mediatag.segment_vector (dataset_id, model);

-- The dataset (write access checked) and the model a back-fill targets: the dataset's own for the modality when
-- model is NULL. Checks the modality and the model's name.
CREATE OR REPLACE FUNCTION mediatag._backfill_target(dataset text, modality mediatag.embedding_kind, model text, what text,
                                                    OUT d mediatag.dataset, OUT target_model text, OUT own boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM mediatag._required('embedding_kind', modality);
    PERFORM mediatag._require_write(mediatag.dataset_id(dataset), what);
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    target_model := coalesce(model, CASE modality WHEN 'visual' THEN d.visual_model ELSE d.text_model END);
    IF target_model !~ '\S' OR length(target_model) > 500 THEN
        RAISE EXCEPTION 'invalid model name "%": give the name `mediatag models` lists (at most 500 characters)',
            target_model USING ERRCODE = 'invalid_parameter_value';
    END IF;
    own := target_model = CASE modality WHEN 'visual' THEN d.visual_model ELSE d.text_model END;
END $$;

-- The rows of a dataset that lack a vector of the model, with what the model reads (an image's path, a
-- segment's words), between two ids. The one definition of "lacks a vector" the units and the inputs share.
CREATE OR REPLACE FUNCTION mediatag._backfill_missing(d mediatag.dataset, modality text, model text, own boolean,
                                                     first_id bigint, last_id bigint)
RETURNS TABLE (id bigint, input text)
LANGUAGE sql STABLE AS $$
    SELECT p.id, p.image_path FROM mediatag.keyframe_pending p
    WHERE modality = 'visual' AND own AND p.dataset_id = d.id AND p.id BETWEEN first_id AND last_id
    UNION ALL
    SELECT k.id, k.image_path FROM mediatag.keyframe k
    WHERE modality = 'visual' AND NOT own AND k.dataset_id = d.id AND k.id BETWEEN first_id AND last_id
      AND NOT EXISTS (SELECT 1 FROM mediatag.keyframe_vector v WHERE v.keyframe_id = k.id AND v.model = $3)
    UNION ALL
    SELECT s.id, s.text FROM mediatag.transcript_segment s
    WHERE modality = 'transcript' AND NOT own AND s.dataset_id = d.id AND s.id BETWEEN first_id AND last_id
      AND NOT EXISTS (SELECT 1 FROM mediatag.segment_vector v WHERE v.segment_id = s.id AND v.model = $3)
    ORDER BY 1
$$;

CREATE OR REPLACE FUNCTION mediatag.backfill_units(dataset text, modality mediatag.embedding_kind DEFAULT 'visual', model text DEFAULT NULL,
                                                  unit_rows int DEFAULT 256)
RETURNS TABLE (first_id bigint, last_id bigint, rows bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE t record;
BEGIN
    IF unit_rows IS NULL OR unit_rows NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'invalid unit_rows %: give 1 to 100000 rows per work unit', unit_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    t := mediatag._backfill_target(dataset, modality, model, 'back-filling embeddings');
    RETURN QUERY
    SELECT min(m.id), max(m.id), count(*)
    FROM (SELECT x.id, (row_number() OVER (ORDER BY x.id) - 1) / unit_rows AS unit
          FROM mediatag._backfill_missing(t.d, modality, t.target_model, t.own, 0, 9223372036854775807) x) m
    GROUP BY m.unit ORDER BY 1;
END $$;

CREATE OR REPLACE FUNCTION mediatag.backfill_inputs(dataset text, modality mediatag.embedding_kind, model text, first_id bigint,
                                                   last_id bigint)
RETURNS TABLE (id bigint, input text)
LANGUAGE plpgsql STABLE AS $$
DECLARE t record;
BEGIN
    t := mediatag._backfill_target(dataset, modality, model, 'back-filling embeddings');
    RETURN QUERY SELECT m.id, m.input FROM mediatag._backfill_missing(t.d, modality, t.target_model, t.own,
                                                                      first_id, last_id) m;
END $$;

CREATE OR REPLACE FUNCTION mediatag.backfill_store(dataset text, modality mediatag.embedding_kind, model text, ids bigint[],
                                                  vectors halfvec[])
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE t record; dims int[]; want int; n int := 0;
BEGIN
    t := mediatag._backfill_target(dataset, modality, model, 'back-filling embeddings');
    IF cardinality(ids) IS DISTINCT FROM cardinality(vectors) THEN
        RAISE EXCEPTION 'backfill_store got % ids and % vectors: give one vector per id', cardinality(ids),
            cardinality(vectors) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ids) i WHERE i IS NULL) OR EXISTS (SELECT 1 FROM unnest(vectors) v WHERE v IS NULL) THEN
        RAISE EXCEPTION 'backfill_store got a NULL id or vector' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    dims := ARRAY(SELECT DISTINCT vector_dims(v) FROM unnest(vectors) v);
    want := CASE WHEN NOT t.own THEN NULL WHEN modality = 'visual' THEN (t.d).visual_dim ELSE (t.d).text_dim END;
    IF cardinality(dims) <> 1 OR dims[1] <> coalesce(want, dims[1]) THEN
        RAISE EXCEPTION 'vectors of % dimensions for model %: %', array_to_string(dims, ', '), t.target_model,
            coalesce(format('dataset "%s" holds %s', (t.d).name, want), 'one model''s vectors all have one')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF t.own AND modality = 'visual' THEN
        -- Pending keyframes move into place with their vector and keep their id. ON CONFLICT: a range that two
        -- workers got (or a re-run after a crash) is stored once.
        INSERT INTO mediatag.keyframe (id, dataset_id, asset_id, shot_id, keyframe_index, time_ms, image_path, width,
                                       height, embedding)
        SELECT p.id, p.dataset_id, p.asset_id, p.shot_id, p.keyframe_index, p.time_ms, p.image_path, p.width,
               p.height, v.e
        FROM unnest(ids, vectors) v(id, e) JOIN mediatag.keyframe_pending p ON p.id = v.id AND p.dataset_id = (t.d).id
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        DELETE FROM mediatag.keyframe_pending p WHERE p.id = ANY (ids) AND p.dataset_id = (t.d).id;
    ELSIF t.own THEN
        RAISE EXCEPTION 'transcript segments of dataset "%" are stored with their vectors: nothing to back-fill for its own model %',
            (t.d).name, t.target_model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'name another model (model => ...) to re-embed the segments beside the current vectors';
    ELSIF modality = 'visual' THEN
        INSERT INTO mediatag.keyframe_vector AS kv (keyframe_id, model, dataset_id, embedding)
        SELECT k.id, t.target_model, k.dataset_id, v.e
        FROM unnest(ids, vectors) v(id, e) JOIN mediatag.keyframe k ON k.id = v.id AND k.dataset_id = (t.d).id
        ON CONFLICT ON CONSTRAINT keyframe_vector_pkey DO UPDATE SET embedding = excluded.embedding;
        GET DIAGNOSTICS n = ROW_COUNT;
    ELSE
        INSERT INTO mediatag.segment_vector AS sv (segment_id, model, dataset_id, embedding)
        SELECT s.id, t.target_model, s.dataset_id, v.e
        FROM unnest(ids, vectors) v(id, e) JOIN mediatag.transcript_segment s ON s.id = v.id AND s.dataset_id = (t.d).id
        ON CONFLICT ON CONSTRAINT segment_vector_pkey DO UPDATE SET embedding = excluded.embedding;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    RETURN n;
END $$;

-- Per modality and model: the rows with a vector and those still lacking one.
CREATE OR REPLACE FUNCTION mediatag.backfill_status(dataset text)
RETURNS TABLE (modality text, model text, in_use boolean, embedded bigint, missing bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE d mediatag.dataset; kf bigint; seg bigint;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    SELECT count(*) INTO kf FROM mediatag.keyframe k WHERE k.dataset_id = d.id;
    SELECT count(*) INTO seg FROM mediatag.transcript_segment s WHERE s.dataset_id = d.id;
    RETURN QUERY
    SELECT 'visual', d.visual_model, true, kf,
           (SELECT count(*) FROM mediatag.keyframe_pending p WHERE p.dataset_id = d.id)
    UNION ALL
    SELECT 'transcript', d.text_model, true, seg, 0::bigint
    UNION ALL
    (SELECT 'visual', v.model, false, count(*), kf - count(*) FROM mediatag.keyframe_vector v
     WHERE v.dataset_id = d.id AND v.model <> d.visual_model GROUP BY v.model ORDER BY v.model)
    UNION ALL
    (SELECT 'transcript', v.model, false, count(*), seg - count(*) FROM mediatag.segment_vector v
     WHERE v.dataset_id = d.id AND v.model <> d.text_model GROUP BY v.model ORDER BY v.model);
END $$;

-- Makes a model whose vectors a back-fill stored beside the dataset's the dataset's own: its vectors move into
-- the keyframe (or segment) rows, the old model's into the side table, and the dataset's HNSW index of that
-- modality is dropped (the caller rebuilds it: mediatag.index_statements). Refused while anything built on the
-- old vectors exists (tag groups trained on or applied to the dataset, concepts, filter indexes), while a row
-- lacks a vector of the new model, or while keyframes wait for their first vector.
CREATE OR REPLACE FUNCTION mediatag.switch_dataset_model(dataset text, model text, modality mediatag.embedding_kind DEFAULT 'visual')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE t record; d mediatag.dataset; blockers text; missing bigint; dims int[]; n bigint;
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'switching a dataset''s model');
    IF model IS NULL THEN
        RAISE EXCEPTION 'switch_dataset_model needs the model to switch to' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    t := mediatag._backfill_target(dataset, modality, model, 'switching a dataset''s model');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = (t.d).id FOR UPDATE;   -- one switch at a time
    IF t.own THEN
        RAISE EXCEPTION 'dataset "%" already uses % for its % vectors', d.name, model, modality
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(b, '; ') INTO blockers FROM (
        SELECT 'tag groups trained on it: ' || string_agg(g.name, ', ' ORDER BY g.name) AS b
        FROM mediatag.tag_group g WHERE g.training_dataset_id = d.id HAVING count(*) > 0
        UNION ALL
        SELECT 'tag groups applied to it: ' || string_agg(g.name, ', ' ORDER BY g.name)
        FROM mediatag.group_application a JOIN mediatag.tag_group g ON g.id = a.group_id
        WHERE a.dataset_id = d.id AND g.training_dataset_id <> d.id HAVING count(*) > 0
        UNION ALL
        SELECT 'concepts: ' || string_agg(c.name, ', ' ORDER BY c.name)
        FROM mediatag.concept c WHERE c.dataset_id = d.id AND modality = 'visual' HAVING count(*) > 0
        UNION ALL
        SELECT format('%s filter index(es)', count(*)) FROM mediatag.filter_index f
        WHERE f.dataset_id = d.id AND modality = 'visual' HAVING count(*) > 0) x;
    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION 'dataset "%" cannot switch to %: % use the % vectors', d.name, model, blockers,
            CASE modality WHEN 'visual' THEN d.visual_model ELSE d.text_model END
            USING ERRCODE = 'object_in_use',
                  HINT = 'drop them (or re-create the dataset under the new model and apply the groups there) first';
    END IF;
    IF modality = 'visual' AND EXISTS (SELECT 1 FROM mediatag.keyframe_pending p WHERE p.dataset_id = d.id) THEN
        RAISE EXCEPTION 'dataset "%" has keyframes waiting for their first vector', d.name
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = format('run: mediatag backfill %s', d.name);
    END IF;
    SELECT count(*) INTO missing FROM mediatag._backfill_missing(d, modality, model, false, 0, 9223372036854775807);
    IF missing > 0 THEN
        RAISE EXCEPTION 'dataset "%" has % % row(s) without a vector of %', d.name, missing, modality, model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('run: mediatag backfill %s --model %s --modality %s', d.name, model, modality);
    END IF;
    IF modality = 'visual' THEN
        dims := ARRAY(SELECT DISTINCT vector_dims(v.embedding) FROM mediatag.keyframe_vector v
                      WHERE v.dataset_id = d.id AND v.model = switch_dataset_model.model);
    ELSE
        dims := ARRAY(SELECT DISTINCT vector_dims(v.embedding) FROM mediatag.segment_vector v
                      WHERE v.dataset_id = d.id AND v.model = switch_dataset_model.model);
    END IF;
    IF cardinality(dims) <> 1 THEN
        RAISE EXCEPTION 'dataset "%" holds no vectors of % (or vectors of several sizes: %)', d.name, model, dims
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('run: mediatag backfill %s --model %s --modality %s', d.name, model, modality);
    END IF;
    IF modality = 'visual' THEN
        -- The index is dropped first so the rows' update does not maintain a graph of the old model.
        EXECUTE format('DROP INDEX IF EXISTS mediatag.%I', 'keyframe_hnsw_ds' || d.id);
        INSERT INTO mediatag.keyframe_vector (keyframe_id, model, dataset_id, embedding)
        SELECT k.id, d.visual_model, k.dataset_id, k.embedding FROM mediatag.keyframe k WHERE k.dataset_id = d.id
        ON CONFLICT ON CONSTRAINT keyframe_vector_pkey DO UPDATE SET embedding = excluded.embedding;
        UPDATE mediatag.keyframe k SET embedding = v.embedding FROM mediatag.keyframe_vector v
        WHERE v.keyframe_id = k.id AND v.model = switch_dataset_model.model AND k.dataset_id = d.id;
        GET DIAGNOSTICS n = ROW_COUNT;
        DELETE FROM mediatag.keyframe_vector v WHERE v.dataset_id = d.id AND v.model = switch_dataset_model.model;
        DELETE FROM mediatag.keyframe_sample s WHERE s.dataset_id = d.id;   -- copies of the old vectors
        UPDATE mediatag.dataset x_ SET visual_model = switch_dataset_model.model, visual_dim = dims[1] WHERE x_.id = d.id;
    ELSE
        EXECUTE format('DROP INDEX IF EXISTS mediatag.%I', 'transcript_hnsw_ds' || d.id);
        INSERT INTO mediatag.segment_vector (segment_id, model, dataset_id, embedding)
        SELECT s.id, d.text_model, s.dataset_id, s.embedding FROM mediatag.transcript_segment s WHERE s.dataset_id = d.id
        ON CONFLICT ON CONSTRAINT segment_vector_pkey DO UPDATE SET embedding = excluded.embedding;
        UPDATE mediatag.transcript_segment s SET embedding = v.embedding FROM mediatag.segment_vector v
        WHERE v.segment_id = s.id AND v.model = switch_dataset_model.model AND s.dataset_id = d.id;
        GET DIAGNOSTICS n = ROW_COUNT;
        DELETE FROM mediatag.segment_vector v WHERE v.dataset_id = d.id AND v.model = switch_dataset_model.model;
        DELETE FROM mediatag.transcript_sample s WHERE s.dataset_id = d.id;
        UPDATE mediatag.dataset x_ SET text_model = switch_dataset_model.model, text_dim = dims[1] WHERE x_.id = d.id;
    END IF;
    RETURN n;
END $$;

COMMENT ON FUNCTION mediatag.backfill_units(text, mediatag.embedding_kind, text, integer) IS
'Splits the dataset''s rows that lack a vector of a model into work units (id ranges) for `mediatag backfill`. Editors of the dataset.
dataset: the dataset''s name
modality: visual (keyframes) or transcript (transcript segments) (default visual)
model: the model whose vectors are back-filled (default NULL: the dataset''s own: keyframes stored without a vector)
unit_rows: rows per work unit, 1 to 100000 (default 256)
Returns: one row per unit: first_id, last_id and the number of rows lacking a vector between them.';

COMMENT ON FUNCTION mediatag.backfill_inputs(text, mediatag.embedding_kind, text, bigint, bigint) IS
'Lists the rows of one work unit that still lack a vector of the model, with what the model reads. Editors of the dataset.
dataset: the dataset''s name
modality: visual (keyframes) or transcript (transcript segments)
model: the model (NULL: the dataset''s own)
first_id: the unit''s first row id
last_id: the unit''s last row id
Returns: id and input (a keyframe''s image path or a segment''s words) per row, by id.';

COMMENT ON FUNCTION mediatag.backfill_store(text, mediatag.embedding_kind, text, bigint[], halfvec[]) IS
'Stores back-filled vectors, once per row and model: keyframes waiting for their first vector move into place, other models'' vectors go beside the dataset''s. Editors of the dataset.
dataset: the dataset''s name
modality: visual (keyframes) or transcript (transcript segments)
model: the model that made the vectors (NULL: the dataset''s own)
ids: the rows'' ids (keyframe or transcript segment ids of the dataset; others are ignored)
vectors: one vector per id, all of one dimension (the dataset''s for its own model)
Returns: the number of rows stored (rows already stored by an earlier write are not counted twice).';

COMMENT ON FUNCTION mediatag.backfill_status(text) IS
'Shows, per modality and model, how many rows of the dataset have a vector and how many still lack one. Viewers.
dataset: the dataset''s name
Returns: modality, model, in_use (the model the dataset searches and scores with), embedded and missing rows.';

COMMENT ON FUNCTION mediatag.switch_dataset_model(text, text, mediatag.embedding_kind) IS
'Makes a back-filled model the dataset''s own: its vectors replace the current ones, which stay beside them; the HNSW index of that modality is dropped for a rebuild. Admins.
dataset: the dataset''s name
model: the model to switch to (every row needs a vector of it: mediatag backfill --model)
modality: visual (keyframes) or transcript (transcript segments) (default visual)
Returns: the number of rows whose vector changed; refused while tag groups, concepts or filter indexes use the dataset''s vectors.';
