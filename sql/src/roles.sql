-- Ownership, privileges and dump registration, last so they cover every object above (and any file added later).
--
-- Ownership: mediatag_owner (NOLOGIN, granted to nobody) owns every table, view and function, and the
-- mediatag_data schema where runtime score tables and views are created. Functions that touch data are
-- SECURITY DEFINER with a fixed search_path (pg_temp last, so a caller's temporary objects cannot stand in
-- for ours); IMMUTABLE helpers (sigmoid, slug, ...) touch no table and stay invoker functions so the planner can
-- inline them. Procedures (run_jobs) stay invoker too: Postgres forbids COMMIT in SECURITY DEFINER procedures;
-- they only orchestrate definer functions.
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
                                                       '_groups_of_readable_datasets', '_is_admin', '_caller')) LOOP
        EXECUTE format('GRANT EXECUTE ON %s %s TO mediatag_viewer',
                       CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.fn);
    END LOOP;
END $$;
-- What the generated views call on the Query role's behalf.
GRANT EXECUTE ON FUNCTION mediatag._readable_datasets(), mediatag._can_read_dataset(bigint) TO mediatag_query;

-- pg_dump carries extension members' definitions through CREATE EXTENSION, but their rows only when the tables
-- (and the sequences behind their ids) are registered here.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS obj FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'mediatag'::regnamespace AND c.relkind IN ('r', 'S') LOOP
        PERFORM pg_catalog.pg_extension_config_dump(r.obj, '');
    END LOOP;
END $$;
