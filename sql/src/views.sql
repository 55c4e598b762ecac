-- Cross-dataset views in the spirit of Coactive's coactive_table / coactive_table_adv. Per-dataset views with
-- the metadata keys as columns live in mediatag_data (<dataset>_keyframes, <dataset>_assets).

CREATE OR REPLACE VIEW mediatag.coactive_table AS
SELECT d.name AS dataset, k.id AS coactive_image_id, k.id AS keyframe_id, k.asset_id,
       CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
       k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata
FROM mediatag.keyframe k
JOIN mediatag.asset a ON a.id = k.asset_id
JOIN mediatag.dataset d ON d.id = k.dataset_id
WHERE k.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);

CREATE OR REPLACE VIEW mediatag.coactive_table_adv AS
SELECT d.name AS dataset, a.id AS asset_id, CASE WHEN a.kind = 'video' THEN a.id END AS video_id, a.kind, a.path,
       a.sha256, a.size_bytes, a.duration_ms, a.width, a.height,
       a.tech ->> 'container' AS container, a.tech ->> 'video_codec' AS video_codec,
       a.tech ->> 'audio_codec' AS audio_codec, (a.tech ->> 'fps')::real AS fps,
       (a.tech ->> 'bit_rate')::bigint AS bit_rate, (a.tech ->> 'is_vfr')::boolean AS is_vfr,
       (SELECT count(*) FROM mediatag.shot s WHERE s.asset_id = a.id) AS shots,
       (SELECT count(*) FROM mediatag.keyframe k WHERE k.asset_id = a.id) AS keyframes,
       (SELECT count(*) FROM mediatag.transcript_segment t WHERE t.asset_id = a.id) AS transcript_segments,
       a.status, a.error, a.tech, a.created_at
FROM mediatag.asset a
JOIN mediatag.dataset d ON d.id = a.dataset_id
WHERE a.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);

-- Creates or replaces a generated view (a dataset's or a group's, in mediatag_data or the curated mediatag_bi) with
-- this version's query, keeping what people built on it. CREATE OR REPLACE VIEW keeps the view's grants and the
-- views, functions and materialized views that read it, and works while its columns stay as they were or new ones
-- are appended. A change beyond that (a column dropped, renamed, retyped or moved) drops the view and creates it
-- again with the same grants when nothing depends on it; when something does, it refuses and names what: dropping a
-- user's objects is never the way.
CREATE OR REPLACE FUNCTION mediatag._replace_view(name text, query text, schema text DEFAULT 'mediatag_data') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target text := format('%I.%I', schema, name);
    old pg_catalog.pg_class;
    why text;
    dependents text;
    g record;
BEGIN
    BEGIN
        EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', target, query);
        RETURN;
    EXCEPTION WHEN invalid_table_definition THEN   -- "cannot drop columns from view" and the like
        why := SQLERRM;
    END;
    SELECT c.* INTO old FROM pg_catalog.pg_class c WHERE c.oid = target::regclass;
    BEGIN
        EXECUTE format('DROP VIEW %s', target);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        GET STACKED DIAGNOSTICS dependents = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'view % changes its columns (%), and objects that are not mediatag''s depend on it', target, why
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
                  HINT = 'Drop them (and create them again afterwards), then retry.';
    END;
    EXECUTE format('CREATE VIEW %s AS %s', target, query);
    FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable FROM pg_catalog.aclexplode(old.relacl) a
             WHERE a.grantee <> old.relowner LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', g.privilege_type, target,
                       CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END $$;
