-- Filter indexes: an HNSW graph of its own over the keyframes whose asset metadata contains one filter, for the
-- metadata filters a team searches by every day (a series, a channel, a client).
--
-- Why: a filtered search over the dataset's graph (hnsw.iterative_scan) walks past ~1/selectivity rejected
-- keyframes for every one it returns, and that walk, not the vector math, is what a filtered search costs
-- (docs/concepts-and-search.md: a 10 % filter at 1M keyframes p95 32-38 ms against ~25 ms unfiltered on a slow
-- host, whatever the filter's form). A graph over just the matching keyframes is searched like an unfiltered one,
-- and text queries get probe walks among its members (recall@100 0.49 -> 0.75 at 1M). This is
-- pgvector's own advice for filters over a few distinct values (a partial index per value); the rows live in
-- filter_index_row rather than as a partial index on keyframe because a partial index needs its predicate on
-- the keyframe row, and the metadata is the asset's (copying it onto every keyframe would turn a metadata
-- edit into a re-insert of every keyframe of the asset into every HNSW index of the table).
--
-- Kept current: new assets join in after_ingest (the step that also queues their scoring), in the transaction
-- that marks them post-ingested; search() does not use a dataset's filter indexes while any of its assets is
-- still pending that step, so a filtered search never misses a keyframe the generic path would return. A
-- metadata or embedding edit updates the rows by trigger; deleted keyframes leave through their foreign key.
-- Tables: mediatag.filter_index, mediatag.filter_index_row (schema.sql).

CREATE OR REPLACE FUNCTION mediatag._filter_index_name(filter_index_id bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'filter_hnsw_fi' || filter_index_id $$;

-- The statement that builds one filter index's graph (partial on its id, over the dataset's dimension).
CREATE OR REPLACE FUNCTION mediatag._filter_index_ddl(f mediatag.filter_index, build_concurrently boolean) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('CREATE INDEX %s IF NOT EXISTS %I ON mediatag.filter_index_row USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WITH (%s) WHERE filter_index_id = %s',
                  CASE WHEN build_concurrently THEN 'CONCURRENTLY' ELSE '' END, mediatag._filter_index_name(f.id),
                  (SELECT d.visual_dim FROM mediatag.dataset d WHERE d.id = f.dataset_id), mediatag._hnsw_options(), f.id)
$$;

CREATE OR REPLACE FUNCTION mediatag._check_filter_metadata(metadata jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF metadata IS NULL OR jsonb_typeof(metadata) <> 'object' OR metadata = '{}' THEN
        RAISE EXCEPTION 'a filter index needs a non-empty JSON object of metadata such as {"SeriesName": "..."}, got %',
            coalesce(metadata::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- The keyframes of `assets` (post-ingested assets of the dataset) that belong to the dataset's filter indexes.
CREATE OR REPLACE FUNCTION mediatag._filter_index_add(dataset_id bigint, assets bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    INSERT INTO mediatag.filter_index_row (filter_index_id, keyframe_id, dataset_id, embedding)
    SELECT f.id, k.id, k.dataset_id, k.embedding
    FROM mediatag.filter_index f
    JOIN mediatag.asset a ON a.dataset_id = f.dataset_id AND a.metadata @> f.metadata
    JOIN mediatag.keyframe k ON k.asset_id = a.id
    WHERE f.dataset_id = _filter_index_add.dataset_id AND a.id = ANY (assets)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag._filter_index_asset_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mediatag.filter_index_row r USING mediatag.filter_index f, mediatag.keyframe k
    WHERE f.id = r.filter_index_id AND f.dataset_id = NEW.dataset_id AND NOT NEW.metadata @> f.metadata
      AND k.id = r.keyframe_id AND k.asset_id = NEW.id;
    IF NEW.post_ingest_at IS NOT NULL THEN  -- otherwise after_ingest adds it
        PERFORM mediatag._filter_index_add(NEW.dataset_id, ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER filter_index_asset_metadata AFTER UPDATE OF metadata ON mediatag.asset
    FOR EACH ROW WHEN (OLD.metadata IS DISTINCT FROM NEW.metadata) EXECUTE FUNCTION mediatag._filter_index_asset_changed();

CREATE OR REPLACE FUNCTION mediatag._filter_index_embedding_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mediatag.filter_index_row r SET embedding = NEW.embedding WHERE r.keyframe_id = NEW.id;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER filter_index_keyframe_embedding AFTER UPDATE OF embedding ON mediatag.keyframe
    FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding) EXECUTE FUNCTION mediatag._filter_index_embedding_changed();

-- Creates the filter index of `metadata` on the dataset (its rows and its graph, in this transaction: the build
-- holds a lock that blocks other writes to filter indexes until it commits, ~35 s per 100,000 keyframes on
-- 2 cores). Idempotent: an existing one is returned as it is. Editors of the dataset and admins.
CREATE OR REPLACE FUNCTION mediatag.create_filter_index(dataset text, metadata jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); f mediatag.filter_index; n bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'creating a filter index');
    PERFORM mediatag._check_filter_metadata(metadata);
    SELECT x_.* INTO f FROM mediatag.filter_index x_ WHERE x_.dataset_id = d AND x_.metadata = create_filter_index.metadata;
    IF FOUND THEN
        RAISE NOTICE 'dataset "%" already has a filter index on %', dataset, metadata;
        RETURN f.id;
    END IF;
    INSERT INTO mediatag.filter_index (dataset_id, metadata) VALUES (d, metadata) RETURNING * INTO f;
    n := mediatag._filter_index_add(d, ARRAY(SELECT a.id FROM mediatag.asset a WHERE a.dataset_id = d
                                             AND a.post_ingest_at IS NOT NULL AND a.metadata @> f.metadata));
    IF n = 0 THEN
        RAISE NOTICE 'no keyframe of dataset "%" matches % yet: new ingests that match will join the index', dataset, metadata;
    END IF;
    IF pg_catalog.pg_size_bytes(current_setting('maintenance_work_mem')) < 1024 * 1024 * 1024 THEN
        PERFORM set_config('maintenance_work_mem', '1GB', true);  -- an HNSW graph that fits builds ~10x faster
    END IF;
    EXECUTE mediatag._filter_index_ddl(f, false);
    RETURN f.id;
END $$;

CREATE OR REPLACE FUNCTION mediatag.drop_filter_index(dataset text, metadata jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); fid bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'dropping a filter index');
    DELETE FROM mediatag.filter_index f WHERE f.dataset_id = d AND f.metadata = drop_filter_index.metadata RETURNING f.id INTO fid;
    IF fid IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP INDEX IF EXISTS mediatag.%I', mediatag._filter_index_name(fid));
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION mediatag.filter_indexes(dataset text)
RETURNS TABLE (filter_index_id bigint, metadata jsonb, keyframes bigint, index_valid boolean, created_by text,
               created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT f.id, f.metadata, (SELECT count(*) FROM mediatag.filter_index_row r WHERE r.filter_index_id = f.id),
           coalesce(mediatag._index_valid(mediatag._filter_index_name(f.id)), false),
           f.created_by, f.created_at
    FROM mediatag.filter_index f WHERE f.dataset_id = mediatag.dataset_id(dataset) ORDER BY f.id
$$;

-- The filter index search() walks for a metadata filter: one whose metadata the filter contains (the filter may
-- say more; the rest is checked row by row), with a valid graph, the smallest of them, and none while an asset
-- of the dataset awaits its post-ingest step (its keyframes are not in the filter indexes yet).
CREATE OR REPLACE FUNCTION mediatag._search_filter_index(dataset_id bigint, metadata jsonb) RETURNS mediatag.filter_index
LANGUAGE sql STABLE AS $$
    SELECT f.* FROM mediatag.filter_index f
    JOIN pg_catalog.pg_class c ON c.oid = to_regclass('mediatag.' || mediatag._filter_index_name(f.id))
    WHERE mediatag._index_valid(c.relname) AND f.dataset_id = $1 AND jsonb_typeof($2) = 'object' AND $2 @> f.metadata
      AND NOT EXISTS (SELECT 1 FROM mediatag.asset a WHERE a.dataset_id = $1 AND a.post_ingest_at IS NULL)
    ORDER BY c.reltuples, f.id LIMIT 1
$$;
