-- Datasets: creation (bound to their models), per-dataset views and indexes, post-ingest hooks.

ALTER TABLE mediatag.dataset ADD COLUMN IF NOT EXISTS slug text UNIQUE;

-- When the post-ingest work (views, scoring of applied groups, sample top-up) was done for an asset; NULL while
-- it is pending. An ingest that stopped after committing files leaves its assets pending, and the next
-- after_ingest of the dataset (any later ingest) does the work for them. Rows that existed before this column
-- get now() (their ingest had its post-ingest step), new rows NULL.
ALTER TABLE mediatag.asset ADD COLUMN IF NOT EXISTS post_ingest_at timestamptz DEFAULT now();
ALTER TABLE mediatag.asset ALTER COLUMN post_ingest_at DROP DEFAULT;
CREATE INDEX IF NOT EXISTS asset_post_ingest_pending_idx ON mediatag.asset (dataset_id) WHERE post_ingest_at IS NULL;
-- Which ingest run stored the asset, and whether a run reached its post-ingest step.
ALTER TABLE mediatag.asset ADD COLUMN IF NOT EXISTS ingest_run_id bigint;
ALTER TABLE mediatag.ingest_run ADD COLUMN IF NOT EXISTS post_ingest_at timestamptz;

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

-- A dataset name create_dataset (and queue_ingest) accepts; raises otherwise.
CREATE OR REPLACE FUNCTION mediatag._check_dataset_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid dataset name "%": use letters, digits, spaces, "_", "." or "-" (at most 63, starting with a letter or digit)', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION mediatag.create_dataset(
    name text, visual_model text, visual_dim int, text_model text, text_dim int, description text DEFAULT ''
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset;
BEGIN
    PERFORM mediatag._check_dataset_name(name);
    PERFORM mediatag._require_role('mediatag_editor', 'creating or ingesting into a dataset');
    -- Serialise creators so two ingests of a new dataset cannot race on the slug.
    PERFORM 1 FROM mediatag.named_lock l WHERE l.name = 'create_dataset' FOR UPDATE;
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
DECLARE d mediatag.dataset; g mediatag.tag_group; fid bigint;
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
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%1$I, mediatag_data.%2$I, mediatag_bi.%1$I, mediatag_bi.%2$I',
                   d.slug || '_keyframes', d.slug || '_assets');
    FOR fid IN SELECT f.id FROM mediatag.filter_index f WHERE f.dataset_id = d.id LOOP
        EXECUTE format('DROP INDEX IF EXISTS mediatag.%I', mediatag._filter_index_name(fid));
    END LOOP;
    DELETE FROM mediatag.dataset x_ WHERE x_.id = d.id;
END $$;

-- One view per dataset with the user metadata keys as text columns, so BI tools see plain columns
-- (SeriesName, EpisodeName, …) next to the keyframe ids. Rebuilt when new keys appear. A key that equals one
-- of the views' own columns (width, status, duration_ms, path, …, and `reserved`: the curated views' own) is
-- exposed as meta_<key> (meta_width), with more underscores if that is taken too, so any key works and the fixed
-- columns keep their meaning. Keys are case-sensitive column names ("Width" is its own column); empty keys and
-- keys longer than 60 characters have no column (they stay in the metadata jsonb column). Rows: each key and its
-- column, in key order.
CREATE OR REPLACE FUNCTION mediatag._metadata_columns(dataset_id bigint, reserved text[] DEFAULT '{}')
RETURNS TABLE (key text, col text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k text;
    fixed text[] := ARRAY['dataset', 'keyframe_id', 'coactive_image_id', 'asset_id', 'video_id', 'shot_id',
                          'keyframe_index', 'keyframe_time_ms', 'path', 'asset_path', 'kind', 'metadata', 'embedding',
                          'duration_ms', 'width', 'height', 'size_bytes', 'status', 'error'] || reserved;
    taken text[];
    keys text[];
BEGIN
    keys := ARRAY(SELECT DISTINCT jsonb_object_keys(a.metadata) FROM mediatag.asset a
                  WHERE a.dataset_id = _metadata_columns.dataset_id ORDER BY 1);
    taken := fixed || keys;   -- a user key is never renamed onto another user key
    FOREACH k IN ARRAY keys LOOP
        IF k = '' OR length(k) > 60 THEN CONTINUE; END IF;
        key := k;
        col := k;
        IF k = ANY (fixed) THEN
            col := 'meta_' || k;
            WHILE col = ANY (taken) LOOP
                col := 'meta_' || col;
            END LOOP;
            taken := taken || col;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- The dataset's views: mediatag_data.<slug>_keyframes / _assets, and their curated twins in mediatag_bi (README
-- "Connect a BI tool") with the dataset's name, when each asset was ingested and the UI's keyframe image, and a
-- comment on every column.
CREATE OR REPLACE FUNCTION mediatag.refresh_dataset_views(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d mediatag.dataset;
    cols text;
    curated_cols text;
    curated_keys jsonb;
BEGIN
    PERFORM mediatag._require_write(mediatag.dataset_id(dataset), 'refreshing dataset views');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    SELECT coalesce(string_agg(format(', a.metadata ->> %L AS %I', m.key, m.col), '' ORDER BY m.key), '')
    INTO cols FROM mediatag._metadata_columns(d.id) m;
    SELECT coalesce(string_agg(format(', a.metadata ->> %L AS %I', m.key, m.col), '' ORDER BY m.key), ''),
           coalesce(jsonb_object_agg(m.col, m.key), '{}')
    INTO curated_cols, curated_keys
    FROM mediatag._metadata_columns(d.id, ARRAY['ingested_at', 'keyframe_url', 'first_keyframe_id']) m;
    -- Replaced in place, keeping grants and what users built on them (see _replace_view).
    PERFORM mediatag._replace_view(d.slug || '_keyframes', format($v$
        SELECT k.id AS keyframe_id, k.id AS coactive_image_id, k.asset_id,
               CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
               k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata %s
        FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id
        WHERE k.dataset_id = %s AND mediatag._can_read_dataset(%s)$v$, cols, d.id, d.id));
    PERFORM mediatag._replace_view(d.slug || '_assets', format($v$
        SELECT a.id AS asset_id, CASE WHEN a.kind = 'video' THEN a.id END AS video_id, a.kind, a.path,
               a.duration_ms, a.width, a.height, a.size_bytes, a.status, a.error, a.metadata %s
        FROM mediatag.asset a WHERE a.dataset_id = %s AND mediatag._can_read_dataset(%s)$v$, cols, d.id, d.id));
    -- The name is joined, not written into the definition: every login can read a view's definition.
    PERFORM mediatag._replace_view(d.slug || '_keyframes', format($v$
        SELECT x.name AS dataset, k.id AS keyframe_id, k.id AS coactive_image_id, k.asset_id,
               CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
               k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata,
               a.created_at AS ingested_at, %s AS keyframe_url %s
        FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id JOIN mediatag.dataset x ON x.id = k.dataset_id
        WHERE k.dataset_id = %s AND mediatag._can_read_dataset(%s)$v$,
        mediatag._keyframe_url_sql('k.id'), curated_cols, d.id, d.id), 'mediatag_bi');
    -- An asset's picture is its first keyframe (an index lookup per asset).
    PERFORM mediatag._replace_view(d.slug || '_assets', format($v$
        SELECT x.name AS dataset, a.id AS asset_id, CASE WHEN a.kind = 'video' THEN a.id END AS video_id, a.kind,
               a.path, a.duration_ms, a.width, a.height, a.size_bytes, a.status, a.error, a.metadata,
               a.created_at AS ingested_at, f.id AS first_keyframe_id, %s AS keyframe_url %s
        FROM mediatag.asset a JOIN mediatag.dataset x ON x.id = a.dataset_id
        LEFT JOIN LATERAL (SELECT k.id FROM mediatag.keyframe k WHERE k.asset_id = a.id
                           ORDER BY k.keyframe_index LIMIT 1) f ON true
        WHERE a.dataset_id = %s AND mediatag._can_read_dataset(%s)$v$,
        mediatag._keyframe_url_sql('f.id'), curated_cols, d.id, d.id), 'mediatag_bi');
    PERFORM mediatag._comment_bi_view(d.slug || '_keyframes', 'keyframes', curated_keys);
    PERFORM mediatag._comment_bi_view(d.slug || '_assets', 'assets', curated_keys);
    EXECUTE format('GRANT SELECT ON mediatag_data.%1$I, mediatag_data.%2$I, mediatag_bi.%1$I, mediatag_bi.%2$I
                    TO mediatag_viewer, mediatag_query', d.slug || '_keyframes', d.slug || '_assets');
END $$;

-- HNSW build parameters of every per-dataset index. ef_construction 128 rather than pgvector's default 64: on 1M
-- clustered keyframes (bench/bench_search.py) the default graph capped recall@100 at 0.959 whatever ef_search
-- (a few queries' neighbourhoods were barely linked), 128 gives 0.976 at ef_search 150-600 with p95 24-29 ms.
-- It doubles the build (1M on 2 cores: ~11 -> ~22 min quiet), paid once per dataset.
CREATE OR REPLACE FUNCTION mediatag._hnsw_options() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'm = 16, ef_construction = 128' $$;

-- HNSW indexes are partial per dataset, on the embedding cast to the dataset's dimension, because one column
-- holds vectors of several models. Built once after a bulk load; later inserts maintain them.
CREATE OR REPLACE FUNCTION mediatag.build_indexes(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset; f mediatag.filter_index;
BEGIN
    PERFORM mediatag._require_write(mediatag.dataset_id(dataset), 'building indexes');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON mediatag.keyframe USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WITH (%s) WHERE dataset_id = %s',
                   'keyframe_hnsw_ds' || d.id, d.visual_dim, mediatag._hnsw_options(), d.id);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON mediatag.transcript_segment USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WITH (%s) WHERE dataset_id = %s',
                   'transcript_hnsw_ds' || d.id, d.text_dim, mediatag._hnsw_options(), d.id);
    FOR f IN SELECT x_.* FROM mediatag.filter_index x_ WHERE x_.dataset_id = d.id LOOP  -- e.g. after a restore
        EXECUTE mediatag._filter_index_ddl(f, false);
    END LOOP;
END $$;

-- Whether index mediatag.<name> is valid: NULL when it does not exist, false when an interrupted CREATE INDEX
-- CONCURRENTLY left it behind.
CREATE OR REPLACE FUNCTION mediatag._index_valid(name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid = to_regclass(format('mediatag.%I', name))
$$;

-- The statements that create the dataset's HNSW indexes that are missing (or invalid, left by an interrupted
-- CREATE INDEX CONCURRENTLY, which are dropped first): its keyframe and transcript graphs, and the graphs of its
-- filter indexes (a restore carries their rows, not their indexes). The ingester runs them from its own autocommit
-- connection after its data is committed: CONCURRENTLY does not block inserts into the shared keyframe table,
-- so ingests into other datasets go on while the index builds.
CREATE OR REPLACE FUNCTION mediatag.index_statements(dataset text) RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
DECLARE d mediatag.dataset; spec record; valid boolean;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    FOR spec IN
        SELECT v.name, format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON mediatag.%I USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WITH (%s) WHERE dataset_id = %s',
                              v.name, v.tbl, v.dim, mediatag._hnsw_options(), d.id) AS ddl, 0 AS o
        FROM (VALUES ('keyframe_hnsw_ds' || d.id, 'keyframe', d.visual_dim),
                     ('transcript_hnsw_ds' || d.id, 'transcript_segment', d.text_dim)) v(name, tbl, dim)
        UNION ALL
        SELECT mediatag._filter_index_name(f.id), mediatag._filter_index_ddl(f, true), f.id
        FROM mediatag.filter_index f WHERE f.dataset_id = d.id
        ORDER BY o, name LOOP
        valid := mediatag._index_valid(spec.name);
        IF valid THEN CONTINUE; END IF;
        IF valid IS NOT NULL THEN
            RETURN NEXT format('DROP INDEX CONCURRENTLY IF EXISTS mediatag.%I', spec.name);
        END IF;
        RETURN NEXT spec.ddl;
    END LOOP;
END $$;

-- New keyframes join the calibration / preview sample only while it is below its size: the sample is not
-- redrawn on every ingest (that would change calibration under users' feet, and costs a scan of the dataset).
CREATE OR REPLACE FUNCTION mediatag._top_up_samples(dataset_id bigint, new_assets bigint[], size int DEFAULT 10000) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE have int; n int := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mediatag.keyframe_sample s WHERE s.dataset_id = _top_up_samples.dataset_id) THEN
        RETURN 0;   -- no sample drawn yet: the first training draws it from everything
    END IF;
    SELECT count(*) INTO have FROM mediatag.keyframe_sample s WHERE s.dataset_id = _top_up_samples.dataset_id;
    IF have < size THEN
        INSERT INTO mediatag.keyframe_sample
        SELECT k.dataset_id, k.id, k.embedding FROM mediatag.keyframe k
        WHERE k.asset_id = ANY (new_assets) ORDER BY random() LIMIT size - have
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    SELECT count(*) INTO have FROM mediatag.transcript_sample s WHERE s.dataset_id = _top_up_samples.dataset_id;
    IF have < size THEN
        INSERT INTO mediatag.transcript_sample
        SELECT t.dataset_id, t.id, t.embedding FROM mediatag.transcript_segment t
        WHERE t.asset_id = ANY (new_assets) ORDER BY random() LIMIT size - have
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN n;
END $$;

-- Called by the ingester after its batches are committed, and safe to call any time (idempotent): for every
-- asset of the dataset whose post-ingest work is pending (this run's, and those of runs that stopped before
-- reaching this step), refresh the metadata views, top up the sample and queue the scoring of those assets for
-- every tag group applied to the dataset; then mark them done. new_assets is accepted for compatibility: the
-- pending set already holds them. Returns the number of groups whose scoring was queued. Index builds are not
-- done here (see index_statements); build_indexes() remains for callers that want them in one transaction.
DROP FUNCTION IF EXISTS mediatag.after_ingest(text, bigint[]);   -- the 2-argument form of earlier releases
CREATE OR REPLACE FUNCTION mediatag.after_ingest(dataset text, new_assets bigint[] DEFAULT NULL, ingest_run bigint DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); n int := 0; pending bigint[]; scorable bigint[];
BEGIN
    PERFORM mediatag._require_write(d, 'finishing an ingest');
    -- SKIP LOCKED: a concurrent after_ingest of the same dataset takes the rows it sees; each asset is handled once.
    -- An asset whose keyframes still wait for their vectors (ingest --ray, backfill.sql) stays pending: the
    -- back-fill calls this again once they are in place.
    pending := ARRAY(SELECT a.id FROM mediatag.asset a WHERE a.dataset_id = d AND a.post_ingest_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM mediatag.keyframe_pending p WHERE p.asset_id = a.id)
                     ORDER BY a.id FOR UPDATE SKIP LOCKED);
    PERFORM mediatag.refresh_dataset_views(dataset);
    scorable := ARRAY(SELECT a.id FROM mediatag.asset a WHERE a.id = ANY (pending) AND a.status = 'ingested' ORDER BY a.id);
    IF cardinality(scorable) > 0 THEN
        PERFORM mediatag._top_up_samples(d, scorable);
        PERFORM mediatag._filter_index_add(d, scorable);
        n := mediatag._queue_scoring_for_new_assets(d, scorable);
    END IF;
    UPDATE mediatag.asset a SET post_ingest_at = now() WHERE a.id = ANY (pending);
    IF ingest_run IS NOT NULL THEN
        UPDATE mediatag.ingest_run r SET post_ingest_at = now() WHERE r.id = after_ingest.ingest_run AND r.dataset_id = d;
    END IF;
    RETURN n;
END $$;

-- Assets whose post-ingest work is pending (an ingest that stopped before its end), per dataset.
CREATE OR REPLACE FUNCTION mediatag.pending_post_ingest(dataset text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = mediatag.dataset_id(dataset) AND a.post_ingest_at IS NULL
$$;

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
