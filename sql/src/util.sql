-- Small shared helpers: lookups that fail with errors naming what was not found, and safe identifiers.

CREATE OR REPLACE FUNCTION mediatag.dataset_id(dataset text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint;
BEGIN
    SELECT id INTO d FROM mediatag.dataset ds WHERE ds.name = dataset_id.dataset;
    -- A dataset the caller may not see does not exist for them: the same error, so names do not leak.
    IF d IS NULL OR NOT mediatag._can_read_dataset(d) THEN
        RAISE EXCEPTION 'unknown dataset "%"', dataset
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM mediatag.dataset lists the datasets; create one with mediatag.create_dataset()';
    END IF;
    RETURN d;
END $$;

-- Lower-case ASCII letters, digits and underscores, at most max_len characters: the part of a generated table
-- name that comes from a user's name (short enough that every derived name stays within Postgres' 63 bytes).
-- Uniqueness is settled by the caller (a numeric suffix on collision).
CREATE OR REPLACE FUNCTION mediatag.slug(name text, max_len int DEFAULT 40) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(nullif(trim(BOTH '_' FROM left(regexp_replace(lower(name), '[^a-z0-9]+', '_', 'g'), max_len)), ''), 'x')
$$;

-- Who is calling. Every function runs as the extension's owner role (SECURITY DEFINER, see roles.sql), where
-- current_user is that owner; session_user is the login that opened the connection, which is who did it. Clients
-- (SDK, CLI, UI) connect as the person's own login rather than switching with SET ROLE, so privilege checks and
-- the "who" columns (labeled_by, applied_by, ...) use this.
CREATE OR REPLACE FUNCTION mediatag._caller() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT session_user::text $$;

-- Raises unless the caller holds `role` (directly or through membership; superusers hold every role).
CREATE OR REPLACE FUNCTION mediatag._require_role(role text, what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT pg_has_role(session_user, role, 'MEMBER') THEN
        RAISE EXCEPTION '% needs the % role (you are %)', what,
            CASE role WHEN 'mediatag_editor' THEN 'mediatag_editor or mediatag_admin' ELSE role END, session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;
