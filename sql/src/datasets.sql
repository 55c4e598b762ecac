-- Datasets: creation (bound to their models), per-dataset views and indexes, post-ingest hooks.

ALTER TABLE mediatag.dataset ADD COLUMN IF NOT EXISTS slug text UNIQUE;

CREATE OR REPLACE FUNCTION mediatag._unique_slug(base text, taken text[], max_len int DEFAULT 40) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE s text := mediatag.slug(base, max_len); n int := 1; candidate text := s;
BEGIN
    WHILE candidate = ANY (taken) LOOP
        n := n + 1;
        candidate := s || '_' || n;
    END LOOP;
    RETURN candidate;
END $$;

CREATE OR REPLACE FUNCTION mediatag.create_dataset(
    name text, visual_model text, visual_dim int, text_model text, text_dim int, description text DEFAULT ''
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset;
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid dataset name "%": use letters, digits, spaces, "_", "." or "-" (at most 63, starting with a letter or digit)', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mediatag._require_role('mediatag_editor', 'creating or ingesting into a dataset');
    -- Serialise creators so two ingests of a new dataset cannot race on the slug.
    PERFORM pg_advisory_xact_lock(hashtext('mediatag.create_dataset'));
    SELECT * INTO d FROM mediatag.dataset AS x WHERE x.name = create_dataset.name;
    IF FOUND THEN
        PERFORM mediatag._require_write(mediatag.dataset_id(name), 'ingesting into a dataset');
        IF d.visual_model <> create_dataset.visual_model OR d.text_model <> create_dataset.text_model THEN
            RAISE EXCEPTION 'dataset "%" is bound to models % / %, not % / %: vectors of different models never mix',
                name, d.visual_model, d.text_model, create_dataset.visual_model, create_dataset.text_model
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN d.id;
    END IF;
    INSERT INTO mediatag.dataset (name, description, visual_model, visual_dim, text_model, text_dim, slug)
    VALUES (name, coalesce(description, ''), visual_model, visual_dim, text_model, text_dim,
            mediatag._unique_slug(name, ARRAY(SELECT slug FROM mediatag.dataset)))
    RETURNING id INTO d.id;
    PERFORM mediatag.refresh_dataset_views(name);
    RETURN d.id;
END $$;

-- Drops the dataset, its assets and everything derived: groups trained on it (with their score tables) and its
-- partitions of the score tables of groups applied to it.
CREATE OR REPLACE FUNCTION mediatag.drop_dataset(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset; g mediatag.tag_group;
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'dropping a dataset');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    FOR g IN SELECT * FROM mediatag.tag_group x WHERE x.training_dataset_id = d.id LOOP
        PERFORM mediatag.drop_tag_group(g.name);
    END LOOP;
    FOR g IN SELECT x.* FROM mediatag.tag_group x JOIN mediatag.group_application a ON a.group_id = x.id
             WHERE a.dataset_id = d.id LOOP
        PERFORM mediatag._drop_score_partitions(g, d.id);
    END LOOP;
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I, mediatag_data.%I',
                   d.slug || '_keyframes', d.slug || '_assets');
    DELETE FROM mediatag.dataset x_ WHERE x_.id = d.id;
END $$;

-- One view per dataset with the user metadata keys as text columns, so BI tools see plain columns
-- (SeriesName, EpisodeName, …) next to the keyframe ids. Rebuilt when new keys appear.
CREATE OR REPLACE FUNCTION mediatag.refresh_dataset_views(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d mediatag.dataset;
    cols text := '';
    k text;
    reserved text[] := ARRAY['dataset', 'keyframe_id', 'coactive_image_id', 'asset_id', 'video_id', 'shot_id',
                             'keyframe_index', 'keyframe_time_ms', 'path', 'asset_path', 'kind', 'metadata', 'embedding'];
BEGIN
    PERFORM mediatag._require_write(mediatag.dataset_id(dataset), 'refreshing dataset views');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    FOR k IN SELECT DISTINCT jsonb_object_keys(a.metadata) AS key FROM mediatag.asset a
             WHERE a.dataset_id = d.id ORDER BY 1 LOOP
        IF lower(k) = ANY (reserved) OR length(k) > 60 THEN CONTINUE; END IF;
        cols := cols || format(', a.metadata ->> %L AS %I', k, k);
    END LOOP;
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I', d.slug || '_keyframes');
    EXECUTE format($v$CREATE VIEW mediatag_data.%I AS
        SELECT k.id AS keyframe_id, k.id AS coactive_image_id, k.asset_id,
               CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
               k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata %s
        FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id
        WHERE k.dataset_id = %s AND mediatag._can_read_dataset(%s)$v$, d.slug || '_keyframes', cols, d.id, d.id);
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I', d.slug || '_assets');
    EXECUTE format($v$CREATE VIEW mediatag_data.%I AS
        SELECT a.id AS asset_id, CASE WHEN a.kind = 'video' THEN a.id END AS video_id, a.kind, a.path,
               a.duration_ms, a.width, a.height, a.size_bytes, a.status, a.error, a.metadata %s
        FROM mediatag.asset a WHERE a.dataset_id = %s AND mediatag._can_read_dataset(%s)$v$, d.slug || '_assets', cols, d.id, d.id);
    EXECUTE format('GRANT SELECT ON mediatag_data.%I, mediatag_data.%I TO mediatag_viewer, mediatag_query',
                   d.slug || '_keyframes', d.slug || '_assets');
END $$;

-- HNSW indexes are partial per dataset, on the embedding cast to the dataset's dimension, because one column
-- holds vectors of several models. Built once after a bulk load; later inserts maintain them.
CREATE OR REPLACE FUNCTION mediatag.build_indexes(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset;
BEGIN
    PERFORM mediatag._require_write(mediatag.dataset_id(dataset), 'building indexes');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON mediatag.keyframe USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WHERE dataset_id = %s',
                   'keyframe_hnsw_ds' || d.id, d.visual_dim, d.id);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON mediatag.transcript_segment USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WHERE dataset_id = %s',
                   'transcript_hnsw_ds' || d.id, d.text_dim, d.id);
END $$;

-- Called by the ingester after a batch is committed: refresh the metadata views, make sure the indexes exist,
-- and queue scoring of the new assets for every tag group applied to the dataset.
CREATE OR REPLACE FUNCTION mediatag.after_ingest(dataset text, new_assets bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); n int := 0;
BEGIN
    PERFORM mediatag._require_write(d, 'finishing an ingest');
    PERFORM mediatag.refresh_dataset_views(dataset);
    PERFORM mediatag.build_indexes(dataset);
    IF coalesce(array_length(new_assets, 1), 0) > 0 THEN
        n := mediatag._queue_scoring_for_new_assets(d, new_assets);
    END IF;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.dataset_summary(dataset text DEFAULT NULL)
RETURNS TABLE (name text, visual_model text, text_model text, images bigint, videos bigint, errors bigint,
               shots bigint, keyframes bigint, transcript_segments bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.name, d.visual_model, d.text_model,
           (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.kind = 'image' AND a.status = 'ingested'),
           (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.kind = 'video' AND a.status = 'ingested'),
           (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.status = 'error'),
           (SELECT count(*) FROM mediatag.shot s JOIN mediatag.asset a ON a.id = s.asset_id WHERE a.dataset_id = d.id),
           (SELECT count(*) FROM mediatag.keyframe k WHERE k.dataset_id = d.id),
           (SELECT count(*) FROM mediatag.transcript_segment t WHERE t.dataset_id = d.id)
    FROM mediatag.dataset d
    WHERE (dataset IS NULL OR d.name = dataset) AND mediatag._can_read_dataset(d.id)
    ORDER BY d.name
$$;
