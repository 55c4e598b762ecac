-- The closed sets of words that public functions take as arguments (visibility, polarity, modality, ...): one
-- definition each, as a domain over text whose CHECK lists the allowed values.
--
-- Why domains over text and not CREATE TYPE ... AS ENUM:
-- - the error. An enum (or a plain CHECK) rejects a bad word with "invalid input value for enum" / "violates check
--   constraint" and never says which words are allowed; every CHECK here calls mediatag._one_of, which names the
--   type, the bad value and the allowed values (invalid_parameter_value, with a HINT).
-- - callers stay as they are. text converts to a domain over text implicitly, so a text variable, a text column or
--   a psycopg parameter works where a word is expected, as it did before; an enum would need an explicit cast from
--   text everywhere a value is not a literal.
-- - changing a set later is ALTER DOMAIN (mediatag._enum_domain below, on every install and upgrade), not
--   ALTER TYPE ... ADD VALUE, which cannot remove or reorder values and cannot run inside a transaction block.
-- The SDK, its stub and the CLI read the allowed values from the CHECK (embedder/mediatag/catalog.py), so a word
-- added here reaches them with no other edit.
--
-- To use one in a new function: declare the argument with the type, e.g. `modality mediatag.modality DEFAULT 'both'`
-- (and `mediatag.modality` in its COMMENT ON FUNCTION signature), and do not check the value again in the body.
-- NULL passes a domain's CHECK: where NULL is not allowed, PERFORM mediatag._required('modality', modality).
-- A new set is one more _enum_domain line below; its name must not be a table's (a table's row type has it).
-- Table columns keep their own CHECK constraints: the rows' integrity, which predates these argument types.

-- True for NULL or an allowed value; raises for anything else. `type_name` is the domain's name: the message reads
-- it with spaces for underscores ("invalid preview kind ...").
CREATE OR REPLACE FUNCTION mediatag._one_of(type_name text, value text, allowed text[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL OR value = ANY (allowed) THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'invalid % "%": use %', replace(type_name, '_', ' '), value,
        CASE WHEN cardinality(allowed) > 1
             THEN array_to_string(allowed[:cardinality(allowed) - 1], ', ') || ' or ' || allowed[cardinality(allowed)]
             ELSE allowed[1] END
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('mediatag.%s allows: %s', type_name, array_to_string(allowed, ', '));
END $$;

-- The values domain mediatag.<type_name> allows, in order, read back from its CHECK (as the SDK's catalog does).
CREATE OR REPLACE FUNCTION mediatag._allowed(type_name text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT replace(m[1], $q$''$q$, $q$'$q$)
                 FROM regexp_matches(substring(pg_catalog.pg_get_constraintdef(c.oid) FROM 'ARRAY\[(.*)\]'),
                                     $q$'((?:[^']|'')*)'$q$, 'g') m)
    FROM pg_catalog.pg_constraint c
    WHERE c.contypid = pg_catalog.to_regtype(format('mediatag.%I', type_name)) AND c.contype = 'c'
$$;

-- For an argument of an enum-like type that may not be NULL (NULL passes a domain's CHECK).
CREATE OR REPLACE FUNCTION mediatag._required(type_name text, value text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', replace(type_name, '_', ' ') USING ERRCODE = 'null_value_not_allowed',
            HINT = format('use %s', array_to_string(mediatag._allowed(type_name), ', '));
    END IF;
END $$;

-- Creates domain mediatag.<name> over text allowing `allowed` (in this order), or, when it exists, gives it this
-- CHECK again: the install script runs again on every upgrade, so this is how a set changes. (No column uses these
-- domains, so replacing the CHECK reads no table.) Only the install script calls it: it runs as the superuser that
-- owns the types (roles.sql later makes it a definer function of the owner role, which cannot alter them).
CREATE OR REPLACE FUNCTION mediatag._enum_domain(name text, allowed text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    check_sql text := format('CONSTRAINT %I CHECK (mediatag._one_of(%L, VALUE, ARRAY[%s]))', name || '_allowed', name,
                             (SELECT string_agg(quote_literal(v), ', ' ORDER BY i) FROM unnest(allowed) WITH ORDINALITY u(v, i)));
BEGIN
    IF to_regtype(format('mediatag.%I', name)) IS NULL THEN
        EXECUTE format('CREATE DOMAIN mediatag.%I AS text %s', name, check_sql);
    ELSE
        EXECUTE format('ALTER DOMAIN mediatag.%I DROP CONSTRAINT IF EXISTS %I', name, name || '_allowed');
        EXECUTE format('ALTER DOMAIN mediatag.%I ADD %s', name, check_sql);
    END IF;
END $$;

SELECT mediatag._enum_domain('visibility', ARRAY['secret', 'shareable']);                 -- who sees a tag group
SELECT mediatag._enum_domain('polarity', ARRAY['positive', 'negative']);                  -- a prompt's side
SELECT mediatag._enum_domain('modality', ARRAY['visual', 'transcript', 'both']);          -- a prompt's target; both: each
SELECT mediatag._enum_domain('prompt_origin', ARRAY['user', 'llm', 'tag_name']);          -- where a prompt came from
SELECT mediatag._enum_domain('label_origin', ARRAY['preview', 'search', 'uncertain', 'evaluation', 'import']);
SELECT mediatag._enum_domain('concept_label_value', ARRAY['yes', 'no', 'skip']);
SELECT mediatag._enum_domain('concept_label_origin', ARRAY['manual', 'search', 'continue', 'import', 'top']);
SELECT mediatag._enum_domain('metric', ARRAY['f1', 'f05', 'precision', 'recall', 'accuracy']);   -- evaluator
SELECT mediatag._enum_domain('ground_truth_source', ARRAY['person', 'llm']);              -- who judged ground truth
SELECT mediatag._enum_domain('preview_kind', ARRAY['compare', 'positives', 'negatives']);
SELECT mediatag._enum_domain('preview_level', ARRAY['keyframe', 'shot']);
SELECT mediatag._enum_domain('transcript_preview_kind', ARRAY['positives', 'negatives', 'all']);
SELECT mediatag._enum_domain('transcript_sort', ARRAY['score', 'score_asc', 'time']);
SELECT mediatag._enum_domain('access_level', ARRAY['viewer', 'editor']);                  -- a dataset grant
SELECT mediatag._enum_domain('search_mode', ARRAY['semantic', 'keyword']);                -- transcript search
SELECT mediatag._enum_domain('speech_engine', ARRAY['auto', 'pocketsphinx', 'faster-whisper', 'openai']);
SELECT mediatag._enum_domain('face_detector', ARRAY['hog', 'cnn']);
SELECT mediatag._enum_domain('embedding_kind', ARRAY['visual', 'transcript']);          -- keyframe or segment vectors
SELECT mediatag._enum_domain('export_format', ARRAY['csv', 'json', 'srt', 'vtt', 'edl', 'otio', 'fcpxml']);
