-- Concepts: a named, trainable notion on one dataset ("aerial_shots"), labeled yes / no / skip keyframe by keyframe,
-- seeded from a text search, a CSV of file names / asset ids, or example images. Each retrain writes a new
-- classifier version (mediatag_ml.active.fit_concept, which reuses the tag trainer and calibration).
-- Names are unique across the whole database, case-insensitively: every call names only the concept
-- (label_concept(concept => 'aerial_shots', ...)), so a name must say which concept it is.
-- Scores are computed when asked, from the version in use, over every keyframe the dataset has at that moment:
-- new ingests are scored by the next query without a scoring job (the score is one inner product).

CREATE TABLE IF NOT EXISTS mediatag.concept (
    id              bigserial PRIMARY KEY,
    dataset_id      bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    description_embedding vector,     -- the description in the dataset's visual model space (NULL: none)
    threshold       real NOT NULL DEFAULT 0.5 CHECK (threshold BETWEEN 0 AND 1),
    -- true: scores follow each retrain (the latest version); false: they stay on applied_version.
    auto_apply      boolean NOT NULL DEFAULT true,
    applied_version int,
    created_by      text NOT NULL DEFAULT session_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT concept_name_ok CHECK (length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]' AND name = btrim(name))
);
CREATE UNIQUE INDEX IF NOT EXISTS concept_name_uniq ON mediatag.concept (lower(name));
CREATE INDEX IF NOT EXISTS concept_dataset_idx ON mediatag.concept (dataset_id);

CREATE TABLE IF NOT EXISTS mediatag.concept_label (
    concept_id   bigint NOT NULL REFERENCES mediatag.concept(id) ON DELETE CASCADE,
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    label        text NOT NULL CHECK (label IN ('yes', 'no', 'skip')),
    origin       text NOT NULL DEFAULT 'manual' CHECK (origin IN ('manual', 'search', 'continue', 'import', 'top')),
    labeled_by   text NOT NULL DEFAULT session_user,
    labeled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (concept_id, keyframe_id)
);

-- Example images: files embedded through the service (or vectors the SDK embedded), kept as positives.
CREATE TABLE IF NOT EXISTS mediatag.concept_example (
    id          bigserial PRIMARY KEY,
    concept_id  bigint NOT NULL REFERENCES mediatag.concept(id) ON DELETE CASCADE,
    source      text NOT NULL,          -- the file path or a name the caller gave
    embedding   vector NOT NULL,
    added_by    text NOT NULL DEFAULT session_user,
    added_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS concept_example_concept_idx ON mediatag.concept_example (concept_id);

CREATE TABLE IF NOT EXISTS mediatag.concept_classifier (
    concept_id  bigint NOT NULL REFERENCES mediatag.concept(id) ON DELETE CASCADE,
    version     int NOT NULL,
    weights     vector NOT NULL,
    bias        double precision NOT NULL,
    summary     jsonb NOT NULL DEFAULT '{}',
    trained_by  text NOT NULL DEFAULT session_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (concept_id, version)
);

-- ---- lookups ------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag._concept(concept text) RETURNS mediatag.concept
LANGUAGE plpgsql STABLE AS $$
DECLARE c mediatag.concept;
BEGIN
    SELECT * INTO c FROM mediatag.concept x WHERE lower(x.name) = lower(btrim(concept));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown concept "%"', concept USING ERRCODE = 'no_data_found',
            HINT = 'SELECT * FROM mediatag.list_concepts() lists the concepts; create one with mediatag.create_concept()';
    END IF;
    -- Through the dataset lookup, so per-dataset access checks apply to concepts too.
    PERFORM mediatag.dataset_id((SELECT d.name FROM mediatag.dataset d WHERE d.id = c.dataset_id));
    RETURN c;
END $$;

-- The classifier that scores a concept now: the latest version, or the applied one when auto_apply is off.
CREATE OR REPLACE FUNCTION mediatag._concept_classifier(c mediatag.concept, version int DEFAULT NULL)
RETURNS mediatag.concept_classifier
LANGUAGE plpgsql STABLE AS $$
DECLARE cc mediatag.concept_classifier; v int := coalesce(version, CASE WHEN NOT c.auto_apply THEN c.applied_version END);
BEGIN
    SELECT * INTO cc FROM mediatag.concept_classifier x
    WHERE x.concept_id = c.id AND (v IS NULL OR x.version = v) ORDER BY x.version DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'concept "%" has no classifier version %', c.name, coalesce(v::text, '')
            USING ERRCODE = 'no_data_found',
                  HINT = format('versions: %s', coalesce((SELECT string_agg(x.version::text, ', ' ORDER BY x.version)
                                 FROM mediatag.concept_classifier x WHERE x.concept_id = c.id), 'none'));
    END IF;
    RETURN cc;
END $$;

-- ---- create, list, drop -------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.create_concept(dataset text, name text, description text DEFAULT '',
                                                   auto_apply boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    d mediatag.dataset;
    clean text := btrim(coalesce(create_concept.name, ''));
    c mediatag.concept;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    PERFORM mediatag._require_write(d.id, 'creating a concept');
    IF clean = '' OR length(clean) > 100 OR clean ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid concept name %: 1 to 100 printable characters', quote_literal(create_concept.name)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM 1 FROM mediatag.named_lock l WHERE l.name = 'concept_name' FOR UPDATE;
    IF EXISTS (SELECT 1 FROM mediatag.concept x WHERE lower(x.name) = lower(clean)) THEN
        RAISE EXCEPTION 'a concept named "%" already exists (concept names are unique across datasets, ignoring case)',
            (SELECT x.name FROM mediatag.concept x WHERE lower(x.name) = lower(clean))
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO mediatag.concept (dataset_id, name, description, auto_apply)
    VALUES (d.id, clean, btrim(coalesce(create_concept.description, '')), create_concept.auto_apply)
    RETURNING * INTO c;
    PERFORM mediatag._train_concept(c.id);
    RETURN c.id;
END $$;

CREATE OR REPLACE FUNCTION mediatag.set_concept_description(concept text, description text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    UPDATE mediatag.concept SET description = btrim(coalesce(set_concept_description.description, '')),
           description_embedding = NULL WHERE id = c.id;
    RETURN mediatag._train_concept(c.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.set_concept_threshold(concept text, threshold real) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', threshold USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.concept SET threshold = set_concept_threshold.threshold WHERE id = c.id;
END $$;

-- Pin the version scores use (auto_apply off), or follow every retrain again (version => NULL).
CREATE OR REPLACE FUNCTION mediatag.apply_concept(concept text, version int DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept); cc mediatag.concept_classifier;
BEGIN
    IF version IS NULL THEN
        UPDATE mediatag.concept SET auto_apply = true, applied_version = NULL WHERE id = c.id RETURNING * INTO c;
        RETURN (mediatag._concept_classifier(c)).version;
    END IF;
    cc := mediatag._concept_classifier(c, version);
    UPDATE mediatag.concept SET auto_apply = false, applied_version = cc.version WHERE id = c.id;
    RETURN cc.version;
END $$;

CREATE OR REPLACE FUNCTION mediatag.drop_concept(concept text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    DELETE FROM mediatag.concept WHERE id = c.id;
END $$;

CREATE OR REPLACE FUNCTION mediatag.list_concepts(dataset text DEFAULT NULL)
RETURNS TABLE (name text, dataset text, description text, labels_yes bigint, labels_no bigint, labels_skip bigint,
               examples bigint, version int, applied_version int, auto_apply boolean, threshold real,
               training_summary jsonb, created_by text, created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.name, d.name, c.description,
           (SELECT count(*) FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.label = 'yes'),
           (SELECT count(*) FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.label = 'no'),
           (SELECT count(*) FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.label = 'skip'),
           (SELECT count(*) FROM mediatag.concept_example e WHERE e.concept_id = c.id),
           cc.version, CASE WHEN c.auto_apply THEN cc.version ELSE c.applied_version END, c.auto_apply, c.threshold,
           cc.summary, c.created_by, c.created_at
    FROM mediatag.concept c
    JOIN mediatag.dataset d ON d.id = c.dataset_id
    LEFT JOIN LATERAL (SELECT * FROM mediatag.concept_classifier x WHERE x.concept_id = c.id
                       ORDER BY x.version DESC LIMIT 1) cc ON true
    WHERE CASE WHEN list_concepts.dataset IS NULL THEN mediatag._can_read_dataset(d.id)
               ELSE d.id = mediatag.dataset_id(list_concepts.dataset) END
    ORDER BY c.name
$$;

CREATE OR REPLACE FUNCTION mediatag.concept_versions(concept text)
RETURNS TABLE (version int, in_use boolean, labels_yes int, labels_no int, examples int, kind text,
               summary jsonb, trained_by text, created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT x.version, x.version = (mediatag._concept_classifier(c)).version,
           (x.summary ->> 'n_yes')::int, (x.summary ->> 'n_no')::int, (x.summary ->> 'n_examples')::int,
           x.summary ->> 'kind', x.summary, x.trained_by, x.created_at
    FROM mediatag._concept(concept) c JOIN mediatag.concept_classifier x ON x.concept_id = c.id
    ORDER BY x.version
$$;

-- Edits: editors only, and one at a time per concept (training writes the next version number).
CREATE OR REPLACE FUNCTION mediatag._editable_concept(concept text) RETURNS mediatag.concept
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._concept(concept);
BEGIN
    PERFORM mediatag._require_write(c.dataset_id, format('changing concept "%s"', c.name));
    SELECT * INTO c FROM mediatag.concept WHERE id = c.id FOR UPDATE;
    UPDATE mediatag.concept SET updated_at = now() WHERE id = c.id;
    RETURN c;
END $$;

-- ---- training -----------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag._train_concept(concept_id bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept; d mediatag.dataset; v int;
BEGIN
    SELECT * INTO c FROM mediatag.concept x WHERE x.id = _train_concept.concept_id FOR UPDATE;
    SELECT * INTO d FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id;
    IF c.description <> '' AND c.description_embedding IS NULL THEN
        UPDATE mediatag.concept SET description_embedding = mediatag.embed_text(c.description, d.visual_model)
        WHERE id = c.id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mediatag.baseline_prompt b WHERE b.model = d.visual_model AND b.modality = 'visual') THEN
        INSERT INTO mediatag.baseline_prompt VALUES (d.visual_model, 'visual', 'a photo', mediatag.embed_text('a photo', d.visual_model))
        ON CONFLICT DO NOTHING;
    END IF;
    PERFORM mediatag._ensure_sample(d.id);
    v := mediatag._fit_concept(c.id);
    PERFORM mediatag._snapshot_concept_faces(c.id, v);   -- person concepts (person_tags.sql)
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION mediatag._fit_concept(concept_id bigint) RETURNS int
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_concepts
return sql_concepts.fit_concept(plpy, SD, concept_id)
$$;

CREATE OR REPLACE FUNCTION mediatag.retrain_concept(concept text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    RETURN mediatag._train_concept(c.id);
END $$;

-- ---- labels -------------------------------------------------------------------------------------------------

-- Checks that every keyframe exists and belongs to the concept's dataset.
CREATE OR REPLACE FUNCTION mediatag._check_concept_keyframes(c mediatag.concept, keyframes bigint[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE bad bigint; bad_ds text;
BEGIN
    IF coalesce(cardinality(keyframes), 0) = 0 THEN
        RAISE EXCEPTION 'no keyframes given to label' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(keyframes, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'keyframe ids must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u.k INTO bad FROM unnest(keyframes) u(k) LEFT JOIN mediatag.keyframe k ON k.id = u.k WHERE k.id IS NULL LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown keyframe %', bad USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT k.id, d.name INTO bad, bad_ds FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id
    WHERE k.id = ANY (keyframes) AND k.dataset_id <> c.dataset_id LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'keyframe % belongs to dataset "%", but concept "%" is on dataset "%": label keyframes of the concept''s dataset',
            bad, bad_ds, c.name, (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- A label as imported files write it: yes / no / skip, or y, true, 1 / n, false, 0, in any case; the domain
-- mediatag.concept_label_value rejects anything else (and NULL, read as '').
CREATE OR REPLACE FUNCTION mediatag._check_concept_label(label text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE l text := lower(btrim(coalesce(label, '')));
BEGIN
    RETURN (CASE l WHEN 'y' THEN 'yes' WHEN 'true' THEN 'yes' WHEN '1' THEN 'yes'
                   WHEN 'n' THEN 'no' WHEN 'false' THEN 'no' WHEN '0' THEN 'no' ELSE l END)::mediatag.concept_label_value;
END $$;

-- Label keyframes yes / no / skip (skip: "don't show me this again", not used for training), then retrain.
-- Returns the new classifier version. Two people labeling at once: each upsert lands in its own statement
-- (distinct rows never conflict; on the same keyframe the later word wins), then training queues on the
-- concept row, and the second retrain reads both people's labels.
CREATE OR REPLACE FUNCTION mediatag.label_concept(concept text, keyframes bigint[], label mediatag.concept_label_value DEFAULT 'yes',
                                                  origin mediatag.concept_label_origin DEFAULT 'manual', retrain boolean DEFAULT true) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._concept(concept); l text := mediatag._check_concept_label(label);
BEGIN
    PERFORM mediatag._require_write(c.dataset_id, format('labeling concept "%s"', c.name));
    PERFORM mediatag._required('concept_label_origin', origin);
    PERFORM mediatag._check_concept_keyframes(c, keyframes);
    -- The concept's row lock first, then the labels: two labelers queue on one lock instead of each holding
    -- label rows the other needs (a deadlock), and each retrain sees every label committed before it.
    c := mediatag._editable_concept(concept);
    INSERT INTO mediatag.concept_label AS x (concept_id, keyframe_id, label, origin, labeled_by)
    SELECT DISTINCT c.id, k, l, origin, mediatag._caller() FROM unnest(keyframes) AS u(k) ORDER BY 2
    ON CONFLICT (concept_id, keyframe_id) DO UPDATE
        SET label = excluded.label, origin = excluded.origin, labeled_by = excluded.labeled_by, labeled_at = now();
    IF NOT retrain THEN
        RETURN NULL;
    END IF;
    RETURN mediatag._train_concept(c.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.unlabel_concept(concept text, keyframes bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    DELETE FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.keyframe_id = ANY (keyframes);
    RETURN mediatag._train_concept(c.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.concept_labels(concept text)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, path text, label text, origin text, labeled_by text,
               labeled_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT l.keyframe_id, k.asset_id, k.image_path, l.label, l.origin, l.labeled_by, l.labeled_at
    FROM mediatag._concept(concept) c
    JOIN mediatag.concept_label l ON l.concept_id = c.id
    JOIN mediatag.keyframe k ON k.id = l.keyframe_id
    ORDER BY l.labeled_at, l.keyframe_id
$$;

-- Existing labels (a CSV's rows, read by the SDK / CLI): items are asset ids, keyframe ids written "keyframe:N",
-- asset paths, or file names (the last part of an asset's or keyframe image's path); labels yes / no / skip.
-- An asset labels all its keyframes (an image is one keyframe). Every item must match exactly one asset of the
-- concept's dataset, or nothing is imported and the error lists the items that did not.
CREATE OR REPLACE FUNCTION mediatag.import_concept_labels(concept text, items text[], labels text[])
RETURNS TABLE (item text, label text, keyframes int)
LANGUAGE plpgsql AS $$
DECLARE
    c mediatag.concept := mediatag._concept(concept);
    bad text;
    n_bad int;
    m_ord int[];
    m_item text[];
    m_label text[];
    m_kf bigint[];
    m_asset bigint[];
BEGIN
    PERFORM mediatag._require_write(c.dataset_id, format('labeling concept "%s"', c.name));
    IF coalesce(cardinality(items), 0) = 0 THEN
        RAISE EXCEPTION 'no rows to import' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(items) <> coalesce(cardinality(labels), 0) THEN
        RAISE EXCEPTION '% items but % labels: give one label per item', cardinality(items), coalesce(cardinality(labels), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The matched rows (one per item and keyframe) travel as parallel arrays, never through a scratch table a
    -- caller could plant (see roles.sql).
    SELECT array_agg(u.ord::int), array_agg(btrim(u.item)), array_agg(mediatag._check_concept_label(u.label)),
           array_agg(m.keyframe_id), array_agg(m.asset_id)
      INTO m_ord, m_item, m_label, m_kf, m_asset
    FROM unnest(items, labels) WITH ORDINALITY AS u(item, label, ord)
    LEFT JOIN LATERAL (
        SELECT k.id AS keyframe_id, k.asset_id FROM mediatag.keyframe k
        WHERE k.dataset_id = c.dataset_id AND btrim(u.item) ~ '^keyframe:[0-9]{1,18}$'
          AND k.id = substr(btrim(u.item), 10)::bigint
        UNION
        SELECT k.id, k.asset_id FROM mediatag.asset a JOIN mediatag.keyframe k ON k.asset_id = a.id
        WHERE a.dataset_id = c.dataset_id AND (
              (btrim(u.item) ~ '^[0-9]{1,18}$' AND a.id = btrim(u.item)::bigint)
           OR a.path = btrim(u.item)
           OR (btrim(u.item) !~ '[/\\]' AND btrim(u.item) !~ '^[0-9]{1,18}$'
               AND (regexp_replace(a.path, '^.*[/\\]', '') = btrim(u.item)
                    OR regexp_replace(k.image_path, '^.*[/\\]', '') = btrim(u.item))))
    ) m ON true;
    SELECT count(*), string_agg(format('row %s: %s', i.ord, quote_literal(i.item)), '; ' ORDER BY i.ord)
      INTO n_bad, bad
    FROM (SELECT x.ord, x.item FROM unnest(m_ord, m_item, m_label, m_kf, m_asset) AS x(ord, item, label, keyframe_id, asset_id)
          WHERE x.keyframe_id IS NULL ORDER BY x.ord LIMIT 5) i;
    IF n_bad > 0 THEN
        RAISE EXCEPTION '% of % rows match no asset of dataset "%" (first: %)',
            (SELECT count(*) FROM unnest(m_ord, m_item, m_label, m_kf, m_asset) AS x(ord, item, label, keyframe_id, asset_id)
             WHERE x.keyframe_id IS NULL), cardinality(items),
            (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id), bad
            USING ERRCODE = 'no_data_found',
                  HINT = 'items are asset ids, keyframe:<id>, asset paths or file names of the concept''s dataset';
    END IF;
    SELECT format('row %s: %s', x.ord, quote_literal(min(x.item))) INTO bad
    FROM unnest(m_ord, m_item, m_label, m_kf, m_asset) AS x(ord, item, label, keyframe_id, asset_id)
    GROUP BY x.ord HAVING count(DISTINCT x.asset_id) > 1 ORDER BY x.ord LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ambiguous item (%): several assets have that file name; use the path or the asset id', bad
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.concept_label AS x (concept_id, keyframe_id, label, origin, labeled_by)
    SELECT DISTINCT ON (i.keyframe_id) c.id, i.keyframe_id, i.label, 'import', mediatag._caller()
    FROM unnest(m_ord, m_item, m_label, m_kf, m_asset) AS i(ord, item, label, keyframe_id, asset_id)
    ORDER BY i.keyframe_id, i.ord DESC    -- a keyframe listed twice: the last row wins
    ON CONFLICT (concept_id, keyframe_id) DO UPDATE
        SET label = excluded.label, origin = excluded.origin, labeled_by = excluded.labeled_by, labeled_at = now();
    c := mediatag._editable_concept(concept);
    PERFORM mediatag._train_concept(c.id);
    RETURN QUERY SELECT i.item, i.label, count(*)::int
    FROM unnest(m_ord, m_item, m_label, m_kf, m_asset) AS i(ord, item, label, keyframe_id, asset_id)
    GROUP BY i.ord, i.item, i.label ORDER BY i.ord;
END $$;

-- Example images kept as positives: files read and embedded by the service (its /embed/image endpoint) with the
-- dataset's visual model.
CREATE OR REPLACE FUNCTION mediatag.embed_images(paths text[], model text) RETURNS SETOF vector
LANGUAGE sql AS $$
    SELECT v::text::vector
    FROM jsonb_array_elements(mediatag._service_post('/embed/image', jsonb_build_object(
             'paths', to_jsonb(coalesce(paths, '{}'::text[])), 'model', model), 300) -> 'vectors') WITH ORDINALITY AS x(v, i)
    ORDER BY i
$$;

CREATE OR REPLACE FUNCTION mediatag.add_concept_examples(concept text, paths text[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept); model text;
BEGIN
    IF coalesce(cardinality(paths), 0) = 0 OR array_position(paths, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'give one or more image file paths' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT x_.visual_model INTO model FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id;
    INSERT INTO mediatag.concept_example (concept_id, source, embedding, added_by)
    SELECT c.id, paths[e.ord], e.v, mediatag._caller()
    FROM mediatag.embed_images(paths, model) WITH ORDINALITY AS e(v, ord);
    RETURN mediatag._train_concept(c.id);
END $$;

-- The same with vectors embedded by the caller (the SDK embeds local files through the service itself).
CREATE OR REPLACE FUNCTION mediatag.add_concept_example_vectors(concept text, vectors vector[], sources text[] DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept); dim int; bad int;
BEGIN
    IF coalesce(cardinality(vectors), 0) = 0 THEN
        RAISE EXCEPTION 'give one or more example vectors' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id;
    SELECT u.ord INTO bad FROM unnest(vectors) WITH ORDINALITY u(v, ord) WHERE u.v IS NULL OR vector_dims(u.v) <> dim LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'example vector % does not have the dataset''s % dimensions', bad, dim USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.concept_example (concept_id, source, embedding, added_by)
    SELECT c.id, coalesce(sources[u.ord], 'vector ' || u.ord), u.v, mediatag._caller()
    FROM unnest(vectors) WITH ORDINALITY u(v, ord);
    RETURN mediatag._train_concept(c.id);
END $$;

-- ---- scores -------------------------------------------------------------------------------------------------

-- The score of one embedding under a concept classifier: the same sigmoid(x·w + b) as tags (mediatag.sigmoid),
-- used by concept_scores, concept_top, search filters and continue_labeling. A person concept's version scores a
-- keyframe by its best face instead (mediatag._concept_score_sql, person_tags.sql).
CREATE OR REPLACE FUNCTION mediatag.concept_scores(concept text, version int DEFAULT NULL)
RETURNS TABLE (keyframe_id bigint, score real, decision boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE c mediatag.concept := mediatag._concept(concept); cc mediatag.concept_classifier := mediatag._concept_classifier(c, version);
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT k.id, s.score, s.score >= %s FROM mediatag.keyframe k CROSS JOIN LATERAL (SELECT %s AS score) s
         WHERE k.dataset_id = %s', c.threshold, mediatag._concept_score_sql(cc), c.dataset_id);
END $$;

-- Score one embedding (e.g. an uploaded file the SDK embedded) against a concept.
CREATE OR REPLACE FUNCTION mediatag.score_embedding(concept text, embedding vector)
RETURNS TABLE (score real, decision boolean, version int)
LANGUAGE plpgsql STABLE AS $$
DECLARE c mediatag.concept := mediatag._concept(concept); cc mediatag.concept_classifier := mediatag._concept_classifier(c);
        s real;
BEGIN
    IF cc.summary ->> 'kind' = 'face' THEN
        RAISE EXCEPTION 'concept "%" is a person concept: it scores the faces of keyframes, not image embeddings', c.name
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'find the person of a photo with mediatag.search_faces (the SDK''s search_face_photo)';
    END IF;
    IF embedding IS NULL OR vector_dims(embedding) <> vector_dims(cc.weights) THEN
        RAISE EXCEPTION 'the embedding has % dimensions; concept "%" needs %', vector_dims(embedding), c.name,
            vector_dims(cc.weights) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    s := mediatag.sigmoid(cc.bias - (embedding <#> cc.weights));
    RETURN QUERY SELECT s, s >= c.threshold, cc.version;
END $$;

-- Score image files (read by the service) against a concept.
CREATE OR REPLACE FUNCTION mediatag.score_images(concept text, paths text[])
RETURNS TABLE (path text, score real, decision boolean, version int)
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._concept(concept); model text;
BEGIN
    SELECT x_.visual_model INTO model FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id;
    RETURN QUERY
    SELECT paths[e.ord], s.score, s.decision, s.version
    FROM mediatag.embed_images(paths, model) WITH ORDINALITY AS e(v, ord)
    CROSS JOIN LATERAL mediatag.score_embedding(concept, e.v) s;
END $$;

-- The n best keyframes (the UI's hover card): the score rises with x·w, so the dataset's HNSW index on the
-- classifier direction finds them; without the index an exact scan does.
CREATE OR REPLACE FUNCTION mediatag.concept_top(concept text, n int DEFAULT 3)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, video_id bigint, keyframe_time_ms int, path text, score real,
               decision boolean)
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._concept(concept); cc mediatag.concept_classifier := mediatag._concept_classifier(c);
        dim int;
BEGIN
    IF n IS NULL OR n < 1 OR n > 1000 THEN
        RAISE EXCEPTION 'n must be between 1 and 1000, got %', n USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id;
    IF cc.summary ->> 'kind' = 'face' THEN
        -- A person concept: the best faces of the keyframes that have any (the face table's keyframe index).
        RETURN QUERY EXECUTE format(
            'SELECT t.id, t.asset_id, CASE WHEN a.kind = %L THEN a.id END, t.time_ms, t.image_path, t.score, t.score >= %s
             FROM (SELECT k.id, k.asset_id, k.time_ms, k.image_path, %s AS score FROM mediatag.keyframe k
                   WHERE k.dataset_id = %s AND EXISTS (SELECT 1 FROM mediatag.face f WHERE f.keyframe_id = k.id)
                   ORDER BY 5 DESC, k.id LIMIT %s) t
             JOIN mediatag.asset a ON a.id = t.asset_id ORDER BY t.score DESC, t.id',
            'video', c.threshold, mediatag._concept_score_sql(cc), c.dataset_id, n);
        RETURN;
    END IF;
    PERFORM set_config('hnsw.ef_search', least(greatest(4 * n, 100), 1000)::text, true);
    PERFORM set_config('jit', 'off', true);   -- index scans costed like full reads would pay ~60 ms of JIT
    RETURN QUERY EXECUTE format(
        'SELECT t.id, t.asset_id, CASE WHEN a.kind = %L THEN a.id END, t.time_ms, t.image_path, t.score, t.score >= %s
         FROM (SELECT k.id, k.asset_id, k.time_ms, k.image_path, mediatag.sigmoid(%s - (k.embedding <#> %L::halfvec)) AS score
               FROM mediatag.keyframe k WHERE k.dataset_id = %s
               ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s) t
         JOIN mediatag.asset a ON a.id = t.asset_id ORDER BY t.score DESC, t.id',
        'video', c.threshold, cc.bias, cc.weights::text, c.dataset_id, dim, cc.weights::text, dim, n);
END $$;

-- ---- active learning ----------------------------------------------------------------------------------------

-- The next n keyframes worth labeling (mediatag_ml.active.select_batch documents the strategy). Candidates, all
-- unlabeled (yes, no and skip all count as labeled) and scored with the version in use:
--   * the dataset's fixed random sample (mediatag.keyframe_sample): the most uncertain of it, plus a random
--     slice for exploration;
--   * the classifier direction's HNSW neighbourhood, where a rare concept's boundary lies;
-- plus the embeddings of everything labeled (and the example images), so no pick duplicates them.
-- Reads a few thousand rows whatever the dataset's size.
CREATE OR REPLACE FUNCTION mediatag.continue_labeling(concept text, n int DEFAULT 12, seed int DEFAULT NULL)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, video_id bigint, keyframe_time_ms int, path text, score real,
               reason text)
LANGUAGE plpgsql AS $$
DECLARE
    c mediatag.concept := mediatag._concept(concept);
    cc mediatag.concept_classifier := mediatag._concept_classifier(c);
    dim int;
    picked bigint[];
    reasons text[];
    n_labeled int;
    hnsw_k int;
    w halfvec := cc.weights::halfvec;   -- cast once, not per row
    cand_ids bigint[];
    cand_scores real[];
    cand_sample boolean[];
    cand_blob bytea;
    hnsw_ids bigint[];
    hnsw_scores real[];
    hnsw_sample boolean[];
    hnsw_blob bytea;
    likely bigint[];
BEGIN
    IF n IS NULL OR n < 1 OR n > 200 THEN
        RAISE EXCEPTION 'n must be between 1 and 200, got %', n USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cc.summary ->> 'kind' = 'face' THEN
        -- A person concept (person_tags.sql): the keyframes nearest its cut by their face scores, as a person tag's
        -- uncertain_keyframes; every labeled keyframe (skip too) is left out. Deterministic: seed changes nothing.
        RETURN QUERY
        SELECT u.keyframe_id, u.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, u.keyframe_time_ms, u.path, u.score,
               'uncertain'::text
        FROM mediatag._face_uncertain(c.dataset_id, mediatag._concept_face_exemplars(cc),
                                      (cc.summary ->> 'max_distance')::real, (cc.summary ->> 'exemplars')::int,
                                      ARRAY(SELECT l.keyframe_id FROM mediatag.concept_label l WHERE l.concept_id = c.id),
                                      n) WITH ORDINALITY AS u(keyframe_id, asset_id, keyframe_time_ms, path, score, ord)
        JOIN mediatag.asset a ON a.id = u.asset_id
        ORDER BY u.ord;
        RETURN;
    END IF;
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id;
    SELECT count(*) INTO n_labeled FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.label <> 'skip';
    hnsw_k := greatest(20 * n, 200);
    PERFORM set_config('jit', 'off', true);   -- index scans costed like full reads would pay ~60 ms of JIT
    -- Candidates travel as arrays (ids, scores, from-sample flags, a halfvec_send blob), never through a scratch
    -- table a caller could plant (see roles.sql). One pass over the sample: each row scored once, then the most
    -- uncertain and a random slice (a hash of the id, salted by seed and version, so a batch is reproducible and
    -- changes after each retrain).
    WITH s AS MATERIALIZED (
        SELECT x.keyframe_id, x.embedding, mediatag.sigmoid(cc.bias - (x.embedding <#> w)) AS score,
               hashint8extended(x.keyframe_id, coalesce(seed, 0) * 1000003 + cc.version) AS r
        FROM mediatag.keyframe_sample x WHERE x.dataset_id = c.dataset_id
          AND NOT EXISTS (SELECT 1 FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.keyframe_id = x.keyframe_id)
    )
    SELECT array_agg(y.keyframe_id ORDER BY y.keyframe_id), array_agg(y.score ORDER BY y.keyframe_id),
           array_agg(true), string_agg(halfvec_send(y.embedding), ''::bytea ORDER BY y.keyframe_id)
      INTO cand_ids, cand_scores, cand_sample, cand_blob
    FROM (SELECT DISTINCT ON (z.keyframe_id) z.* FROM (
        (SELECT s.keyframe_id, s.score, s.embedding FROM s ORDER BY abs(s.score - 0.5) LIMIT 20 * n)
        UNION ALL
        (SELECT s.keyframe_id, s.score, s.embedding FROM s ORDER BY s.r LIMIT 40 * n)
    ) z ORDER BY z.keyframe_id) y;
    IF to_regclass('mediatag.keyframe_hnsw_ds' || c.dataset_id) IS NOT NULL AND vector_norm(cc.weights) > 0 THEN
        PERFORM set_config('hnsw.ef_search', least(hnsw_k, 1000)::text, true);
        EXECUTE format(
            'SELECT array_agg(t.id ORDER BY t.id),
                    array_agg(mediatag.sigmoid(%s - (t.embedding <#> %L::halfvec)) ORDER BY t.id), array_agg(false),
                    string_agg(halfvec_send(t.embedding), ''''::bytea ORDER BY t.id)
             FROM (SELECT k.id, k.embedding FROM mediatag.keyframe k WHERE k.dataset_id = %s
                   ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s) t
             WHERE NOT EXISTS (SELECT 1 FROM mediatag.concept_label l WHERE l.concept_id = %s AND l.keyframe_id = t.id)
               AND t.id <> ALL ($1)',
            cc.bias, cc.weights::text, c.dataset_id, dim, cc.weights::text, dim, hnsw_k, c.id)
            INTO hnsw_ids, hnsw_scores, hnsw_sample, hnsw_blob USING coalesce(cand_ids, '{}');
        cand_ids := coalesce(cand_ids, '{}') || coalesce(hnsw_ids, '{}');
        cand_scores := coalesce(cand_scores, '{}') || coalesce(hnsw_scores, '{}');
        cand_sample := coalesce(cand_sample, '{}') || coalesce(hnsw_sample, '{}');
        cand_blob := coalesce(cand_blob, ''::bytea) || coalesce(hnsw_blob, ''::bytea);
    END IF;
    SELECT p.ids, p.reasons INTO picked, reasons
    FROM mediatag._select_batch(c.id, dim, n, n_labeled, coalesce(seed, 0), cand_ids, cand_scores, cand_sample, cand_blob) p;
    -- Until the concept has a yes label, batches of boundary cases may hold no positive at all (a rare concept:
    -- "a pizza on a plate" got none in 36 photos while its two pizzas topped concept_top), and a classifier
    -- without positives learns nothing. So such a batch starts with the best-scoring candidates, which for a new
    -- concept are the hits of its description (or example images), then goes on with the picks.
    IF vector_norm(cc.weights) > 0 AND cand_ids IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM mediatag.concept_label l WHERE l.concept_id = c.id AND l.label = 'yes') THEN
        SELECT array_agg(u.id ORDER BY u.score DESC, u.id) INTO likely
        FROM (SELECT x.id, x.score FROM unnest(cand_ids, cand_scores) AS x(id, score)
              ORDER BY x.score DESC, x.id LIMIT greatest(1, n / 3)) u;
        SELECT array_agg(m.id ORDER BY m.o), array_agg(m.reason ORDER BY m.o) INTO picked, reasons
        FROM (SELECT b.id, b.reason, b.o FROM (
                  SELECT l.id, 'likely positive' AS reason, l.o FROM unnest(likely) WITH ORDINALITY AS l(id, o)
                  UNION ALL
                  SELECT p.id, p.reason, cardinality(likely) + p.o
                  FROM unnest(coalesce(picked, '{}'), coalesce(reasons, '{}')) WITH ORDINALITY AS p(id, reason, o)
                  WHERE p.id <> ALL (likely)) b
              ORDER BY b.o LIMIT n) m;
    END IF;
    RETURN QUERY
    SELECT x.id, k.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, k.time_ms, k.image_path,
           cand_scores[array_position(cand_ids, x.id)], reasons[x.ord]
    FROM unnest(picked) WITH ORDINALITY AS x(id, ord)
    JOIN mediatag.keyframe k ON k.id = x.id
    JOIN mediatag.asset a ON a.id = k.asset_id
    ORDER BY x.ord;
END $$;

CREATE OR REPLACE FUNCTION mediatag._select_batch(concept_id bigint, dim int, n int, n_labeled int, seed int,
                                                  cand_ids bigint[], cand_scores real[], cand_sample boolean[],
                                                  cand_blob bytea, OUT ids bigint[], OUT reasons text[])
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_concepts
return sql_concepts.select_batch(plpy, concept_id, dim, n, n_labeled, seed, cand_ids, cand_scores, cand_sample, cand_blob)
$$;

-- "Start from a text search": search results with the concept's current label, to label in place.
CREATE OR REPLACE FUNCTION mediatag.search_for_concept(concept text, query text, k int DEFAULT 50)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, video_id bigint, keyframe_time_ms int, path text, score real,
               current_label text)
LANGUAGE sql AS $$
    SELECT s.keyframe_id, s.asset_id, s.video_id, s.keyframe_time_ms, s.path, s.score, l.label
    FROM mediatag._concept(concept) c
    CROSS JOIN LATERAL mediatag.search(dataset => (SELECT d.name FROM mediatag.dataset d WHERE d.id = c.dataset_id),
                                       query => query, k => k) s
    LEFT JOIN mediatag.concept_label l ON l.concept_id = c.id AND l.keyframe_id = s.keyframe_id
$$;
