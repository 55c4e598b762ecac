-- People: faces as a modality (issue 27). Off by default per dataset (privacy): enable_faces turns detection on,
-- then ingest (--faces) or `mediatag faces scan` finds the faces of every keyframe not scanned yet (the Python side,
-- mediatag.faces: dlib's detector, 5-point alignment and 128-d ResNet descriptor) and stores them here. Faces are
-- linked into tracks within a shot and clustered into people per dataset (mediatag.faces.cluster); people are named,
-- merged, split and forgotten through the functions below, each checked like every other write.
-- Distances are Euclidean on the descriptor (dlib's metric): two faces closer than 0.6 are the same person at
-- dlib's documented operating point.

CREATE TABLE IF NOT EXISTS mediatag.face_setting (
    dataset_id  bigint PRIMARY KEY REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    enabled     boolean NOT NULL DEFAULT false,
    detector    text NOT NULL DEFAULT 'hog' CHECK (detector IN ('hog', 'cnn')),
    -- dlib's same-person distance; clustering and person matching use it.
    max_distance real NOT NULL DEFAULT 0.6 CHECK (max_distance > 0 AND max_distance < 2),
    updated_by  text NOT NULL DEFAULT session_user,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS mediatag.person (
    id          bigserial PRIMARY KEY,
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    name        text CHECK (name IS NULL OR (length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]' AND name = btrim(name))),
    created_at  timestamptz NOT NULL DEFAULT now(),
    named_by    text,
    named_at    timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS person_name_uniq ON mediatag.person (dataset_id, lower(name)) WHERE name IS NOT NULL;

CREATE TABLE IF NOT EXISTS mediatag.face (
    id           bigserial PRIMARY KEY,
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    asset_id     bigint NOT NULL REFERENCES mediatag.asset(id) ON DELETE CASCADE,
    face_index   int NOT NULL,
    x int NOT NULL, y int NOT NULL, w int NOT NULL CHECK (w > 0), h int NOT NULL CHECK (h > 0),
    confidence   real NOT NULL,
    quality      real NOT NULL CHECK (quality BETWEEN 0 AND 1),
    crop         bytea NOT NULL,           -- the aligned chip, JPEG
    descriptor   vector(128) NOT NULL,
    track_id     bigint,                   -- the id of the track's first face (faces of one person within a shot)
    person_id    bigint REFERENCES mediatag.person(id) ON DELETE SET NULL,
    assigned_by  text CHECK (assigned_by IN ('cluster', 'label')),   -- label: a person confirmed it
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (keyframe_id, face_index)
);
CREATE INDEX IF NOT EXISTS face_dataset_idx ON mediatag.face (dataset_id, id);
CREATE INDEX IF NOT EXISTS face_person_idx ON mediatag.face (person_id);
CREATE INDEX IF NOT EXISTS face_track_idx ON mediatag.face (track_id);
CREATE INDEX IF NOT EXISTS face_descriptor_hnsw ON mediatag.face USING hnsw (descriptor vector_l2_ops);

-- Keyframes already looked at (with or without faces): what makes a back-fill resumable.
CREATE TABLE IF NOT EXISTS mediatag.face_scan (
    keyframe_id  bigint PRIMARY KEY REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    faces        int NOT NULL,
    scanned_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS face_scan_dataset_idx ON mediatag.face_scan (dataset_id);

-- "This face is not that person": clustering never puts it back.
CREATE TABLE IF NOT EXISTS mediatag.face_rejection (
    face_id     bigint NOT NULL REFERENCES mediatag.face(id) ON DELETE CASCADE,
    person_id   bigint NOT NULL REFERENCES mediatag.person(id) ON DELETE CASCADE,
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    labeled_by  text NOT NULL DEFAULT session_user,
    labeled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (face_id, person_id)
);

-- ---- lookups ------------------------------------------------------------------------------------------------

-- The check of a lookup by id of a row in a dataset (a face, a person): the row exists (its dataset_id is not
-- NULL) in a dataset the caller may read, else "unknown <noun> <id>" (the same error, so ids do not leak), and,
-- when `what` names the operation, the caller may write to that dataset. True when the row may be used.
CREATE OR REPLACE FUNCTION mediatag._check_found(noun text, id bigint, dataset_id bigint, what text, hint text)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF dataset_id IS NULL OR NOT mediatag._can_read_dataset(dataset_id) THEN
        RAISE EXCEPTION 'unknown % %', noun, id USING ERRCODE = 'no_data_found', HINT = hint;
    END IF;
    IF what IS NOT NULL THEN
        PERFORM mediatag._require_write(dataset_id, what);
    END IF;
    RETURN true;
END $$;

-- A person the caller may read (through its dataset); with `what`, one the caller may change.
CREATE OR REPLACE FUNCTION mediatag._person(person bigint, what text DEFAULT NULL) RETURNS mediatag.person
LANGUAGE sql STABLE AS $$
    SELECT x.* FROM (VALUES (1)) one LEFT JOIN mediatag.person x ON x.id = person
    WHERE mediatag._check_found('person', person, x.dataset_id, what,
                                'SELECT * FROM mediatag.people(dataset) lists the people of a dataset')
$$;

CREATE OR REPLACE FUNCTION mediatag._face(face bigint, what text DEFAULT NULL) RETURNS mediatag.face
LANGUAGE sql STABLE AS $$
    SELECT x.* FROM (VALUES (1)) one LEFT JOIN mediatag.face x ON x.id = face
    WHERE mediatag._check_found('face', face, x.dataset_id, what,
                                'SELECT * FROM mediatag.faces(dataset) lists the faces of a dataset')
$$;

CREATE OR REPLACE FUNCTION mediatag._faces_enabled(dataset_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.enabled FROM mediatag.face_setting s WHERE s.dataset_id = $1), false)
$$;

-- A face's match score from its distance to a person (the nearest of their faces or exemplars): a logistic of
-- the distance, 0.5 at max_distance (the dataset's same-person distance, dlib's 0.6), so a tag's default
-- threshold 0.5 means "the same person". The slope is P(same person | distance) fitted by logistic regression on
-- balanced same/different pairs of the shared LFW photos (bench/bench_faces.py --per-person 15 --fit-score: 930
-- photos of the 62 people, 6,441 same and 420,909 different pairs): 51.2 per unit of distance, 30.7 in units of
-- max_distance 0.6 (its own 0.5 point fell at 0.614). So 0.5 / 0.55 / 0.65 / 0.7 score 0.99 / 0.93 / 0.07 / 0.01.
-- Immutable and not STRICT, so the planner inlines it into scoring queries.
CREATE OR REPLACE FUNCTION mediatag._face_score(distance double precision, max_distance double precision DEFAULT 0.6)
RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT mediatag.sigmoid(30.7 * (max_distance - distance) / max_distance)
$$;

-- A person tag's or concept's score of a keyframe from its distance to the nearest exemplar: the same logistic, with
-- its 0.5 point at 0.85 x max_distance (0.51 at dlib's 0.6), not at max_distance. A tag compares every face of a
-- library with five or so exemplars and keeps the nearest, so look-alikes among many people fall under 0.6 (at 0.6 a
-- 10-person group on the shared LFW photos flagged 3 false faces per true one: precision 0.33, recall 1.00). The
-- cut was fitted as the best F1 of such groups on one half of the 62 people and held on the other half (both ways:
-- fit 0.510 / 0.505, held-out precision 0.987 / 0.993, recall 0.993 / 0.980; bench/bench_faces.py --anchor).
CREATE OR REPLACE FUNCTION mediatag._face_tag_score(distance double precision, max_distance double precision DEFAULT 0.6)
RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT mediatag._face_score(distance + 0.15 * max_distance, max_distance)
$$;

-- The SQL expression of a keyframe's score under a set of face exemplars (`exemplars`: a condition on
-- mediatag.face_exemplar fx_, written by person_tags.sql's callers): its best face, 0 where it has none.
CREATE OR REPLACE FUNCTION mediatag._face_score_sql(exemplars text, max_distance real, keyframe_id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('coalesce((SELECT mediatag._face_tag_score(min(f_.descriptor OPERATOR(public.<->) fx_.descriptor), %s)
                            FROM mediatag.face f_ JOIN mediatag.face_exemplar fx_ ON %s
                            WHERE f_.keyframe_id = %s), 0)::real', max_distance, exemplars, keyframe_id)
$$;

-- ---- settings -----------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.enable_faces(dataset text, enabled boolean DEFAULT true,
                                                 detector mediatag.face_detector DEFAULT 'hog') RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    PERFORM mediatag._require_write(d, 'turning faces on or off');
    PERFORM mediatag._required('face_detector', detector);
    IF enabled IS NULL THEN
        RAISE EXCEPTION 'enabled must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.face_setting AS s (dataset_id, enabled, detector) VALUES (d, enabled, detector)
    ON CONFLICT (dataset_id) DO UPDATE SET enabled = excluded.enabled, detector = excluded.detector,
                                           updated_by = session_user, updated_at = now();
    -- Keyframes ingested before faces were on: their back-fill is queued for the service's worker.
    IF enabled AND EXISTS (SELECT 1 FROM mediatag._face_targets(d, 1)) THEN
        PERFORM mediatag.scan_faces(dataset);
    END IF;
    RETURN enabled;
END $$;

-- The back-fill as a job: 'face_scan', claimed by the service's Python worker (mediatag.faces.jobs) like
-- 'transcribe', never by run_jobs (it decodes images and runs dlib). Resumable: the worker commits keyframes batch
-- by batch, so a job taken over after a crash continues with the keyframes not scanned yet. One per dataset.
CREATE OR REPLACE FUNCTION mediatag.scan_faces(dataset text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); j bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'scanning a dataset for faces');
    IF NOT mediatag._faces_enabled(d) THEN
        RAISE EXCEPTION 'faces are off for dataset "%"', dataset USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('turn them on first: SELECT mediatag.enable_faces(%L)', dataset);
    END IF;
    -- Serialised on the dataset's row (only the owner can lock it): one back-fill per dataset at a time.
    PERFORM 1 FROM mediatag.dataset x WHERE x.id = d FOR UPDATE;
    SELECT x.id INTO j FROM mediatag.job x
    WHERE x.kind = 'face_scan' AND x.state IN ('queued', 'running') AND (x.payload ->> 'dataset_id')::bigint = d
    ORDER BY x.id LIMIT 1;
    IF j IS NULL THEN
        j := mediatag._enqueue_job('face_scan', jsonb_build_object('dataset_id', d));
    END IF;
    RETURN j;
END $$;

-- A running back-fill's progress (keyframes done of total, faces found), in its job's result; it doubles as a
-- heartbeat. Only the backend that claimed the job writes it.
CREATE OR REPLACE FUNCTION mediatag._face_scan_progress(job_id bigint, progress jsonb) RETURNS void
LANGUAGE sql AS $$
    UPDATE mediatag.job j SET result = progress, heartbeat_at = now()
    WHERE j.id = job_id AND j.state = 'running' AND j.worker_pid = pg_backend_pid()
$$;

-- A scan run in-process (ingest, `mediatag faces scan`) that left nothing to scan makes a queued back-fill of the
-- dataset redundant: it is closed, as score_tag_group closes a queued scoring job.
CREATE OR REPLACE FUNCTION mediatag._close_face_scan_jobs(dataset_id bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    IF EXISTS (SELECT 1 FROM mediatag._face_targets(dataset_id, 1)) THEN
        RETURN 0;
    END IF;
    UPDATE mediatag.job j SET state = 'done', finished_at = now(), result = jsonb_build_object('superseded_by', 'scan')
    WHERE j.kind = 'face_scan' AND j.state = 'queued' AND (j.payload ->> 'dataset_id')::bigint = _close_face_scan_jobs.dataset_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.face_status(dataset text)
RETURNS TABLE (enabled boolean, detector text, max_distance real, keyframes bigint, scanned bigint, faces bigint,
               people bigint, named bigint, unassigned bigint, job_state text, job_progress jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    RETURN QUERY
    SELECT mediatag._faces_enabled(d), coalesce(s.detector, 'hog'), coalesce(s.max_distance, 0.6::real),
           (SELECT count(*) FROM mediatag.keyframe k WHERE k.dataset_id = d),
           (SELECT count(*) FROM mediatag.face_scan x WHERE x.dataset_id = d),
           (SELECT count(*) FROM mediatag.face f WHERE f.dataset_id = d),
           (SELECT count(*) FROM mediatag.person p WHERE p.dataset_id = d),
           (SELECT count(*) FROM mediatag.person p WHERE p.dataset_id = d AND p.name IS NOT NULL),
           (SELECT count(*) FROM mediatag.face f WHERE f.dataset_id = d AND f.person_id IS NULL),
           j.state, j.result
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (SELECT x.state, x.result FROM mediatag.job x
                       WHERE x.kind = 'face_scan' AND (x.payload ->> 'dataset_id')::bigint = d
                       ORDER BY x.id DESC LIMIT 1) j ON true LEFT JOIN mediatag.face_setting s ON s.dataset_id = d;
END $$;

-- The keyframes a face scan still has to look at (the Python back-fill reads them, at most n).
CREATE OR REPLACE FUNCTION mediatag._face_targets(dataset_id bigint, n int DEFAULT 1000)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, shot_id bigint, time_ms int, image_path text)
LANGUAGE sql STABLE AS $$
    SELECT k.id, k.asset_id, k.shot_id, k.time_ms, k.image_path
    FROM mediatag.keyframe k
    WHERE k.dataset_id = $1 AND NOT EXISTS (SELECT 1 FROM mediatag.face_scan s WHERE s.keyframe_id = k.id)
    ORDER BY k.id LIMIT n
$$;

-- ---- listing ------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.faces(dataset text, person bigint DEFAULT NULL, asset bigint DEFAULT NULL,
                                          unassigned boolean DEFAULT false, keyframes bigint[] DEFAULT NULL)
RETURNS TABLE (face_id bigint, keyframe_id bigint, asset_id bigint, video_time_ms int, x int, y int, w int, h int,
               confidence real, quality real, track_id bigint, person_id bigint, person_name text, assigned_by text)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    RETURN QUERY
    SELECT f.id, f.keyframe_id, f.asset_id, CASE WHEN a.kind = 'video' THEN k.time_ms END, f.x, f.y, f.w, f.h,
           f.confidence, f.quality, f.track_id, f.person_id, p.name, f.assigned_by
    FROM mediatag.face f
    JOIN mediatag.keyframe k ON k.id = f.keyframe_id
    JOIN mediatag.asset a ON a.id = f.asset_id
    LEFT JOIN mediatag.person p ON p.id = f.person_id
    WHERE f.dataset_id = d
      AND (faces.person IS NULL OR f.person_id = faces.person)
      AND (faces.asset IS NULL OR f.asset_id = faces.asset)
      AND (NOT faces.unassigned OR f.person_id IS NULL)
      -- A page of keyframe tiles (search results, a dataset's grid): found through the face's (keyframe_id, …) key.
      AND (faces.keyframes IS NULL OR f.keyframe_id = ANY (faces.keyframes))
    ORDER BY f.asset_id, k.time_ms, f.id;
END $$;

-- The aligned crop of a face (JPEG), for the UI's face grids.
CREATE OR REPLACE FUNCTION mediatag.face_crop(face bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$ SELECT (mediatag._face(face)).crop $$;

CREATE OR REPLACE FUNCTION mediatag.people(dataset text)
RETURNS TABLE (person_id bigint, name text, faces bigint, tracks bigint, assets bigint, first_seen timestamptz,
               last_seen timestamptz, face_id bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    RETURN QUERY
    SELECT p.id, p.name, count(f.id), count(DISTINCT f.track_id), count(DISTINCT f.asset_id),
           min(a.created_at), max(a.created_at),
           -- the representative: the best face, a confirmed one first
           (array_agg(f.id ORDER BY (f.assigned_by = 'label') DESC, f.quality DESC, f.id))[1]
    FROM mediatag.person p
    JOIN mediatag.face f ON f.person_id = p.id
    JOIN mediatag.asset a ON a.id = f.asset_id
    WHERE p.dataset_id = d
    GROUP BY p.id, p.name
    ORDER BY p.name IS NULL, count(f.id) DESC, p.id;
END $$;

-- ---- naming, merging, splitting, labels ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.name_person(person bigint, name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE p mediatag.person := mediatag._person(person, 'naming a person'); clean text := nullif(btrim(name), '');
BEGIN
    IF clean IS NOT NULL AND (length(clean) > 100 OR clean ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'invalid person name %: 1 to 100 printable characters', quote_literal(name)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM mediatag.person x WHERE x.dataset_id = p.dataset_id AND x.id <> p.id
               AND lower(x.name) = lower(clean)) THEN
        RAISE EXCEPTION 'another person of this dataset is already named "%"', clean USING ERRCODE = 'unique_violation',
            HINT = 'the same person twice? merge them with mediatag.merge_people(person, into_person)';
    END IF;
    UPDATE mediatag.person SET name = clean, named_by = session_user, named_at = now() WHERE id = p.id;
    RETURN p.id;
END $$;

-- A person from faces a user picked (confirmed), e.g. the faces found in uploaded example photos.
CREATE OR REPLACE FUNCTION mediatag.create_person(dataset text, name text DEFAULT NULL, faces bigint[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); new_id bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'creating a person');
    IF EXISTS (SELECT 1 FROM unnest(faces) u(id) LEFT JOIN mediatag.face f ON f.id = u.id
               WHERE f.id IS NULL OR f.dataset_id <> d) THEN
        RAISE EXCEPTION 'create_person needs faces of dataset "%"', dataset USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.person (dataset_id) VALUES (d) RETURNING id INTO new_id;
    UPDATE mediatag.face f SET person_id = new_id, assigned_by = 'label' WHERE f.id = ANY (faces);
    IF nullif(btrim(name), '') IS NOT NULL THEN
        PERFORM mediatag.name_person(new_id, name);
    END IF;
    RETURN new_id;
END $$;

-- Moves every face of `person` to `into_person` and drops `person`; the name is kept where into_person has none.
CREATE OR REPLACE FUNCTION mediatag.merge_people(person bigint, into_person bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE src mediatag.person := mediatag._person(person, 'merging people');
        dst mediatag.person := mediatag._person(into_person, 'merging people');
        n int;
BEGIN
    IF src.dataset_id <> dst.dataset_id OR src.id = dst.id THEN
        RAISE EXCEPTION 'people % and % cannot be merged: two different people of one dataset are needed', person,
            into_person USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.face SET person_id = dst.id WHERE person_id = src.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- a rejection of either now holds for the merged person
    INSERT INTO mediatag.face_rejection (face_id, person_id, dataset_id)
    SELECT r.face_id, dst.id, r.dataset_id FROM mediatag.face_rejection r WHERE r.person_id = src.id
    ON CONFLICT DO NOTHING;
    DELETE FROM mediatag.person WHERE id = src.id;
    IF dst.name IS NULL AND src.name IS NOT NULL THEN
        UPDATE mediatag.person SET name = src.name, named_by = session_user, named_at = now() WHERE id = dst.id;
    END IF;
    RETURN n;
END $$;

-- Moves the given faces (with the rest of their tracks) out of a person into a new one, confirmed.
CREATE OR REPLACE FUNCTION mediatag.split_person(person bigint, faces bigint[], name text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE p mediatag.person := mediatag._person(person, 'splitting a person'); new_id bigint;
BEGIN
    IF faces IS NULL OR cardinality(faces) = 0 OR EXISTS (
        SELECT 1 FROM unnest(faces) u(id) LEFT JOIN mediatag.face f ON f.id = u.id
        WHERE f.id IS NULL OR f.person_id IS DISTINCT FROM p.id) THEN
        RAISE EXCEPTION 'split_person needs faces of person %', p.id USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT face_id FROM mediatag.faces(dataset, person => ...) lists them';
    END IF;
    INSERT INTO mediatag.person (dataset_id) VALUES (p.dataset_id) RETURNING id INTO new_id;
    UPDATE mediatag.face f SET person_id = new_id, assigned_by = 'label'
    WHERE f.person_id = p.id
      AND (f.id = ANY (faces) OR f.track_id IN (SELECT x.track_id FROM mediatag.face x WHERE x.id = ANY (faces)));
    INSERT INTO mediatag.face_rejection (face_id, person_id, dataset_id)
    SELECT f.id, p.id, p.dataset_id FROM mediatag.face f WHERE f.person_id = new_id ON CONFLICT DO NOTHING;
    IF nullif(btrim(name), '') IS NOT NULL THEN
        PERFORM mediatag.name_person(new_id, name);
    END IF;
    RETURN new_id;
END $$;

-- correct => true: this face is this person (confirmed; clustering keeps it there). correct => false: it is not
-- (taken out of the person and never put back by clustering). person NULL with correct false: unassign the face.
CREATE OR REPLACE FUNCTION mediatag.label_face(face bigint, person bigint, correct boolean DEFAULT true) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE f mediatag.face := mediatag._face(face, 'labeling a face'); p mediatag.person; n int;
BEGIN
    IF correct IS NULL OR (person IS NULL AND correct) THEN
        RAISE EXCEPTION 'label_face needs a person to confirm, or correct => false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF person IS NOT NULL THEN
        p := mediatag._person(person, 'labeling a face');
        IF p.dataset_id <> f.dataset_id THEN
            RAISE EXCEPTION 'face % and person % belong to different datasets', f.id, p.id
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF correct THEN
        UPDATE mediatag.face SET person_id = p.id, assigned_by = 'label' WHERE id = f.id;
        DELETE FROM mediatag.face_rejection r WHERE r.face_id = f.id AND r.person_id = p.id;
        RETURN 1;
    END IF;
    IF person IS NOT NULL THEN
        INSERT INTO mediatag.face_rejection (face_id, person_id, dataset_id) VALUES (f.id, p.id, f.dataset_id)
        ON CONFLICT DO NOTHING;
    END IF;
    UPDATE mediatag.face SET person_id = NULL, assigned_by = NULL
    WHERE id = f.id AND (person IS NULL OR person_id = person);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The privacy request: the person and every face (box, crop, descriptor) assigned to them are deleted; their
-- keyframes stay scanned, so a later back-fill does not find them again.
CREATE OR REPLACE FUNCTION mediatag.forget_person(person bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE p mediatag.person := mediatag._person(person, 'forgetting a person'); n int;
BEGIN
    DELETE FROM mediatag.face f WHERE f.person_id = p.id
       OR f.track_id IN (SELECT x.track_id FROM mediatag.face x WHERE x.person_id = p.id);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM mediatag.person WHERE id = p.id;
    RETURN n;
END $$;

-- ---- who is on screen ---------------------------------------------------------------------------------------

-- Time ranges per video where a person is seen: a keyframe with their face covers its shot (or the keyframe's own
-- instant when the asset has no shots); ranges closer than gap_ms are merged. Images give one row at 0 ms.
CREATE OR REPLACE FUNCTION mediatag.appearances(dataset text, person bigint DEFAULT NULL, gap_ms int DEFAULT 1000)
RETURNS TABLE (person_id bigint, person_name text, asset_id bigint, start_ms int, end_ms int, faces bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    IF person IS NOT NULL THEN
        PERFORM mediatag._person(person);
    END IF;
    IF gap_ms IS NULL OR gap_ms < 0 THEN
        RAISE EXCEPTION 'gap_ms must be 0 or more' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH hits AS (
        SELECT f.person_id AS pid, f.asset_id AS aid, coalesce(s.start_ms, k.time_ms) AS s_ms,
               coalesce(s.end_ms, k.time_ms) AS e_ms, count(*) AS n
        FROM mediatag.face f
        JOIN mediatag.keyframe k ON k.id = f.keyframe_id
        LEFT JOIN mediatag.shot s ON s.id = k.shot_id
        WHERE f.dataset_id = d AND f.person_id IS NOT NULL
          AND (appearances.person IS NULL OR f.person_id = appearances.person)
        GROUP BY 1, 2, 3, 4
    ), ordered AS (
        SELECT h.*, max(h.e_ms) OVER (PARTITION BY h.pid, h.aid ORDER BY h.s_ms, h.e_ms
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM hits h
    ), grouped AS (
        SELECT o.*, sum(CASE WHEN o.prev_end IS NULL OR o.s_ms > o.prev_end + gap_ms THEN 1 ELSE 0 END)
                    OVER (PARTITION BY o.pid, o.aid ORDER BY o.s_ms, o.e_ms) AS grp
        FROM ordered o
    )
    SELECT g.pid, p.name, g.aid, min(g.s_ms), max(g.e_ms), sum(g.n)::bigint
    FROM grouped g JOIN mediatag.person p ON p.id = g.pid
    GROUP BY g.pid, p.name, g.aid, g.grp
    ORDER BY g.pid, g.aid, min(g.s_ms);
END $$;

-- ---- face search --------------------------------------------------------------------------------------------

-- The faces nearest a face descriptor (an uploaded photo's face) across the dataset: find a person across the
-- library. distance < max_distance (the dataset's, 0.6 by default) is "the same person" at dlib's operating point.
CREATE OR REPLACE FUNCTION mediatag.search_faces(dataset text, descriptor vector, k int DEFAULT 50,
                                                 max_distance real DEFAULT NULL)
RETURNS TABLE (face_id bigint, keyframe_id bigint, asset_id bigint, video_time_ms int, person_id bigint,
               person_name text, distance real, rank int)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); lim real;
BEGIN
    IF descriptor IS NULL OR vector_dims(descriptor) <> 128 THEN
        RAISE EXCEPTION 'a face descriptor has 128 dimensions, got %', coalesce(vector_dims(descriptor), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, got %', k USING ERRCODE = 'invalid_parameter_value';
    END IF;
    lim := coalesce(max_distance, (SELECT s.max_distance FROM mediatag.face_setting s WHERE s.dataset_id = d), 0.6);
    PERFORM set_config('hnsw.ef_search', least(greatest(4 * k, 100), 1000)::text, true);
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);  -- other datasets' faces share the graph
    RETURN QUERY
    SELECT t.id, t.keyframe_id, t.asset_id, CASE WHEN a.kind = 'video' THEN kf.time_ms END, t.person_id, p.name,
           t.dist::real, (row_number() OVER (ORDER BY t.dist, t.id))::int
    FROM (SELECT f.id, f.keyframe_id, f.asset_id, f.person_id, f.descriptor OPERATOR(public.<->) search_faces.descriptor AS dist
          FROM mediatag.face f WHERE f.dataset_id = d
          ORDER BY f.descriptor OPERATOR(public.<->) search_faces.descriptor LIMIT k) t
    JOIN mediatag.keyframe kf ON kf.id = t.keyframe_id
    JOIN mediatag.asset a ON a.id = t.asset_id
    LEFT JOIN mediatag.person p ON p.id = t.person_id
    WHERE t.dist < lim
    ORDER BY t.dist, t.id;
END $$;

-- The faces of image files the service reads (under its media roots): an uploaded photo's faces, largest first
-- (face_index 0 is the photo's subject), for search_faces, add_face_example_descriptors and
-- add_concept_face_descriptors from SQL alone. The SDK finds them in its own process instead.
CREATE OR REPLACE FUNCTION mediatag.photo_faces(paths text[])
RETURNS TABLE (path text, face_index int, x int, y int, w int, h int, quality real, descriptor vector)
LANGUAGE sql AS $$
    SELECT paths[p.i::int], (f.j - 1)::int, (f.face ->> 'x')::int, (f.face ->> 'y')::int, (f.face ->> 'w')::int,
           (f.face ->> 'h')::int, (f.face ->> 'quality')::real, (f.face ->> 'descriptor')::vector
    FROM jsonb_array_elements(mediatag._service_post('/faces/detect',
             jsonb_build_object('paths', to_jsonb(coalesce(paths, '{}'::text[]))), 300) -> 'faces')
         WITH ORDINALITY AS p(faces, i)
    CROSS JOIN LATERAL jsonb_array_elements(p.faces) WITH ORDINALITY AS f(face, j)
    ORDER BY p.i, f.j
$$;

-- search() by a face of the dataset: the faces nearest it (itself first, at distance 0).
CREATE OR REPLACE FUNCTION mediatag.search(dataset text, face bigint, k int DEFAULT 50, max_distance real DEFAULT NULL)
RETURNS TABLE (face_id bigint, keyframe_id bigint, asset_id bigint, video_time_ms int, person_id bigint,
               person_name text, distance real, rank int)
LANGUAGE plpgsql STABLE AS $$
DECLARE f mediatag.face := mediatag._face(face);
BEGIN
    IF f.dataset_id <> mediatag.dataset_id(dataset) THEN
        RAISE EXCEPTION 'face % is not in dataset "%"', face, dataset USING ERRCODE = 'no_data_found',
            HINT = 'SELECT * FROM mediatag.faces(dataset) lists the faces of a dataset';
    END IF;
    RETURN QUERY SELECT * FROM mediatag.search_faces(dataset, f.descriptor, k, max_distance);
END $$;

-- A person's score of every keyframe with faces: the best face decides (mediatag._face_score of the distance of the
-- face nearest the person's confirmed and clustered faces), so 0.5 sits at dlib's same-person distance.
CREATE OR REPLACE FUNCTION mediatag.person_scores(person bigint)
RETURNS TABLE (keyframe_id bigint, score real, decision boolean, face_id bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE p mediatag.person := mediatag._person(person); lim real;
BEGIN
    lim := coalesce((SELECT s.max_distance FROM mediatag.face_setting s WHERE s.dataset_id = p.dataset_id), 0.6);
    RETURN QUERY
    WITH members AS (SELECT m.descriptor FROM mediatag.face m WHERE m.person_id = p.id),
    per_face AS (
        SELECT f.keyframe_id AS kid, f.id AS fid,
               (SELECT min(f.descriptor OPERATOR(public.<->) m.descriptor) FROM members m) AS dist
        FROM mediatag.face f
        WHERE f.dataset_id = p.dataset_id
          AND NOT EXISTS (SELECT 1 FROM mediatag.face_rejection r WHERE r.face_id = f.id AND r.person_id = p.id)
    )
    SELECT DISTINCT ON (x.kid) x.kid, mediatag._face_score(x.dist, lim), x.dist < lim, x.fid
    FROM per_face x WHERE x.dist IS NOT NULL
    ORDER BY x.kid, x.dist;
END $$;

-- ---- comments (the catalog the SDK and CLI read; format as in comments.sql) ----------------------------------

COMMENT ON FUNCTION mediatag.enable_faces(text, boolean, mediatag.face_detector) IS
'Turns face detection on (or off) for a dataset; it is off by default. Editors of the dataset.
dataset: the dataset''s name
enabled: true to find faces on every keyframe (ingest --faces; keyframes already ingested are queued for the
  service''s worker: mediatag.scan_faces), false to stop (default true)
detector: hog (fast, frontal faces) or cnn (slower on a CPU, more poses) (default hog)
Returns: the setting now in force.';

COMMENT ON FUNCTION mediatag.face_status(text) IS
'Where faces stand in a dataset: the setting, keyframes scanned, faces and people. Viewers who can read it.
dataset: the dataset''s name
Returns: one row: enabled, detector, max_distance, keyframes, scanned, faces, people, named, unassigned, job_state
  and job_progress (the latest back-fill job''s state and its progress: keyframes done of total, faces found).';

COMMENT ON FUNCTION mediatag.scan_faces(text) IS
'Queues the face back-fill of the dataset''s keyframes not scanned yet, for the service''s worker (resumable;
enable_faces queues it too). Editors of the dataset.
dataset: the dataset''s name (faces must be on)
Returns: the job id (the one already queued or running for the dataset, if any).';

COMMENT ON FUNCTION mediatag.faces(text, bigint, bigint, boolean, bigint[]) IS
'Lists the faces found in a dataset, with their box and person. Viewers who can read it.
dataset: the dataset''s name
person: only this person''s faces (default NULL: all)
asset: only this asset''s faces (default NULL: all)
unassigned: only faces that belong to no person (default false)
keyframes: only the faces on these keyframes, e.g. a page of tiles (default NULL: all)
Returns: face_id, keyframe_id, asset_id, video_time_ms (NULL for images), x, y, w, h (keyframe pixels), confidence,
  quality (0..1), track_id, person_id, person_name, assigned_by (cluster | label).';

COMMENT ON FUNCTION mediatag.face_crop(bigint) IS
'The aligned crop of one face, as a JPEG. Viewers who can read its dataset.
face: the face id
Returns: the JPEG bytes.';

COMMENT ON FUNCTION mediatag.people(text) IS
'Lists the people found in a dataset (clusters of faces, named or not). Viewers who can read it.
dataset: the dataset''s name
Returns: person_id, name (NULL until named), faces, tracks, assets, first_seen and last_seen (when their assets were
  ingested), face_id (the representative face: a confirmed one, then the best quality).';

COMMENT ON FUNCTION mediatag.name_person(bigint, text) IS
'Names a person (or clears the name); names are unique within a dataset, ignoring case. Editors of the dataset.
person: the person id
name: 1 to 100 printable characters; NULL or empty clears the name
Returns: the person id.';

COMMENT ON FUNCTION mediatag.create_person(text, text, bigint[]) IS
'Creates a person from faces picked by a user (confirmed), e.g. those found in example photos. Editors of the dataset.
dataset: the dataset''s name
name: the person''s name (default NULL: unnamed)
faces: face ids of that dataset that are this person (default NULL: none yet)
Returns: the new person''s id.';

COMMENT ON FUNCTION mediatag.merge_people(bigint, bigint) IS
'Merges one person into another: every face moves, the first person is dropped. Editors of the dataset.
person: the person to merge away
into_person: the person who keeps the faces (and takes the name when it has none)
Returns: the number of faces moved.';

COMMENT ON FUNCTION mediatag.split_person(bigint, bigint[], text) IS
'Moves some faces of a person (with their tracks) to a new person, confirmed. Editors of the dataset.
person: the person to split
faces: face ids of that person that are someone else
name: the new person''s name (default NULL: unnamed)
Returns: the new person''s id.';

COMMENT ON FUNCTION mediatag.label_face(bigint, bigint, boolean) IS
'Confirms that a face is a person, or that it is not (clustering never puts it back). Editors of the dataset.
face: the face id
person: the person id (NULL with correct => false: take the face out of its person)
correct: true (the face is this person) or false (it is not) (default true)
Returns: the number of faces changed (0 or 1).';

COMMENT ON FUNCTION mediatag.forget_person(bigint) IS
'Forgets a person: deletes the person and every face of theirs, box, crop and descriptor. Editors of the dataset.
person: the person id
Returns: the number of faces deleted.';

COMMENT ON FUNCTION mediatag.appearances(text, bigint, integer) IS
'Who is on screen: time ranges per video where a person is seen (a face covers its shot). Viewers who can read it.
dataset: the dataset''s name
person: only this person (default NULL: every person)
gap_ms: ranges closer than this are merged (default 1000)
Returns: person_id, person_name, asset_id, start_ms, end_ms (both 0 for images), faces.';

COMMENT ON FUNCTION mediatag.search_faces(text, vector, integer, real) IS
'The faces of a dataset nearest a face descriptor (e.g. of an uploaded photo), nearest first. Viewers who can read it.
dataset: the dataset''s name
descriptor: a 128-d dlib face descriptor
k: the most faces returned, 1 to 1000 (default 50)
max_distance: only faces nearer than this (default NULL: the dataset''s, 0.6)
Returns: face_id, keyframe_id, asset_id, video_time_ms, person_id, person_name, distance, rank.';

COMMENT ON FUNCTION mediatag.photo_faces(text[]) IS
'The faces the service finds in image files (e.g. uploaded photos), largest first. Viewers.
paths: image file paths the service reads (under its media roots, MEDIATAG_MEDIA_ROOTS)
Returns: path, face_index (0: the largest face, the photo''s subject), x, y, w, h (pixels), quality (0..1),
  descriptor (128-d, for search_faces and the add_*face*descriptors functions).';

COMMENT ON FUNCTION mediatag.search(text, bigint, integer, real) IS
'Face search: the faces of a dataset nearest one of its faces, to find a person across it. Viewers who can read it.
dataset: the dataset''s name
face: a face id of that dataset
k: the most faces returned, 1 to 1000 (default 50)
max_distance: only faces nearer than this (default NULL: the dataset''s, 0.6)
Returns: face_id, keyframe_id, asset_id, video_time_ms, person_id, person_name, distance, rank.';

COMMENT ON FUNCTION mediatag.person_scores(bigint) IS
'Scores every keyframe with faces for a person: the best face decides (0.5 at the same-person distance). Viewers.
person: the person id
Returns: keyframe_id, score (0..1), decision (the face is nearer than the dataset''s max_distance), face_id.';
