-- Who may see and change what. Three layers (see README "Backups, upgrades and access"):
-- 1. Roles: mediatag_viewer reads, mediatag_editor also labels, edits, publishes and ingests, mediatag_admin also
--    manages access and settings; mediatag_query reads the generated views only. No role writes a base table:
--    every write is a function running as the non-login owner role (roles.sql).
-- 2. Datasets: open to every mediatag role by default; once an admin grants access on a dataset to some roles
--    (grant_dataset_access), only those roles (and admins) see it, its assets, its groups and their scores.
-- 3. Groups: a secret group is visible only to those who see its training dataset (it cannot be applied
--    elsewhere); a published shareable group's name, tags and prompts are visible to all, its labels and scores
--    only with the datasets they come from.
-- Checks use session_user, the login that opened the connection (see mediatag._caller()).

CREATE TABLE IF NOT EXISTS mediatag.dataset_access (
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    grantee     regrole NOT NULL,
    level       text NOT NULL CHECK (level IN ('viewer', 'editor')),
    granted_by  text NOT NULL DEFAULT session_user,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, grantee)
);

CREATE OR REPLACE FUNCTION mediatag._is_admin() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT pg_has_role(session_user, 'mediatag_admin', 'MEMBER') $$;

CREATE OR REPLACE FUNCTION mediatag._can_read_dataset(dataset_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT mediatag._is_admin()
        OR NOT EXISTS (SELECT 1 FROM mediatag.dataset_access a WHERE a.dataset_id = $1)
        OR EXISTS (SELECT 1 FROM mediatag.dataset_access a
                   WHERE a.dataset_id = $1 AND pg_has_role(session_user, a.grantee::oid, 'MEMBER'))
$$;

CREATE OR REPLACE FUNCTION mediatag._can_write_dataset(dataset_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT mediatag._is_admin()
        OR (pg_has_role(session_user, 'mediatag_editor', 'MEMBER')
            AND (NOT EXISTS (SELECT 1 FROM mediatag.dataset_access a WHERE a.dataset_id = $1)
                 OR EXISTS (SELECT 1 FROM mediatag.dataset_access a
                            WHERE a.dataset_id = $1 AND a.level = 'editor'
                              AND pg_has_role(session_user, a.grantee::oid, 'MEMBER'))))
$$;

-- The datasets the caller may read, as one array: views and policies compare with `= ANY ((SELECT ...))`, an
-- InitPlan computed once per query rather than a function call per row (the cast makes it an array expression).
CREATE OR REPLACE FUNCTION mediatag._readable_datasets() RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(d.id), '{}') FROM mediatag.dataset d WHERE mediatag._can_read_dataset(d.id)
$$;

CREATE OR REPLACE FUNCTION mediatag._require_write(dataset_id bigint, what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM mediatag._require_role('mediatag_editor', what);
    IF NOT mediatag._can_write_dataset(dataset_id) THEN
        RAISE EXCEPTION '% needs editor access to dataset "%" (you are %)', what,
            (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = _require_write.dataset_id), session_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'an admin grants it with mediatag.grant_dataset_access(dataset, role, level => ''editor'')';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION mediatag.grant_dataset_access(dataset text, role text, level mediatag.access_level DEFAULT 'viewer')
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); r regrole;
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'granting dataset access');
    PERFORM mediatag._required('access_level', level);
    SELECT oid::regrole INTO r FROM pg_catalog.pg_roles WHERE rolname = role;
    IF r IS NULL THEN
        RAISE EXCEPTION 'unknown role "%"', role USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO mediatag.dataset_access AS a (dataset_id, grantee, level) VALUES (d, r, level)
    ON CONFLICT (dataset_id, grantee) DO UPDATE SET level = excluded.level, granted_by = session_user, granted_at = now();
END $$;

CREATE OR REPLACE FUNCTION mediatag.revoke_dataset_access(dataset text, role text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); n int;
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'revoking dataset access');
    DELETE FROM mediatag.dataset_access a USING pg_catalog.pg_roles r
    WHERE a.dataset_id = d AND r.oid = a.grantee::oid AND r.rolname = role;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.dataset_access(dataset text)
RETURNS TABLE (role text, level text, granted_by text, granted_at timestamptz)
LANGUAGE sql STABLE AS $$
    -- The role's plain name (regrole::text would quote "Mixed Case" names, which revoke_dataset_access and
    -- grant_dataset_access, taking the plain name, would not find).
    SELECT r.rolname::text, a.level, a.granted_by, a.granted_at FROM mediatag.dataset_access a
    JOIN pg_catalog.pg_roles r ON r.oid = a.grantee::oid
    WHERE a.dataset_id = mediatag.dataset_id(dataset) ORDER BY 1
$$;

-- ---- settings only an admin may change ---------------------------------------------------------------------
-- The database server opens exactly one kind of outbound connection: to the embedding service. Its address and
-- shared token live here, not in a GUC any role could SET, and nobody but the owner role reads this table.
CREATE TABLE IF NOT EXISTS mediatag.setting (
    name        text PRIMARY KEY CHECK (name IN ('service_url', 'service_token')),
    value       text NOT NULL,
    set_by      text NOT NULL DEFAULT session_user,
    set_at      timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION mediatag.set_service(url text, token text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'setting the embedding service');
    IF url IS NULL OR url !~ '^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/\-]*)?$' THEN
        RAISE EXCEPTION 'invalid service URL %: only http:// or https:// URLs to a host (and port) are accepted',
            quote_literal(url) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.setting (name, value) VALUES ('service_url', rtrim(url, '/'))
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_by = session_user, set_at = now();
    IF token IS NOT NULL THEN
        INSERT INTO mediatag.setting (name, value) VALUES ('service_token', token)
        ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_by = session_user, set_at = now();
    END IF;
END $$;

CREATE OR REPLACE FUNCTION mediatag.service_url() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.value FROM mediatag.setting s WHERE s.name = 'service_url'), 'http://127.0.0.1:8765')
$$;

CREATE OR REPLACE FUNCTION mediatag._service_token() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT s.value FROM mediatag.setting s WHERE s.name = 'service_token' $$;

-- ---- the Query role's limits, for every member --------------------------------------------------------------
-- mediatag_query's role defaults (30 s statement_timeout, read-only transactions) are only defaults: any session
-- may SET them off, and members made by hand (CREATE ROLE ... IN ROLE mediatag_query) do not inherit them. So
-- the limits are enforced from outside the session: there is nothing a member could write even with read-only
-- off (no table privileges, no CREATE on any schema, no TEMP on the database, no large objects: roles.sql), and
-- this watchdog, which the service's worker calls every second, cancels a member's statement that has run past
-- the role's statement_timeout (pg_cancel_backend, through pg_signal_backend granted to the owner).
-- The role's statement_timeout setting (ALTER ROLE mediatag_query SET ...), 30 s when unset; NULL for 0 (no limit).
CREATE OR REPLACE FUNCTION mediatag._query_timeout() RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN v IS NULL THEN interval '30 seconds'
                WHEN v ~ '^[0-9]+$' THEN nullif(v || ' milliseconds', '0 milliseconds')::interval  -- a bare number is ms
                ELSE nullif(v::interval, interval '0') END
    FROM (SELECT (SELECT substr(c, length('statement_timeout=') + 1)
                  FROM pg_catalog.pg_db_role_setting s CROSS JOIN unnest(s.setconfig) c
                  WHERE s.setrole = 'mediatag_query'::regrole AND s.setdatabase = 0 AND c LIKE 'statement\_timeout=%'
                  LIMIT 1) AS v) x
$$;

CREATE OR REPLACE FUNCTION mediatag.cancel_overdue_queries(older_than interval DEFAULT NULL)
RETURNS TABLE (pid int, login text, ran_for interval)
LANGUAGE plpgsql AS $$
DECLARE lim interval := coalesce(older_than, mediatag._query_timeout());
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'cancelling overdue Query-role statements');
    RETURN QUERY
    SELECT a.pid, a.usename::text, now() - a.query_start
    FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
    WHERE a.state = 'active' AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
      AND NOT r.rolsuper AND pg_has_role(a.usesysid, 'mediatag_query', 'MEMBER')
      -- A login that is also a viewer (or more) may run long reads in psql anyway; the limit is the Query role's.
      AND NOT pg_has_role(a.usesysid, 'mediatag_viewer', 'MEMBER')
      AND now() - a.query_start > lim
      AND pg_cancel_backend(a.pid);
END $$;
COMMENT ON FUNCTION mediatag.cancel_overdue_queries(interval) IS
'Cancels statements of Query-only logins (mediatag_query but not mediatag_viewer) running past a limit. Admins.
older_than: the limit (default NULL: the role''s statement_timeout, 30 s when unset); the service''s worker
  calls it every second
Returns: one row per statement cancelled: pid, login, ran_for.';
