-- Small shared helpers: lookups that fail with errors naming what was not found, and safe identifiers.

CREATE FUNCTION mediatag.dataset_id(dataset text) RETURNS bigint
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

-- Lower-case ASCII letters, digits and underscores, at most 40 characters: the part of a generated table name
-- that comes from a user's name. Uniqueness is settled by the caller (a numeric suffix on collision).
CREATE FUNCTION mediatag.slug(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(nullif(left(trim(BOTH '_' FROM regexp_replace(lower(name), '[^a-z0-9]+', '_', 'g')), 40), ''), 'x')
$$;
