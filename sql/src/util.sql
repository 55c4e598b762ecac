-- Small shared helpers: lookups that fail with errors naming what was not found, and safe identifiers.

CREATE OR REPLACE FUNCTION mediatag.dataset_id(dataset text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint;
BEGIN
    SELECT id INTO d FROM mediatag.dataset ds WHERE ds.name = dataset_id.dataset;
    IF d IS NULL THEN
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
