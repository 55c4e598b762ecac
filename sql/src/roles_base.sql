-- Roles are cluster-wide, so they may already exist from another database: create only what is missing.
-- mediatag_owner owns every object and is the role every function runs as; nobody logs in as it or is granted it.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mediatag_owner', 'mediatag_viewer', 'mediatag_editor', 'mediatag_admin', 'mediatag_query'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    -- editors can do what viewers can; admins what editors can.
    IF NOT pg_has_role('mediatag_editor', 'mediatag_viewer', 'MEMBER') THEN GRANT mediatag_viewer TO mediatag_editor; END IF;
    IF NOT pg_has_role('mediatag_admin', 'mediatag_editor', 'MEMBER') THEN GRANT mediatag_editor TO mediatag_admin; END IF;
    -- The owner (the role every function runs as) reads other backends' start times, to tell a live job worker
    -- from a dead one (jobs.sql), and cancels overdue Query-role statements (access.sql).
    IF NOT pg_has_role('mediatag_owner', 'pg_read_all_stats', 'MEMBER') THEN GRANT pg_read_all_stats TO mediatag_owner; END IF;
    IF NOT pg_has_role('mediatag_owner', 'pg_signal_backend', 'MEMBER') THEN GRANT pg_signal_backend TO mediatag_owner; END IF;
    -- The Query page's role: read-only, and a runaway query is cut off.
    ALTER ROLE mediatag_query SET statement_timeout = '30s';
    ALTER ROLE mediatag_query SET default_transaction_read_only = on;
END $$;
