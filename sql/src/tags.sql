-- Dynamic Tags: groups of tags, their prompts, visual labels, classifier versions and published snapshots.
-- Every user-supplied name is data: it is validated, stored, and reaches generated SQL only through
-- format('%I') of a slug made of [a-z0-9_].

CREATE TABLE IF NOT EXISTS mediatag.tag_group (
    id                   bigserial PRIMARY KEY,
    name                 text NOT NULL,
    slug                 text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9_]{1,48}$'),
    training_dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    visibility           text NOT NULL DEFAULT 'secret' CHECK (visibility IN ('secret', 'shareable')),
    state                text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'published')),
    published_version    int NOT NULL DEFAULT 0,
    revision             int NOT NULL DEFAULT 0,      -- bumped by every edit; compared with the published one
    published_revision   int,
    created_by           text NOT NULL DEFAULT session_user,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tag_group_name_ok CHECK (length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]')
);
CREATE UNIQUE INDEX IF NOT EXISTS tag_group_name_uniq ON mediatag.tag_group (lower(name));

-- Which groups the caller sees (access.sql): published shareable ones, and those of datasets they can read.
CREATE OR REPLACE FUNCTION mediatag._visible_groups() RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(g.id), '{}') FROM mediatag.tag_group g
    WHERE (g.visibility = 'shareable' AND g.state = 'published') OR mediatag._can_read_dataset(g.training_dataset_id)
$$;

-- The groups whose training dataset the caller sees: their labels and evaluations point at that dataset's keyframes.
CREATE OR REPLACE FUNCTION mediatag._groups_of_readable_datasets() RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(g.id), '{}') FROM mediatag.tag_group g WHERE mediatag._can_read_dataset(g.training_dataset_id)
$$;


CREATE TABLE IF NOT EXISTS mediatag.tag (
    id          bigserial PRIMARY KEY,
    group_id    bigint NOT NULL REFERENCES mediatag.tag_group(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9]+( [A-Za-z0-9]+)*$' AND length(name) <= 100),
    position    int NOT NULL,
    threshold   real NOT NULL DEFAULT 0.5 CHECK (threshold BETWEEN 0 AND 1),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS tag_name_uniq ON mediatag.tag (group_id, lower(name));

CREATE TABLE IF NOT EXISTS mediatag.tag_prompt (
    id          bigserial PRIMARY KEY,
    tag_id      bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    modality    text NOT NULL CHECK (modality IN ('visual', 'transcript')),
    polarity    text NOT NULL CHECK (polarity IN ('positive', 'negative')),
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    origin      text NOT NULL DEFAULT 'user' CHECK (origin IN ('user', 'llm', 'tag_name')),
    embedding   vector,           -- cached, in the training dataset's model space for this modality
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tag_id, modality, polarity, text)
);

CREATE TABLE IF NOT EXISTS mediatag.visual_label (
    tag_id       bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    label        boolean NOT NULL,
    origin       text NOT NULL DEFAULT 'preview' CHECK (origin IN ('preview', 'search', 'uncertain', 'evaluation', 'import')),
    labeled_by   text NOT NULL DEFAULT session_user,
    labeled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tag_id, keyframe_id)
);

CREATE TABLE IF NOT EXISTS mediatag.classifier (
    id          bigserial PRIMARY KEY,
    tag_id      bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    -- face: a person tag's keyframe classifier, its exemplar descriptors in mediatag.face_exemplar (person_tags.sql)
    modality    text NOT NULL CONSTRAINT classifier_modality_check CHECK (modality IN ('visual', 'transcript', 'face')),
    version     int NOT NULL,
    weights     vector,            -- NULL: no prompts for this modality, the tag is not scored on it
    bias        double precision NOT NULL DEFAULT 0,
    summary     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tag_id, modality, version)
);

-- A published version is an immutable snapshot: which tags, in which order, with which classifiers.
CREATE TABLE IF NOT EXISTS mediatag.group_version (
    group_id      bigint NOT NULL REFERENCES mediatag.tag_group(id) ON DELETE CASCADE,
    version       int NOT NULL,
    visibility    text NOT NULL,
    published_by  text NOT NULL DEFAULT session_user,
    published_at  timestamptz NOT NULL DEFAULT now(),
    note          text NOT NULL DEFAULT '',
    PRIMARY KEY (group_id, version)
);

CREATE TABLE IF NOT EXISTS mediatag.group_version_tag (
    group_id                  bigint NOT NULL,
    version                   int NOT NULL,
    position                  int NOT NULL,       -- 1-based index into the score arrays
    tag_id                    bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    tag_name                  text NOT NULL,
    visual_classifier_id      bigint REFERENCES mediatag.classifier(id),
    transcript_classifier_id  bigint REFERENCES mediatag.classifier(id),
    PRIMARY KEY (group_id, version, position),
    FOREIGN KEY (group_id, version) REFERENCES mediatag.group_version (group_id, version) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS mediatag.group_application (
    group_id         bigint NOT NULL REFERENCES mediatag.tag_group(id) ON DELETE CASCADE,
    dataset_id       bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    role             text NOT NULL CHECK (role IN ('training', 'applied')),
    applied_version  int,
    scored_version   int,
    status           text NOT NULL DEFAULT 'unscored' CHECK (status IN ('queued', 'unscored', 'scored', 'error')),
    error            text,
    applied_by       text NOT NULL DEFAULT session_user,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    scored_at        timestamptz,
    score_seconds    real,
    PRIMARY KEY (group_id, dataset_id)
);

-- A fixed random sample of each dataset's keyframes (and transcript segments): the calibration sample and the
-- preview pool. Reading it costs milliseconds where a scan of a million keyframes costs seconds.
CREATE TABLE IF NOT EXISTS mediatag.keyframe_sample (
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    embedding    halfvec NOT NULL,
    PRIMARY KEY (dataset_id, keyframe_id)
);
CREATE TABLE IF NOT EXISTS mediatag.transcript_sample (
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    segment_id   bigint NOT NULL REFERENCES mediatag.transcript_segment(id) ON DELETE CASCADE,
    embedding    halfvec NOT NULL,
    PRIMARY KEY (dataset_id, segment_id)
);

-- The rows a trainer calibrates on: a random subset of the dataset's random sample, ordered by a hash of the id
-- (the lowest ids would be the oldest ingests) and so the same rows at every retrain; as concatenated halfvec_send
-- bytes for mediatag_ml.vectors.decode_halfvecs. Tags, concepts and fit_model_calibration all read it here.
CREATE OR REPLACE FUNCTION mediatag._calibration_sample(dataset_id bigint, n int) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT string_agg(halfvec_send(s.embedding), ''::bytea) FROM (
        SELECT x.embedding FROM mediatag.keyframe_sample x WHERE x.dataset_id = _calibration_sample.dataset_id
        ORDER BY hashint8(x.keyframe_id), x.keyframe_id LIMIT n) s
$$;

CREATE OR REPLACE FUNCTION mediatag.refresh_samples(dataset text, size int DEFAULT 10000) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); n int; total bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'redrawing the calibration sample');
    DELETE FROM mediatag.keyframe_sample WHERE dataset_id = d;
    SELECT count(*) INTO total FROM mediatag.keyframe WHERE dataset_id = d;
    -- Bernoulli pre-filter then an exact cut keeps this one pass even at millions of rows.
    INSERT INTO mediatag.keyframe_sample
    SELECT d, k.id, k.embedding FROM mediatag.keyframe k
    WHERE k.dataset_id = d AND random() < least(1.0, 1.5 * size / greatest(total, 1))
    ORDER BY random() LIMIT size;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM mediatag.transcript_sample WHERE dataset_id = d;
    INSERT INTO mediatag.transcript_sample
    SELECT d, t.id, t.embedding FROM mediatag.transcript_segment t WHERE t.dataset_id = d
    ORDER BY random() LIMIT size;
    RETURN n;
END $$;

-- The sample is drawn lazily, the first time something trains on a dataset that has keyframes.
CREATE OR REPLACE FUNCTION mediatag._ensure_sample(dataset_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mediatag.keyframe_sample s WHERE s.dataset_id = _ensure_sample.dataset_id)
       AND EXISTS (SELECT 1 FROM mediatag.keyframe k WHERE k.dataset_id = _ensure_sample.dataset_id) THEN
        PERFORM mediatag.refresh_samples((SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = _ensure_sample.dataset_id));
    END IF;
END $$;

-- ---- lookups ------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag._group(tag_group text) RETURNS mediatag.tag_group
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group;
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE lower(x.name) = lower(tag_group);
    -- Secret groups (and any group of a dataset the caller may not see) do not exist for those who cannot see them.
    IF NOT FOUND OR NOT ((g.visibility = 'shareable' AND g.state = 'published')
                         OR mediatag._can_read_dataset(g.training_dataset_id)) THEN
        RAISE EXCEPTION 'unknown tag group "%"', tag_group USING ERRCODE = 'no_data_found',
            HINT = 'SELECT * FROM mediatag.list_tag_groups() lists the groups you can see';
    END IF;
    RETURN g;
END $$;

CREATE OR REPLACE FUNCTION mediatag._tag(g mediatag.tag_group, tag text) RETURNS mediatag.tag
LANGUAGE plpgsql STABLE AS $$
DECLARE t mediatag.tag;
BEGIN
    SELECT * INTO t FROM mediatag.tag x WHERE x.group_id = g.id AND lower(x.name) = lower(tag);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown tag "%" in group "%"', tag, g.name USING ERRCODE = 'no_data_found',
            HINT = format('the group has: %s', (SELECT string_agg(name, ', ' ORDER BY position) FROM mediatag.tag WHERE group_id = g.id));
    END IF;
    RETURN t;
END $$;

-- Edits go through here: the group must be editable from the caller's dataset (its training dataset).
CREATE OR REPLACE FUNCTION mediatag._editable_group(tag_group text, dataset text DEFAULT NULL) RETURNS mediatag.tag_group
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group; ds text;
BEGIN
    g := mediatag._group(tag_group);
    PERFORM mediatag._require_write(g.training_dataset_id, format('editing tag group "%s"', g.name));
    SELECT x_.name INTO ds FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id;
    IF dataset IS NOT NULL AND mediatag.dataset_id(dataset) <> g.training_dataset_id THEN
        RAISE EXCEPTION 'tag group "%" is applied to dataset "%", not trained on it: only its training dataset "%" can edit it',
            g.name, dataset, ds USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Serialise edits of one group (training writes new classifier versions): concurrent editors queue here.
    SELECT * INTO g FROM mediatag.tag_group WHERE id = g.id FOR UPDATE;
    UPDATE mediatag.tag_group SET revision = revision + 1, updated_at = now() WHERE id = g.id RETURNING * INTO g;
    RETURN g;
END $$;

CREATE OR REPLACE FUNCTION mediatag.validate_tag_name(name text, line int DEFAULT NULL) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE clean text := regexp_replace(btrim(name), '\s+', ' ', 'g');
BEGIN
    IF clean = '' OR clean !~ '^[A-Za-z0-9]+( [A-Za-z0-9]+)*$' OR length(clean) > 100 THEN
        RAISE EXCEPTION 'invalid tag name %: tag names use letters, digits and spaces only (at most 100 characters)',
            CASE WHEN line IS NULL THEN quote_literal(name) ELSE format('on line %s: %s', line, quote_literal(name)) END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN clean;
END $$;

-- ---- groups and tags ----------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag._insert_tag(g mediatag.tag_group, tag_name text) RETURNS mediatag.tag
LANGUAGE plpgsql AS $$
DECLARE t mediatag.tag;
BEGIN
    IF EXISTS (SELECT 1 FROM mediatag.tag x WHERE x.group_id = g.id AND lower(x.name) = lower(tag_name)) THEN
        RAISE EXCEPTION 'tag "%" appears twice in group "%"', tag_name, g.name USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO mediatag.tag (group_id, name, position)
    VALUES (g.id, tag_name, coalesce((SELECT max(position) FROM mediatag.tag WHERE group_id = g.id), 0) + 1)
    RETURNING * INTO t;
    -- The keyword itself is the first positive prompt for both modalities.
    INSERT INTO mediatag.tag_prompt (tag_id, modality, polarity, text, origin)
    VALUES (t.id, 'visual', 'positive', tag_name, 'tag_name'), (t.id, 'transcript', 'positive', tag_name, 'tag_name');
    RETURN t;
END $$;

CREATE OR REPLACE FUNCTION mediatag.create_tag_group(dataset text, name text, tags text[], visibility mediatag.visibility DEFAULT 'secret')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group;
    d bigint := mediatag.dataset_id(dataset);
    clean text := btrim(coalesce(create_tag_group.name, ''));
    i int;
    names text[] := '{}';
    t mediatag.tag;
BEGIN
    IF clean = '' OR length(clean) > 100 OR clean ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid tag group name %: 1 to 100 printable characters', quote_literal(create_tag_group.name)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF visibility NOT IN ('secret', 'shareable') THEN
        RAISE EXCEPTION 'invalid visibility "%": use secret or shareable', visibility USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. coalesce(array_length(tags, 1), 0) LOOP
        CONTINUE WHEN btrim(coalesce(tags[i], '')) = '';   -- blank lines are not tags
        names := names || mediatag.validate_tag_name(tags[i], i);
    END LOOP;
    IF array_length(names, 1) IS NULL THEN
        RAISE EXCEPTION 'tag group "%" needs at least one tag (one keyword per line)', clean USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mediatag._require_write(d, 'creating a tag group');
    PERFORM 1 FROM mediatag.named_lock l WHERE l.name = 'tag_group_slug' FOR UPDATE;
    IF EXISTS (SELECT 1 FROM mediatag.tag_group x WHERE lower(x.name) = lower(clean)) THEN
        RAISE EXCEPTION 'a tag group named "%" already exists', clean USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO mediatag.tag_group (name, slug, training_dataset_id, visibility)
    -- 20 characters: dt_<slug>_transcript_scores_ds<id>_new_check must fit in 63.
    VALUES (clean, mediatag._unique_slug(clean, ARRAY(SELECT slug FROM mediatag.tag_group), 20), d, visibility)
    RETURNING * INTO g;
    INSERT INTO mediatag.group_application (group_id, dataset_id, role) VALUES (g.id, d, 'training');
    FOREACH clean IN ARRAY names LOOP
        t := mediatag._insert_tag(g, clean);
    END LOOP;
    PERFORM mediatag._train_tags(ARRAY(SELECT id FROM mediatag.tag WHERE group_id = g.id ORDER BY position));
    RETURN g.id;
END $$;

-- The UI's form: one keyword per line.
CREATE OR REPLACE FUNCTION mediatag.create_tag_group(dataset text, name text, keywords text, visibility mediatag.visibility DEFAULT 'secret')
RETURNS bigint
LANGUAGE sql AS $$
    SELECT mediatag.create_tag_group(dataset => dataset, name => name,
                                     tags => regexp_split_to_array(keywords, '\r?\n'), visibility => visibility)
$$;

CREATE OR REPLACE FUNCTION mediatag.add_tags(tag_group text, tags text[], dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); i int; ids bigint[] := '{}'; t mediatag.tag;
BEGIN
    FOR i IN 1 .. coalesce(array_length(tags, 1), 0) LOOP
        CONTINUE WHEN btrim(coalesce(tags[i], '')) = '';
        t := mediatag._insert_tag(g, mediatag.validate_tag_name(tags[i], i));
        ids := ids || t.id;
    END LOOP;
    PERFORM mediatag._train_tags(ids);
    RETURN coalesce(array_length(ids, 1), 0);
END $$;

CREATE OR REPLACE FUNCTION mediatag.rename_tag(tag_group text, tag text, new_name text, dataset text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag);
        clean text := mediatag.validate_tag_name(new_name);
BEGIN
    IF EXISTS (SELECT 1 FROM mediatag.tag x WHERE x.group_id = g.id AND lower(x.name) = lower(clean) AND x.id <> t.id) THEN
        RAISE EXCEPTION 'group "%" already has a tag "%"', g.name, clean USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE mediatag.tag SET name = clean WHERE id = t.id;
    -- The keyword prompts follow the name; prompts the user wrote stay as they are.
    UPDATE mediatag.tag_prompt SET text = clean, embedding = NULL WHERE tag_id = t.id AND origin = 'tag_name';
    PERFORM mediatag._train_tags(ARRAY[t.id]);
END $$;

CREATE OR REPLACE FUNCTION mediatag.delete_tag(tag_group text, tag text, dataset text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    IF EXISTS (SELECT 1 FROM mediatag.group_version_tag WHERE tag_id = t.id) THEN
        RAISE EXCEPTION 'tag "%" is part of a published version of "%": it stays in that version; rename it or publish without it is not supported yet',
            t.name, g.name USING ERRCODE = 'object_in_use';
    END IF;
    DELETE FROM mediatag.tag WHERE id = t.id;
END $$;

-- The stored modalities a prompt argument names (the domain mediatag.modality has checked the word): 'both' is each.
CREATE OR REPLACE FUNCTION mediatag._modalities(modality text) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM mediatag._required('modality', modality);
    RETURN CASE WHEN modality = 'both' THEN ARRAY['visual', 'transcript'] ELSE ARRAY[modality] END;
END $$;

-- A prompt's text as add_prompt and edit_prompt store it: not blank.
CREATE OR REPLACE FUNCTION mediatag._check_prompt_text(t mediatag.tag, prompt text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF btrim(coalesce(prompt, '')) = '' THEN
        RAISE EXCEPTION 'empty prompt for tag "%"', t.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION mediatag.add_prompt(tag_group text, tag text, prompt text, polarity mediatag.polarity DEFAULT 'positive',
                                    modality mediatag.modality DEFAULT 'both', origin mediatag.prompt_origin DEFAULT 'user',
                                    dataset text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); m text;
BEGIN
    PERFORM mediatag._check_prompt_text(t, prompt);
    FOREACH m IN ARRAY mediatag._modalities(modality) LOOP
        INSERT INTO mediatag.tag_prompt (tag_id, modality, polarity, text, origin)
        VALUES (t.id, m, polarity, btrim(prompt), origin) ON CONFLICT DO NOTHING;
    END LOOP;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
END $$;

-- remove_prompt and edit_prompt: the prompt they name must have matched (`changed` rows), and the tag retrains.
CREATE OR REPLACE FUNCTION mediatag._retrain_after_prompt_change(t mediatag.tag, changed int, polarity text,
                                                                  modality text, prompt text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF changed = 0 THEN
        RAISE EXCEPTION 'tag "%" has no % % prompt %', t.name, polarity, modality, quote_literal(prompt)
            USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
END $$;

CREATE OR REPLACE FUNCTION mediatag.remove_prompt(tag_group text, tag text, prompt text, polarity mediatag.polarity DEFAULT 'positive',
                                       modality mediatag.modality DEFAULT 'both', dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); n int;
BEGIN
    DELETE FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.polarity = remove_prompt.polarity
       AND p.modality = ANY (mediatag._modalities(remove_prompt.modality)) AND p.text = btrim(prompt);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM mediatag._retrain_after_prompt_change(t, n, polarity, modality, prompt);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.edit_prompt(tag_group text, tag text, prompt text, new_prompt text,
                                     polarity mediatag.polarity DEFAULT 'positive', modality mediatag.modality DEFAULT 'both',
                                     dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); n int;
BEGIN
    PERFORM mediatag._check_prompt_text(t, new_prompt);
    UPDATE mediatag.tag_prompt p SET text = btrim(new_prompt), embedding = NULL, origin = 'user'
    WHERE p.tag_id = t.id AND p.polarity = edit_prompt.polarity AND p.modality = ANY (mediatag._modalities(edit_prompt.modality))
      AND p.text = btrim(prompt);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM mediatag._retrain_after_prompt_change(t, n, polarity, modality, prompt);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.set_threshold(tag_group text, tag text, threshold real) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    PERFORM mediatag._require_write(g.training_dataset_id, 'setting a threshold');
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', threshold USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Thresholds are live settings, not part of a version: threshold_decision follows at once everywhere.
    UPDATE mediatag.tag SET threshold = set_threshold.threshold WHERE id = t.id;
    PERFORM mediatag._refresh_tag_segments(t.id);   -- segments follow the threshold (segments.sql)
END $$;

-- ---- labels -------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.label_keyframes(tag_group text, tag text, keyframes bigint[], label boolean,
                                         origin mediatag.label_origin DEFAULT 'preview', dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group; t mediatag.tag; bad bigint; bad_ds text; n int;
BEGIN
    IF label IS NULL THEN
        RAISE EXCEPTION 'label must be true (yes) or false (no)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    g := mediatag._group(tag_group);
    t := mediatag._tag(g, tag);
    PERFORM mediatag._require_write(g.training_dataset_id, 'labeling keyframes');
    SELECT u.k INTO bad FROM unnest(keyframes) u(k) LEFT JOIN mediatag.keyframe k ON k.id = u.k WHERE k.id IS NULL LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown keyframe %', bad USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT k.id, d.name INTO bad, bad_ds FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id
    WHERE k.id = ANY (keyframes) AND k.dataset_id <> g.training_dataset_id LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'keyframe % belongs to dataset "%", but group "%" trains on dataset "%": labels must come from the training dataset',
            bad, bad_ds, g.name, (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Labels first, in their own statement: two people labeling at once both land (upsert on distinct rows; the
    -- last word wins on the same keyframe). Training then serialises on the group row.
    INSERT INTO mediatag.visual_label AS v (tag_id, keyframe_id, label, origin)
    SELECT t.id, k, label, origin FROM unnest(keyframes) AS u(k)
    ON CONFLICT (tag_id, keyframe_id) DO UPDATE
        SET label = excluded.label, origin = excluded.origin, labeled_by = session_user, labeled_at = now();
    GET DIAGNOSTICS n = ROW_COUNT;
    g := mediatag._editable_group(tag_group, dataset);
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.unlabel_keyframes(tag_group text, tag text, keyframes bigint[], dataset text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); n int;
BEGIN
    DELETE FROM mediatag.visual_label v WHERE v.tag_id = t.id AND v.keyframe_id = ANY (keyframes);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN n;
END $$;

-- ---- overview -----------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.list_tag_groups(dataset text DEFAULT NULL)
RETURNS TABLE (name text, training_dataset text, visibility text, state text, published_version int,
               unpublished_changes boolean, tags bigint, role text, applied_version int, status text,
               update_available boolean)
LANGUAGE sql STABLE AS $$
    SELECT g.name, td.name, g.visibility, g.state, g.published_version,
           g.state = 'draft' OR g.revision IS DISTINCT FROM g.published_revision,
           (SELECT count(*) FROM mediatag.tag t WHERE t.group_id = g.id),
           a.role, a.applied_version, a.status,
           coalesce(a.applied_version < g.published_version, false)
    FROM mediatag.tag_group g
    JOIN mediatag.dataset td ON td.id = g.training_dataset_id
    LEFT JOIN mediatag.group_application a
           ON a.group_id = g.id AND a.dataset_id = (SELECT x_.id FROM mediatag.dataset x_ WHERE x_.name = list_tag_groups.dataset)
    WHERE (list_tag_groups.dataset IS NULL
           OR td.name = list_tag_groups.dataset
           OR a.group_id IS NOT NULL
           OR (g.visibility = 'shareable' AND g.state = 'published'))   -- secret groups stay invisible elsewhere
      AND g.id = ANY ((SELECT mediatag._visible_groups())::bigint[])
    ORDER BY g.name
$$;

CREATE OR REPLACE FUNCTION mediatag.group_overview(tag_group text)
RETURNS TABLE (tag text, "position" int, threshold real, visual_positive text[], visual_negative text[],
               transcript_positive text[], transcript_negative text[], labels_yes bigint, labels_no bigint,
               classifier_version int, training_summary jsonb, keyframes_above_threshold bigint,
               keyframes_scored bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); counts jsonb := '{}'; a mediatag.group_application;
BEGIN
    SELECT * INTO a FROM mediatag.group_application x WHERE x.group_id = g.id AND x.role = 'training';
    IF a.status = 'scored' AND a.hits_floors IS NOT NULL
       AND to_regclass(format('mediatag_data.%I', 'dt_' || g.slug || '_hits_scores')) IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM mediatag.group_version_tag vt JOIN mediatag.tag t ON t.id = vt.tag_id
                       WHERE vt.group_id = g.id AND vt.version = a.scored_version
                         AND t.threshold < a.hits_floors[vt.position]) THEN
        -- The hits table holds every keyframe above the live thresholds (see scoring.sql): count there, and
        -- take the number scored from the per-asset rows, instead of scanning every keyframe's scores.
        EXECUTE format('SELECT coalesce(jsonb_object_agg(vt.tag_name, jsonb_build_array(coalesce(h.n_above, 0), n.total)), ''{}'')
                        FROM mediatag.group_version_tag vt
                        CROSS JOIN (SELECT coalesce(sum(keyframes), 0) AS total FROM mediatag_data.%I WHERE dataset_id = %s) n
                        LEFT JOIN (SELECT v.tag, count(*) AS n_above FROM mediatag_data.%I v WHERE v.dataset_id = %s
                                   GROUP BY v.tag) h ON h.tag = vt.tag_name
                        WHERE vt.group_id = %s AND vt.version = %s',
                       'dt_' || g.slug || '_video_scores', a.dataset_id, 'dt_' || g.slug || '_hits', a.dataset_id,
                       g.id, a.scored_version) INTO counts;
    ELSIF a.status = 'scored' THEN
        EXECUTE format('SELECT coalesce(jsonb_object_agg(tag, jsonb_build_array(n_above, n)), ''{}'') FROM (
                          SELECT v.tag, count(*) FILTER (WHERE v.threshold_decision) AS n_above, count(*) AS n
                          FROM mediatag_data.%I v WHERE v.dataset_id = %s GROUP BY v.tag) s',
                       'dt_' || g.slug || '_visual', a.dataset_id) INTO counts;
    END IF;
    RETURN QUERY
    SELECT t.name, t.position, t.threshold,
           ARRAY(SELECT p.text FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.modality = 'visual' AND p.polarity = 'positive' ORDER BY p.id),
           ARRAY(SELECT p.text FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.modality = 'visual' AND p.polarity = 'negative' ORDER BY p.id),
           ARRAY(SELECT p.text FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.modality = 'transcript' AND p.polarity = 'positive' ORDER BY p.id),
           ARRAY(SELECT p.text FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.modality = 'transcript' AND p.polarity = 'negative' ORDER BY p.id),
           (SELECT count(*) FROM mediatag.visual_label l WHERE l.tag_id = t.id AND l.label),
           (SELECT count(*) FROM mediatag.visual_label l WHERE l.tag_id = t.id AND NOT l.label),
           c.version, c.summary,
           (counts -> t.name ->> 0)::bigint, (counts -> t.name ->> 1)::bigint
    FROM mediatag.tag t
    -- the classifier that scores its keyframes: a person tag's face classifier (person_tags.sql), else the visual one
    LEFT JOIN LATERAL mediatag._keyframe_classifier(t.id) c ON true
    WHERE t.group_id = g.id
    ORDER BY t.position;
END $$;
