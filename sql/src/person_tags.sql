-- Person tags and person concepts (issue 27): a tag of a Dynamic Tag group, or a concept, that is a person.
-- Its examples are face descriptors (mediatag.face_example): faces of a dataset picked one by one, every face of a
-- named person (a cluster), or the faces found in uploaded photos (the SDK detects them and sends descriptors).
-- Training snapshots them into the classifier version (mediatag.face_exemplar): a tag's 'face' classifier, a
-- concept's version. So a published person tag carries its descriptors, not a dataset's person id, and applies to
-- any dataset whose faces were scanned. A keyframe scores as its best face: the face nearest any exemplar, mapped
-- to 0..1 by mediatag._face_score (0.5 at the dataset's same-person distance, dlib's 0.6 by default), 0 where the
-- keyframe has no face. Scores land in the same dt_<group>_* tables and concept_scores as every other tag.
-- A tag with face examples scores keyframes with them; its prompts still train its transcript classifier (a
-- person's name in the subtitles), and removing the examples makes it a prompt tag again.

-- Databases from before person tags: the classifier modality check gains 'face' (replaced only where it lacks it,
-- so a fresh install and an upgrade end with the same check).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                   WHERE c.conrelid = 'mediatag.classifier'::regclass AND c.conname = 'classifier_modality_check'
                     AND pg_catalog.pg_get_constraintdef(c.oid) LIKE '%face%') THEN
        ALTER TABLE mediatag.classifier DROP CONSTRAINT IF EXISTS classifier_modality_check;
        ALTER TABLE mediatag.classifier ADD CONSTRAINT classifier_modality_check
            CHECK (modality IN ('visual', 'transcript', 'face'));
    END IF;
END $$;

-- The draft: what a tag or concept was given. A face's example goes with the face (forget_person deletes it).
CREATE TABLE IF NOT EXISTS mediatag.face_example (
    id          bigserial PRIMARY KEY,
    tag_id      bigint REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    concept_id  bigint REFERENCES mediatag.concept(id) ON DELETE CASCADE,
    face_id     bigint REFERENCES mediatag.face(id) ON DELETE CASCADE,   -- NULL: a face of an uploaded photo
    source      text NOT NULL CHECK (length(source) BETWEEN 1 AND 1000),
    descriptor  vector(128) NOT NULL,
    added_by    text NOT NULL DEFAULT session_user,
    added_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT face_example_owner CHECK ((tag_id IS NULL) <> (concept_id IS NULL))
);
CREATE INDEX IF NOT EXISTS face_example_tag_idx ON mediatag.face_example (tag_id);
CREATE INDEX IF NOT EXISTS face_example_concept_idx ON mediatag.face_example (concept_id);
CREATE INDEX IF NOT EXISTS face_example_face_idx ON mediatag.face_example (face_id);

-- A trained version's exemplars (immutable like the version): a tag's 'face' classifier or a concept's version.
CREATE TABLE IF NOT EXISTS mediatag.face_exemplar (
    classifier_id    bigint REFERENCES mediatag.classifier(id) ON DELETE CASCADE,
    concept_id       bigint,
    concept_version  int,
    -- The face it was copied from (NULL: a face of an uploaded photo): forget_person deletes the face, and with it
    -- every published copy of its descriptor, which is what a privacy request asks.
    face_id          bigint REFERENCES mediatag.face(id) ON DELETE CASCADE,
    descriptor       vector(128) NOT NULL,
    CONSTRAINT face_exemplar_concept_fk FOREIGN KEY (concept_id, concept_version)
        REFERENCES mediatag.concept_classifier (concept_id, version) ON DELETE CASCADE,
    CONSTRAINT face_exemplar_owner CHECK ((classifier_id IS NULL) <> (concept_id IS NULL AND concept_version IS NULL))
);
CREATE INDEX IF NOT EXISTS face_exemplar_classifier_idx ON mediatag.face_exemplar (classifier_id);
CREATE INDEX IF NOT EXISTS face_exemplar_concept_idx ON mediatag.face_exemplar (concept_id, concept_version);
CREATE INDEX IF NOT EXISTS face_exemplar_face_idx ON mediatag.face_exemplar (face_id);

-- ---- examples -----------------------------------------------------------------------------------------------

-- Adds face examples to a tag (tag_id) or a concept (concept_id) from exactly one source: face ids, a person (every
-- face of theirs, confirmed ones and the best first, at most max_faces) or descriptors (uploaded photos' faces,
-- named by `sources`). Faces must be of a dataset the caller reads. A face already given is skipped.
-- Returns the number added.
CREATE OR REPLACE FUNCTION mediatag._add_face_examples(tag_id bigint, concept_id bigint, faces bigint[], person bigint,
                                                       descriptors vector[], sources text[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE p mediatag.person; f bigint; bad bigint; n int; max_faces int := 200;
BEGIN
    IF (faces IS NOT NULL)::int + (person IS NOT NULL)::int + (descriptors IS NOT NULL)::int <> 1 THEN
        RAISE EXCEPTION 'give exactly one of faces, person or descriptors' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'faces => ARRAY[face ids] (mediatag.faces(dataset)), person => id (mediatag.people(dataset)), or '
                   'descriptors of the faces in example photos (the SDK and `mediatag` CLI find them)';
    END IF;
    IF faces IS NOT NULL THEN
        IF cardinality(faces) = 0 OR array_position(faces, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'faces must list one or more face ids' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOREACH f IN ARRAY faces LOOP
            PERFORM mediatag._face(f);   -- unknown, or of a dataset the caller may not read: an error naming it
        END LOOP;
    ELSIF person IS NOT NULL THEN
        p := mediatag._person(person);
        IF NOT EXISTS (SELECT 1 FROM mediatag.face x WHERE x.person_id = p.id) THEN
            RAISE EXCEPTION 'person % has no faces', p.id USING ERRCODE = 'no_data_found';
        END IF;
    END IF;
    IF faces IS NOT NULL OR person IS NOT NULL THEN
        -- Stored faces (listed, or a person's best max_faces), each added once per tag or concept.
        INSERT INTO mediatag.face_example (tag_id, concept_id, face_id, source, descriptor)
        SELECT _add_face_examples.tag_id, _add_face_examples.concept_id, x.id, x.source, x.descriptor
        FROM (SELECT y.id, format('face %s', y.id) AS source, y.descriptor
              FROM mediatag.face y WHERE y.id = ANY (faces)
              UNION ALL
              SELECT y.id, format('person %s%s, face %s', p.id, coalesce(' (' || p.name || ')', ''), y.id), y.descriptor
              FROM (SELECT z.* FROM mediatag.face z WHERE z.person_id = p.id
                    ORDER BY (z.assigned_by = 'label') DESC, z.quality DESC, z.id LIMIT max_faces) y) x
        WHERE NOT EXISTS (SELECT 1 FROM mediatag.face_example e WHERE e.face_id = x.id
                          AND e.tag_id IS NOT DISTINCT FROM _add_face_examples.tag_id
                          AND e.concept_id IS NOT DISTINCT FROM _add_face_examples.concept_id);
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END IF;
    IF cardinality(descriptors) = 0 OR cardinality(descriptors) > 1000 THEN
        RAISE EXCEPTION 'descriptors must list 1 to 1000 face descriptors, got %', cardinality(descriptors)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u.ord INTO bad FROM unnest(descriptors) WITH ORDINALITY u(v, ord)
    WHERE u.v IS NULL OR vector_dims(u.v) <> 128 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'face descriptor % is not a 128-d dlib descriptor', bad USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sources IS NOT NULL AND cardinality(sources) <> cardinality(descriptors) THEN
        RAISE EXCEPTION '% descriptors but % sources: give one source per descriptor', cardinality(descriptors),
            cardinality(sources) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.face_example (tag_id, concept_id, source, descriptor)
    SELECT _add_face_examples.tag_id, _add_face_examples.concept_id,
           left(coalesce(nullif(btrim(sources[u.ord]), ''), 'descriptor ' || u.ord), 1000), u.v
    FROM unnest(descriptors) WITH ORDINALITY u(v, ord);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.add_face_examples(tag_group text, tag text, faces bigint[] DEFAULT NULL,
                                                      person bigint DEFAULT NULL, dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    PERFORM mediatag._add_face_examples(t.id, NULL, faces, person, NULL, NULL);
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN (SELECT count(*) FROM mediatag.face_example e WHERE e.tag_id = t.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.add_face_example_descriptors(tag_group text, tag text, descriptors vector[],
                                                                 sources text[] DEFAULT NULL, dataset text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    PERFORM mediatag._add_face_examples(t.id, NULL, NULL, NULL, coalesce(descriptors, '{}'), sources);
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN (SELECT count(*) FROM mediatag.face_example e WHERE e.tag_id = t.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.remove_face_examples(tag_group text, tag text, dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag);
        n int;
BEGIN
    DELETE FROM mediatag.face_example e WHERE e.tag_id = t.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.face_examples(tag_group text, tag text)
RETURNS TABLE (example_id bigint, source text, face_id bigint, person_id bigint, added_by text, added_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    -- Whoever sees the group sees where its examples came from; face and person ids only where they read the face.
    RETURN QUERY
    SELECT e.id, e.source, CASE WHEN mediatag._can_read_dataset(f.dataset_id) THEN f.id END,
           CASE WHEN mediatag._can_read_dataset(f.dataset_id) THEN f.person_id END, e.added_by, e.added_at
    FROM mediatag.face_example e LEFT JOIN mediatag.face f ON f.id = e.face_id
    WHERE e.tag_id = t.id ORDER BY e.id;
END $$;

CREATE OR REPLACE FUNCTION mediatag.add_concept_faces(concept text, faces bigint[] DEFAULT NULL, person bigint DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    PERFORM mediatag._add_face_examples(NULL, c.id, faces, person, NULL, NULL);
    RETURN mediatag._train_concept(c.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.add_concept_face_descriptors(concept text, descriptors vector[],
                                                                 sources text[] DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    PERFORM mediatag._add_face_examples(NULL, c.id, NULL, NULL, coalesce(descriptors, '{}'), sources);
    RETURN mediatag._train_concept(c.id);
END $$;

CREATE OR REPLACE FUNCTION mediatag.remove_concept_faces(concept text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE c mediatag.concept := mediatag._editable_concept(concept);
BEGIN
    DELETE FROM mediatag.face_example e WHERE e.concept_id = c.id;
    RETURN mediatag._train_concept(c.id);
END $$;

-- ---- training -----------------------------------------------------------------------------------------------

-- The same-person distance a dataset's faces are judged at (face_setting.max_distance, dlib's 0.6 by default).
CREATE OR REPLACE FUNCTION mediatag._face_max_distance(dataset_id bigint) RETURNS real
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.max_distance FROM mediatag.face_setting s WHERE s.dataset_id = $1), 0.6::real)
$$;

-- A trained version's exemplars, shared by person tags and person concepts so both learn alike from their labels:
-- the examples of a tag (tag_id) or a concept (concept_id), with its keyframe labels applied as a person expects of
-- a person they label:
--   * yes on a keyframe adds its face (the one nearest the examples, when within the same-person distance, or the
--     keyframe's only face): the uncertain keyframes it is asked about are the person's look-alike shots (profile,
--     low light), and each yes teaches that look;
--   * no on a keyframe drops the examples found on it (a face clustered into the person by mistake). A no does not
--     make a face a negative: a face classifier scores by distance to the person alone (docs/people.md).
-- A concept's skip labels change nothing. Writes them as the tag classifier's (classifier_id) or the concept
-- version's (concept_version) exemplars; returns the counts its summary records.
CREATE OR REPLACE FUNCTION mediatag._store_face_exemplars(tag_id bigint, concept_id bigint, classifier_id bigint,
                                                          concept_version int, max_distance real) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE from_examples int; from_labels int; examples int; from_faces int;
BEGIN
    SELECT count(*), count(e.face_id) INTO examples, from_faces FROM mediatag.face_example e
    WHERE e.tag_id = _store_face_exemplars.tag_id OR e.concept_id = _store_face_exemplars.concept_id;
    WITH lab AS (
        SELECT l.keyframe_id, l.label FROM mediatag.visual_label l WHERE l.tag_id = _store_face_exemplars.tag_id
        UNION ALL
        SELECT l.keyframe_id, l.label = 'yes' FROM mediatag.concept_label l
        WHERE l.concept_id = _store_face_exemplars.concept_id AND l.label <> 'skip'
    ), ex AS (
        SELECT e.id, e.face_id, e.descriptor FROM mediatag.face_example e
        WHERE e.tag_id = _store_face_exemplars.tag_id OR e.concept_id = _store_face_exemplars.concept_id
    ), pick AS MATERIALIZED (
        SELECT false AS from_label, e.id AS ord, e.face_id, e.descriptor FROM ex e
        WHERE NOT EXISTS (SELECT 1 FROM mediatag.face f JOIN lab ON lab.keyframe_id = f.keyframe_id
                          WHERE f.id = e.face_id AND NOT lab.label)
        UNION ALL
        SELECT true, lab.keyframe_id, b.id, b.descriptor
        FROM lab
        CROSS JOIN LATERAL (
            SELECT f.id, f.descriptor, d.dist, count(*) OVER () AS faces
            FROM mediatag.face f
            CROSS JOIN LATERAL (SELECT min(f.descriptor OPERATOR(public.<->) e.descriptor) AS dist FROM ex e) d
            WHERE f.keyframe_id = lab.keyframe_id ORDER BY d.dist, f.id LIMIT 1) b
        WHERE lab.label AND (b.dist < max_distance OR b.faces = 1)
          AND NOT EXISTS (SELECT 1 FROM ex e WHERE e.face_id = b.id)
    ), ins AS (
        INSERT INTO mediatag.face_exemplar (classifier_id, concept_id, concept_version, face_id, descriptor)
        SELECT _store_face_exemplars.classifier_id,
               CASE WHEN _store_face_exemplars.classifier_id IS NULL THEN _store_face_exemplars.concept_id END,
               _store_face_exemplars.concept_version, r.face_id, r.descriptor
        FROM pick r ORDER BY r.from_label, r.ord
        RETURNING 1
    )
    SELECT count(*) FILTER (WHERE NOT r.from_label), count(*) FILTER (WHERE r.from_label)
      INTO from_examples, from_labels FROM pick r;
    RETURN jsonb_build_object('kind', 'face', 'exemplars', from_examples + from_labels, 'from_faces', from_faces,
                              'from_photos', examples - from_faces, 'from_yes_labels', from_labels,
                              'dropped_by_no_labels', examples - from_examples, 'max_distance', max_distance);
END $$;

-- A new 'face' classifier version for each tag that has face examples (_train_tags calls it after the prompt
-- classifiers, so after every label change too), its exemplars by _store_face_exemplars. Returns the number of tags.
CREATE OR REPLACE FUNCTION mediatag._fit_face_classifiers(tag_ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE r record; cid bigint; n int := 0;
BEGIN
    FOR r IN SELECT t.id, g.training_dataset_id AS ds
             FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
             WHERE t.id = ANY (tag_ids) AND EXISTS (SELECT 1 FROM mediatag.face_example e WHERE e.tag_id = t.id)
             ORDER BY t.id LOOP
        INSERT INTO mediatag.classifier (tag_id, modality, version, weights, bias, summary)
        VALUES (r.id, 'face', coalesce((SELECT max(c.version) FROM mediatag.classifier c
                                        WHERE c.tag_id = r.id AND c.modality = 'face'), 0) + 1, NULL, 0, '{}')
        RETURNING id INTO cid;
        UPDATE mediatag.classifier c
           SET summary = mediatag._store_face_exemplars(r.id, NULL, cid, NULL, mediatag._face_max_distance(r.ds))
         WHERE c.id = cid;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- The classifier that scores a tag's keyframes in its draft: the latest 'face' one while it has face examples,
-- else the latest visual one. Publishing records it as the version's visual classifier.
CREATE OR REPLACE FUNCTION mediatag._keyframe_classifier(tag_id bigint) RETURNS mediatag.classifier
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM mediatag.face_example e WHERE e.tag_id = $1)
                THEN mediatag._latest_classifier($1, 'face') ELSE mediatag._latest_classifier($1, 'visual') END
$$;

-- A concept's new version (just trained), while the concept has face examples, takes them as its exemplars with its
-- labels applied (_store_face_exemplars, as a person tag's): from then on the version scores keyframes by their faces.
CREATE OR REPLACE FUNCTION mediatag._snapshot_concept_faces(concept_id bigint, version int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE ds bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mediatag.face_example e WHERE e.concept_id = _snapshot_concept_faces.concept_id) THEN
        RETURN;
    END IF;
    SELECT c.dataset_id INTO ds FROM mediatag.concept c WHERE c.id = _snapshot_concept_faces.concept_id;
    UPDATE mediatag.concept_classifier x
       SET summary = x.summary || mediatag._store_face_exemplars(NULL, _snapshot_concept_faces.concept_id, NULL,
                                                                 _snapshot_concept_faces.version,
                                                                 mediatag._face_max_distance(ds))
     WHERE x.concept_id = _snapshot_concept_faces.concept_id AND x.version = _snapshot_concept_faces.version;
END $$;

-- The conditions on mediatag.face_exemplar fx_ that pick a person tag classifier's or a person concept version's
-- exemplars (_face_score_sql, _face_pool).
CREATE OR REPLACE FUNCTION mediatag._tag_face_exemplars(c mediatag.classifier) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('fx_.classifier_id = %s', c.id)
$$;

CREATE OR REPLACE FUNCTION mediatag._concept_face_exemplars(cc mediatag.concept_classifier) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('fx_.concept_id = %s AND fx_.concept_version = %s', cc.concept_id, cc.version)
$$;

-- The SQL of a concept version's keyframe score: by faces when the version has face exemplars, else its linear
-- classifier (the same expressions as tags: mediatag._classifier_score_sql).
CREATE OR REPLACE FUNCTION mediatag._concept_score_sql(cc mediatag.concept_classifier,
                                                       embedding text DEFAULT 'k.embedding',
                                                       keyframe_id text DEFAULT 'k.id') RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF cc.summary ->> 'kind' = 'face' THEN
        RETURN mediatag._face_score_sql(mediatag._concept_face_exemplars(cc),
                                        coalesce((cc.summary ->> 'max_distance')::real, 0.6), keyframe_id);
    END IF;
    RETURN format('mediatag.sigmoid(%s - (%s <#> %L::halfvec))', cc.bias, embedding, cc.weights::text);
END $$;

-- ---- labeling: the keyframes to ask about ----------------------------------------------------------------------

-- Candidates for a face classifier's picks and previews (`exemplars`: a condition on mediatag.face_exemplar fx_):
-- the dataset's sample scored by its faces, and the keyframes of the faces nearest each exemplar (the face table's
-- HNSW index), where the person's keyframes are. A keyframe may come twice (in the sample and near an exemplar).
CREATE OR REPLACE FUNCTION mediatag._face_pool(dataset_id bigint, exemplars text, max_distance real, n_exemplars int,
                                               hnsw_k int)
RETURNS TABLE (keyframe_id bigint, score real)
LANGUAGE plpgsql AS $$
BEGIN
    max_distance := coalesce(max_distance, 0.6);
    RETURN QUERY EXECUTE format('SELECT s.keyframe_id, %s FROM mediatag.keyframe_sample s WHERE s.dataset_id = %s',
                                mediatag._face_score_sql(exemplars, max_distance, 's.keyframe_id'), dataset_id);
    IF hnsw_k > 0 THEN
        PERFORM set_config('hnsw.ef_search', least(greatest(hnsw_k, 40), 1000)::text, true);
        PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);   -- other datasets' faces share the graph
        RETURN QUERY EXECUTE format(
            'SELECT n.keyframe_id, %s FROM (SELECT DISTINCT nf.keyframe_id FROM mediatag.face_exemplar fx_
             CROSS JOIN LATERAL (SELECT f.keyframe_id FROM mediatag.face f WHERE f.dataset_id = %s
                                 ORDER BY f.descriptor OPERATOR(public.<->) fx_.descriptor LIMIT %s) nf
             WHERE %s) n',
            mediatag._face_score_sql(exemplars, max_distance, 'n.keyframe_id'), dataset_id,
            greatest(10, hnsw_k / greatest(coalesce(n_exemplars, 1), 1)), exemplars);
    END IF;
END $$;

-- The k keyframes a person tag or concept is least sure about, by its face scores: nearest 0.5 first, only
-- keyframes with a face (one without scores 0 for certain), one per shot (not five frames of one close-up), none of
-- `labeled`. Nothing else: the scores are steep in the face distance, so the few keyframes near the cut are exactly
-- the look-alikes and the person's hard shots, which spreading picks over whole-frame embeddings (a prompt tag's
-- and a concept's way) would trade for certain ones. Shared by uncertain_keyframes and continue_labeling.
CREATE OR REPLACE FUNCTION mediatag._face_uncertain(dataset_id bigint, exemplars text, max_distance real,
                                                    n_exemplars int, labeled bigint[], k int)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, score real)
LANGUAGE sql AS $$
    SELECT u.kid, u.aid, u.tms, u.img, u.sc FROM (
        SELECT DISTINCT ON (coalesce(k2.shot_id, -k2.id)) k2.id AS kid, k2.asset_id AS aid, k2.time_ms AS tms,
               k2.image_path AS img, p.sc
        FROM (SELECT DISTINCT ON (p0.keyframe_id) p0.keyframe_id AS pk, p0.score AS sc
              FROM mediatag._face_pool($1, $2, $3, $4, 400) p0 ORDER BY p0.keyframe_id, p0.score DESC) p
        JOIN mediatag.keyframe k2 ON k2.id = p.pk
        WHERE EXISTS (SELECT 1 FROM mediatag.face f WHERE f.keyframe_id = p.pk)
          AND p.pk <> ALL (coalesce($5, '{}'))
        ORDER BY coalesce(k2.shot_id, -k2.id), abs(p.sc - 0.5), k2.id) u
    ORDER BY abs(u.sc - 0.5), u.kid LIMIT $6
$$;

-- ---- scoring after a face scan ------------------------------------------------------------------------------

-- Faces found after a group was scored on a dataset (a back-fill, or ingest's scan after its scoring was queued)
-- change its person tags' scores: queue a full scoring of every group applied there whose applied version has a
-- person tag. Returns the number of groups queued.
CREATE OR REPLACE FUNCTION mediatag._queue_face_rescoring(dataset_id bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE a record; n int := 0;
BEGIN
    FOR a IN SELECT x.group_id, x.applied_version FROM mediatag.group_application x
             WHERE x.dataset_id = _queue_face_rescoring.dataset_id AND x.applied_version IS NOT NULL
               AND EXISTS (SELECT 1 FROM mediatag.group_version_tag vt JOIN mediatag.classifier c ON c.id = vt.visual_classifier_id
                           WHERE vt.group_id = x.group_id AND vt.version = x.applied_version AND c.modality = 'face')
             ORDER BY x.group_id LOOP
        PERFORM mediatag._queue_scoring(a.group_id, _queue_face_rescoring.dataset_id, a.applied_version);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- ---- comments -----------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.add_face_examples(text, text, bigint[], bigint, text) IS
'Makes a tag a person tag (or adds to it): faces picked in a dataset, or every face of a person, become its
examples; it then scores keyframes by their best face. Editors of the group''s training dataset.
tag_group: the group''s name
tag: the tag''s name
faces: face ids (mediatag.faces) of datasets you read (give faces or person)
person: a person id (mediatag.people): their faces, confirmed and best first, at most 200
dataset: the dataset you edit from (default NULL: the training dataset)
Returns: the number of face examples the tag now has.';

COMMENT ON FUNCTION mediatag.add_face_example_descriptors(text, text, vector[], text[], text) IS
'Adds face descriptors as a person tag''s examples, e.g. the faces the SDK found in uploaded photos. Editors of
the group''s training dataset.
tag_group: the group''s name
tag: the tag''s name
descriptors: 128-d dlib face descriptors, 1 to 1000
sources: where each came from, e.g. the photo''s file name (default NULL: "descriptor N")
dataset: the dataset you edit from (default NULL: the training dataset)
Returns: the number of face examples the tag now has.';

COMMENT ON FUNCTION mediatag.remove_face_examples(text, text, text) IS
'Removes every face example of a tag: it scores keyframes by its prompts and labels again. Editors of the
group''s training dataset.
tag_group: the group''s name
tag: the tag''s name
dataset: the dataset you edit from (default NULL: the training dataset)
Returns: the number of examples removed.';

COMMENT ON FUNCTION mediatag.face_examples(text, text) IS
'Lists a person tag''s face examples (descriptors are not shown). Viewers who see the group.
tag_group: the group''s name
tag: the tag''s name
Returns: example_id, source, face_id and person_id (NULL for uploaded photos, and for faces of datasets you do not
  read), added_by, added_at.';

COMMENT ON FUNCTION mediatag.add_concept_faces(text, bigint[], bigint) IS
'Makes a concept a person concept (or adds to it): faces picked, or every face of a person, become its examples;
its next version scores keyframes by their best face. Editors of the concept''s dataset.
concept: the concept''s name
faces: face ids (mediatag.faces) of datasets you read (give faces or person)
person: a person id (mediatag.people): their faces, confirmed and best first, at most 200
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.add_concept_face_descriptors(text, vector[], text[]) IS
'Adds face descriptors as a person concept''s examples, e.g. the faces the SDK found in example photos. Editors of
the concept''s dataset.
concept: the concept''s name
descriptors: 128-d dlib face descriptors, 1 to 1000
sources: where each came from, e.g. the photo''s file name (default NULL: "descriptor N")
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.remove_concept_faces(text) IS
'Removes every face example of a concept: its next version scores by labels, examples and description again.
Editors of the concept''s dataset.
concept: the concept''s name
Returns: the new classifier version.';
