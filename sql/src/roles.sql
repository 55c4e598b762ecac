-- Ownership, privileges and dump registration, last so they cover every object above (and any file added later).
--
-- Ownership: mediatag_owner (NOLOGIN, granted to nobody) owns every table, view and function, and the
-- mediatag_data schema where runtime score tables and views are created. Functions that touch data are
-- SECURITY DEFINER with a fixed search_path (pg_temp last, so a caller's temporary objects cannot stand in
-- for ours); IMMUTABLE helpers (sigmoid, slug, ...) touch no table and stay invoker functions so the planner can
-- inline them. Procedures (run_jobs) stay invoker too: Postgres forbids COMMIT in SECURITY DEFINER procedures;
-- they only orchestrate definer functions.
-- The rule for definer code: it never touches an object the caller can create or replace. Above all no
-- temporary tables (a caller who creates one first, with a trigger, has the trigger run as the owner): rows
-- in flight live in arrays, CTEs or owner tables. tests/test_definer_safety.py scans every definer body for
-- temporary objects and plants them, as a viewer and an editor, under every name the extension uses.
DO $$
DECLARE r record;
BEGIN
    ALTER SCHEMA mediatag_data OWNER TO mediatag_owner;
    GRANT USAGE, CREATE ON SCHEMA mediatag TO mediatag_owner;   -- runtime indexes (HNSW per dataset)
    FOR r IN SELECT c.oid::regclass AS obj FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'mediatag'::regnamespace AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO mediatag_owner', r.obj);   -- owned sequences follow
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind, p.provolatile FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'mediatag'::regnamespace LOOP
        IF r.prokind = 'p' THEN
            EXECUTE format('ALTER PROCEDURE %s OWNER TO mediatag_owner', r.fn);
        ELSE
            EXECUTE format('ALTER FUNCTION %s OWNER TO mediatag_owner', r.fn);
            IF r.provolatile <> 'i' THEN
                EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, mediatag, public, pg_temp', r.fn);
            END IF;
        END IF;
    END LOOP;
END $$;

-- Privileges: no role but the owner writes a base table; viewers read them (row-level security filters what they
-- see) and call the functions, which check the role each operation needs; the Query role reads the generated
-- views only.
REVOKE ALL ON ALL TABLES IN SCHEMA mediatag FROM PUBLIC, mediatag_viewer, mediatag_editor, mediatag_admin, mediatag_query;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA mediatag FROM PUBLIC, mediatag_viewer, mediatag_editor, mediatag_admin, mediatag_query;
REVOKE ALL ON SCHEMA mediatag_data FROM PUBLIC, mediatag_viewer, mediatag_editor, mediatag_admin, mediatag_query;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA mediatag FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA mediatag FROM PUBLIC;
GRANT USAGE ON SCHEMA mediatag, mediatag_data TO mediatag_viewer, mediatag_query;
GRANT SELECT ON ALL TABLES IN SCHEMA mediatag TO mediatag_viewer;
REVOKE SELECT ON mediatag.setting FROM mediatag_viewer;
-- Ingest staging (editor_ingest.sql): editors COPY their batches in; only the owner reads, changes or deletes a
-- staged row (mediatag.ingest_staged moves the caller's own).
REVOKE SELECT ON mediatag.ingest_stage_asset, mediatag.ingest_stage_shot, mediatag.ingest_stage_keyframe,
    mediatag.ingest_stage_segment FROM mediatag_viewer;
GRANT INSERT ON mediatag.ingest_stage_asset, mediatag.ingest_stage_shot, mediatag.ingest_stage_keyframe,
    mediatag.ingest_stage_segment TO mediatag_editor;
GRANT SELECT ON mediatag.coactive_table, mediatag.coactive_table_adv TO mediatag_query;
-- The API is every function whose name does not start with "_"; each checks the role its operation needs.
-- Internal functions ("_" prefix: they trust their arguments, e.g. SQL fragments or ids already checked) run only
-- inside other functions, except the read-only access helpers that views and policies evaluate as the reader.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'mediatag'::regnamespace
               AND (p.proname !~ '^_' OR p.proname IN ('_readable_datasets', '_can_read_dataset', '_visible_groups',
                                                       '_groups_of_readable_datasets', '_is_admin', '_caller',
                                                       '_one_of')) LOOP
        EXECUTE format('GRANT EXECUTE ON %s %s TO mediatag_viewer',
                       CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.fn);
    END LOOP;
END $$;
-- run_jobs runs as its caller: the two steps it calls are the editors' (each checks the role again, and
-- _run_claimed_job runs only the attempt this very backend claimed).
GRANT EXECUTE ON FUNCTION mediatag._claim_job(text), mediatag._run_claimed_job(bigint, int) TO mediatag_editor;
REVOKE SELECT ON mediatag.named_lock FROM mediatag_viewer;
-- Keyframes' spans and places (segments.sql) carry no policy: only definer code reads them, so no reader sees the
-- keyframe ids and times of datasets it may not read.
REVOKE SELECT ON mediatag.keyframe_span FROM mediatag_viewer;
-- The Query role's "read-only" is more than a session default it may switch off: nothing is left to write.
-- Temporary tables need TEMP on the database and large objects their creating functions, both PUBLIC's by
-- default; this database takes both from PUBLIC (the operator, a superuser, keeps them; mediatag's own code
-- uses neither) and gives TEMP back to viewers, editors and admins, whose sessions may use scratch tables of
-- their own (definer code never reads them). Other applications sharing the database need GRANT TEMPORARY
-- back for their roles.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO mediatag_viewer', current_database());
END $$;
REVOKE EXECUTE ON FUNCTION pg_catalog.lo_create(oid), pg_catalog.lo_creat(int), pg_catalog.lo_from_bytea(oid, bytea),
    pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid) FROM PUBLIC;
-- What the generated views call on the Query role's behalf.
GRANT EXECUTE ON FUNCTION mediatag._readable_datasets(), mediatag._can_read_dataset(bigint) TO mediatag_query;

-- pg_dump carries extension members' definitions through CREATE EXTENSION, but their rows only when the tables
-- (and the sequences behind their ids) are registered here. keyframe_span's rows are left out: restoring the
-- keyframes makes them again (its triggers, segments.sql), and restored ones would collide with those.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS obj FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'mediatag'::regnamespace AND c.relkind IN ('r', 'S') LOOP
        PERFORM pg_catalog.pg_extension_config_dump(r.obj,
                    CASE WHEN r.obj IN ('mediatag.named_lock'::regclass, 'mediatag.keyframe_span'::regclass) THEN 'WHERE false'
                         ELSE '' END);
    END LOOP;
END $$;
