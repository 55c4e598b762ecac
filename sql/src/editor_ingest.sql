-- Editors add media with their own login (issue 28). No role but the owner writes a base table, so an ingest
-- COPYs its rows into staging tables and one SECURITY DEFINER function moves them into place:
--   create_dataset -> start_ingest (a run of the caller's) -> per batch, in one transaction: COPY into
--   ingest_stage_* and ingest_staged(run) -> after_ingest -> finish_ingest.
-- Staged rows are stamped with the login that wrote them by a trigger (whatever the COPY sent), the move takes only
-- the caller's rows of a run the caller started, and logins may INSERT into the staging tables but neither read,
-- change nor delete a row there: one editor can neither see nor tamper with another's batch. A batch is staged and
-- moved in one transaction, so a crash leaves no staged or half-moved rows; a rerun skips what was committed
-- (files are known by sha256). COPY FROM refuses tables under row-level security, so these tables have none
-- (policies.sql leaves them out); their privileges are the fence.
-- Files must lie under the media roots an admin sets (add_media_root): real paths, resolved on the database
-- server, so ".." and symlinks cannot lead out. A superuser (the operator) ingests from anywhere.

CREATE TABLE IF NOT EXISTS mediatag.media_root (
    path      text PRIMARY KEY CHECK (path ~ '^/'),
    added_by  text NOT NULL DEFAULT session_user,
    added_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE mediatag.ingest_run ADD COLUMN IF NOT EXISTS started_by text;

-- One row per file of a batch (`item` numbers them within the batch); children refer to their file by `item`.
CREATE UNLOGGED TABLE IF NOT EXISTS mediatag.ingest_stage_asset (
    ingest_run_id bigint NOT NULL,
    staged_by     text NOT NULL DEFAULT session_user,
    item          int NOT NULL,
    kind          text NOT NULL,
    path          text NOT NULL,
    sha256        text NOT NULL,
    size_bytes    bigint,
    duration_ms   int,
    width         int,
    height        int,
    tech          jsonb NOT NULL DEFAULT '{}',
    metadata      jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'ingested',
    error         text,
    replaces      bigint   -- the error asset of an earlier run this file's retry replaces
);
CREATE UNLOGGED TABLE IF NOT EXISTS mediatag.ingest_stage_shot (
    ingest_run_id bigint NOT NULL,
    staged_by     text NOT NULL DEFAULT session_user,
    item          int NOT NULL,
    shot_index    int NOT NULL,
    start_ms      int NOT NULL,
    end_ms        int NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS mediatag.ingest_stage_keyframe (
    ingest_run_id  bigint NOT NULL,
    staged_by      text NOT NULL DEFAULT session_user,
    item           int NOT NULL,
    shot_index     int,
    keyframe_index int NOT NULL,
    time_ms        int NOT NULL,
    image_path     text NOT NULL,
    width          int,
    height         int,
    embedding      halfvec   -- NULL: stored without a vector (ingest --ray), into keyframe_pending (backfill.sql)
);
CREATE UNLOGGED TABLE IF NOT EXISTS mediatag.ingest_stage_segment (
    ingest_run_id  bigint NOT NULL,
    staged_by      text NOT NULL DEFAULT session_user,
    item           int NOT NULL,
    segment_index  int NOT NULL,
    start_ms       int NOT NULL,
    end_ms         int NOT NULL,
    text           text NOT NULL,
    source         text NOT NULL,
    language       text,
    embedding      halfvec NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_stage_asset_run_idx ON mediatag.ingest_stage_asset (ingest_run_id, staged_by);
CREATE INDEX IF NOT EXISTS ingest_stage_shot_run_idx ON mediatag.ingest_stage_shot (ingest_run_id, staged_by);
CREATE INDEX IF NOT EXISTS ingest_stage_keyframe_run_idx ON mediatag.ingest_stage_keyframe (ingest_run_id, staged_by);
CREATE INDEX IF NOT EXISTS ingest_stage_segment_run_idx ON mediatag.ingest_stage_segment (ingest_run_id, staged_by);

-- Whoever a COPY claims to be, a staged row is the login's that wrote it.
CREATE OR REPLACE FUNCTION mediatag._stamp_staged_by() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.staged_by := session_user;
    RETURN NEW;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ingest_stage_asset', 'ingest_stage_shot', 'ingest_stage_keyframe', 'ingest_stage_segment'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER stamp_staged_by BEFORE INSERT ON mediatag.%I
                        FOR EACH ROW EXECUTE FUNCTION mediatag._stamp_staged_by()', t);
    END LOOP;
END $$;

-- ---- media roots -------------------------------------------------------------------------------------------------

-- The real path of `path` on the database server (symlinks and ".." resolved; a path that does not exist there is
-- normalised as far as it goes). NULL for a relative path.
CREATE OR REPLACE FUNCTION mediatag._real_path(path text) RETURNS text
LANGUAGE plpython3u STABLE STRICT AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_editor_ingest
return sql_editor_ingest.real_path(path)
$$;

CREATE OR REPLACE FUNCTION mediatag.add_media_root(path text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE real text := mediatag._real_path(path);
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'setting the media roots');
    IF real IS NULL OR real = '/' THEN
        RAISE EXCEPTION 'media root "%" must be an absolute path below /', path USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.media_root AS x (path) VALUES (real) ON CONFLICT ON CONSTRAINT media_root_pkey DO NOTHING;
    RETURN real;
END $$;

CREATE OR REPLACE FUNCTION mediatag.remove_media_root(path text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'setting the media roots');
    DELETE FROM mediatag.media_root r WHERE r.path IN (remove_media_root.path, mediatag._real_path(remove_media_root.path));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag.media_roots() RETURNS TABLE (path text, added_by text, added_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT r.path, r.added_by, r.added_at FROM mediatag.media_root r ORDER BY r.path
$$;

-- Of `paths`, those an ingest may not read: relative, with a ".." part, or whose real path lies outside every
-- media root (a symlink out of a root counts as outside).
CREATE OR REPLACE FUNCTION mediatag.paths_outside_media_roots(paths text[]) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT p FROM unnest(paths) WITH ORDINALITY u(p, i)
    WHERE p IS NULL OR p !~ '^/' OR p ~ '(^|/)\.\.(/|$)'
       OR NOT EXISTS (SELECT 1 FROM mediatag.media_root r
                      WHERE mediatag._real_path(p) = r.path OR starts_with(mediatag._real_path(p), r.path || '/'))
    ORDER BY i
$$;

-- Raises unless every path lies under the media roots; a superuser's session passes.
CREATE OR REPLACE FUNCTION mediatag._require_media_paths(paths text[], what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE outside text[];
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
        RETURN;
    END IF;
    outside := ARRAY(SELECT mediatag.paths_outside_media_roots(ARRAY(SELECT DISTINCT p FROM unnest(paths) p)));
    IF cardinality(outside) > 0 THEN
        RAISE EXCEPTION '% reads files under the media roots only; % path(s) lie outside: %', what,
            cardinality(outside), array_to_string(outside[1:3], ', ') || CASE WHEN cardinality(outside) > 3 THEN ', …' ELSE '' END
            USING ERRCODE = 'insufficient_privilege',
                  HINT = CASE WHEN NOT EXISTS (SELECT 1 FROM mediatag.media_root)
                              THEN 'no media roots are set: an admin adds one with mediatag.add_media_root(path)'
                              ELSE 'SELECT * FROM mediatag.media_roots() lists them; paths must be absolute, without "..", and not lead out through a symlink' END;
    END IF;
END $$;

-- ---- an ingest run and its batches ---------------------------------------------------------------------------------

-- Starts a run of the caller's into an existing dataset (create_dataset makes a new one): checks the caller may
-- write it and that the named files or folders lie under the media roots. Forgets what the caller staged for
-- earlier runs (a batch is staged and moved in one transaction, so any such rows are a dead client's leftovers).
CREATE OR REPLACE FUNCTION mediatag.start_ingest(dataset text, paths text[] DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); run bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'ingesting into a dataset');
    PERFORM mediatag._require_media_paths(coalesce(paths, '{}'), 'ingesting');
    INSERT INTO mediatag.ingest_run (dataset_id, summary, started_by)
    VALUES (d, jsonb_build_object('paths', to_jsonb((coalesce(paths, '{}'))[1:100])), session_user)
    RETURNING id INTO run;
    DELETE FROM mediatag.ingest_stage_asset s WHERE s.staged_by = session_user AND s.ingest_run_id <> run;
    DELETE FROM mediatag.ingest_stage_shot s WHERE s.staged_by = session_user AND s.ingest_run_id <> run;
    DELETE FROM mediatag.ingest_stage_keyframe s WHERE s.staged_by = session_user AND s.ingest_run_id <> run;
    DELETE FROM mediatag.ingest_stage_segment s WHERE s.staged_by = session_user AND s.ingest_run_id <> run;
    RETURN run;
END $$;

-- The run, if the caller started it and it has not finished; raises otherwise.
CREATE OR REPLACE FUNCTION mediatag._own_ingest_run(run bigint) RETURNS mediatag.ingest_run
LANGUAGE plpgsql STABLE AS $$
DECLARE r mediatag.ingest_run;
BEGIN
    SELECT x.* INTO r FROM mediatag.ingest_run x WHERE x.id = run;
    IF r.id IS NULL OR r.started_by IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'ingest run % is not one % started', run, session_user USING ERRCODE = 'insufficient_privilege',
            HINT = 'start one with mediatag.start_ingest(dataset, paths)';
    END IF;
    IF r.finished_at IS NOT NULL THEN
        RAISE EXCEPTION 'ingest run % has finished', run USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN r;
END $$;

-- Moves the caller's staged rows of run `ingest_run` (one batch) into the dataset, in the caller's transaction:
-- error assets being retried go, assets come in (a file another ingest stored meanwhile is skipped), then their
-- shots, keyframes and transcript segments. Checks first: the run is the caller's, the caller may write the
-- dataset, every file and keyframe image lies under the media roots, every vector has the dataset's dimension.
CREATE OR REPLACE FUNCTION mediatag.ingest_staged(ingest_run bigint) RETURNS TABLE (item int, asset_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r mediatag.ingest_run := mediatag._own_ingest_run(ingest_run);
    d mediatag.dataset;
    me text := session_user;
    bad text;
    items int[];
    ids bigint[];
BEGIN
    PERFORM mediatag._require_write(r.dataset_id, 'ingesting into a dataset');
    SELECT x.* INTO d FROM mediatag.dataset x WHERE x.id = r.dataset_id;
    PERFORM mediatag._require_media_paths(
        ARRAY(SELECT s.path FROM mediatag.ingest_stage_asset s WHERE s.ingest_run_id = r.id AND s.staged_by = me
              UNION SELECT k.image_path FROM mediatag.ingest_stage_keyframe k WHERE k.ingest_run_id = r.id AND k.staged_by = me),
        'ingesting');
    SELECT format('keyframe %s of file %s has %s dimensions, the dataset''s visual model %s', k.keyframe_index, k.item,
                  vector_dims(k.embedding), d.visual_dim) INTO bad
    FROM mediatag.ingest_stage_keyframe k
    WHERE k.ingest_run_id = r.id AND k.staged_by = me AND vector_dims(k.embedding) <> d.visual_dim LIMIT 1;
    IF bad IS NULL THEN
        SELECT format('segment %s of file %s has %s dimensions, the dataset''s text model %s', t.segment_index, t.item,
                      vector_dims(t.embedding), d.text_dim) INTO bad
        FROM mediatag.ingest_stage_segment t
        WHERE t.ingest_run_id = r.id AND t.staged_by = me AND vector_dims(t.embedding) <> d.text_dim LIMIT 1;
    END IF;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'staged rows do not fit dataset "%": %', d.name, bad USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A retry's outcome (ingested, or this run's error) takes the old error asset's place.
    DELETE FROM mediatag.asset a USING mediatag.ingest_stage_asset s
    WHERE s.ingest_run_id = r.id AND s.staged_by = me AND a.id = s.replaces AND a.dataset_id = d.id AND a.status = 'error';
    WITH ins AS (
        INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, size_bytes, duration_ms, width, height, tech,
                                    metadata, status, error, ingest_run_id)
        SELECT d.id, s.kind, s.path, s.sha256, s.size_bytes, s.duration_ms, s.width, s.height, s.tech, s.metadata,
               s.status, s.error, r.id
        FROM mediatag.ingest_stage_asset s WHERE s.ingest_run_id = r.id AND s.staged_by = me ORDER BY s.item
        ON CONFLICT (dataset_id, sha256) DO NOTHING
        RETURNING id, sha256, status)
    SELECT array_agg(s.item ORDER BY s.item), array_agg(ins.id ORDER BY s.item) INTO items, ids
    FROM ins JOIN mediatag.ingest_stage_asset s ON s.sha256 = ins.sha256 AND s.ingest_run_id = r.id AND s.staged_by = me
    WHERE ins.status = 'ingested' AND s.status = 'ingested';
    INSERT INTO mediatag.shot (asset_id, shot_index, start_ms, end_ms)
    SELECT m.asset_id, t.shot_index, t.start_ms, t.end_ms
    FROM mediatag.ingest_stage_shot t JOIN unnest(items, ids) m(item, asset_id) ON m.item = t.item
    WHERE t.ingest_run_id = r.id AND t.staged_by = me ORDER BY t.item, t.shot_index;
    -- Keyframes find their shot in the shot table's (asset_id, shot_index) key, in a statement of their own: joined
    -- to the rows an INSERT ... RETURNING hands back (no statistics: one row estimated), the planner compared every
    -- keyframe with every shot of the batch (16 hour-long videos: 16,000 x 1,600): batches of 16 such videos moved
    -- at ~2,000-2,400 keyframes/s that way, ~9,500-9,900/s this way (COPY included, same loaded machine).
    WITH m AS (SELECT u.item, u.asset_id FROM unnest(items, ids) u(item, asset_id)),
    kf AS (
        SELECT k.item, m.asset_id, sh.id AS shot_id, k.keyframe_index, k.time_ms, k.image_path, k.width, k.height,
               k.embedding
        FROM mediatag.ingest_stage_keyframe k JOIN m ON m.item = k.item
        LEFT JOIN mediatag.shot sh ON sh.asset_id = m.asset_id AND sh.shot_index = k.shot_index
        WHERE k.ingest_run_id = r.id AND k.staged_by = me),
    -- Keyframes staged without a vector (ingest --ray) wait in keyframe_pending for the back-fill (backfill.sql).
    pending AS (
        INSERT INTO mediatag.keyframe_pending (dataset_id, asset_id, shot_id, keyframe_index, time_ms, image_path,
                                               width, height)
        SELECT d.id, kf.asset_id, kf.shot_id, kf.keyframe_index, kf.time_ms, kf.image_path, kf.width, kf.height
        FROM kf WHERE kf.embedding IS NULL ORDER BY kf.item, kf.keyframe_index
        RETURNING 1)
    INSERT INTO mediatag.keyframe (dataset_id, asset_id, shot_id, keyframe_index, time_ms, image_path, width, height,
                                   embedding)
    SELECT d.id, kf.asset_id, kf.shot_id, kf.keyframe_index, kf.time_ms, kf.image_path, kf.width, kf.height, kf.embedding
    FROM kf WHERE kf.embedding IS NOT NULL ORDER BY kf.item, kf.keyframe_index;
    INSERT INTO mediatag.transcript_segment (dataset_id, asset_id, segment_index, start_ms, end_ms, text, source,
                                             language, embedding)
    SELECT d.id, m.asset_id, t.segment_index, t.start_ms, t.end_ms, t.text, t.source, t.language, t.embedding
    FROM mediatag.ingest_stage_segment t JOIN unnest(items, ids) m(item, asset_id) ON m.item = t.item
    WHERE t.ingest_run_id = r.id AND t.staged_by = me ORDER BY t.item, t.segment_index;
    -- Everything staged for the run goes, rows others slipped in under its id included (they were never read).
    DELETE FROM mediatag.ingest_stage_asset s WHERE s.ingest_run_id = r.id;
    DELETE FROM mediatag.ingest_stage_shot s WHERE s.ingest_run_id = r.id;
    DELETE FROM mediatag.ingest_stage_keyframe s WHERE s.ingest_run_id = r.id;
    DELETE FROM mediatag.ingest_stage_segment s WHERE s.ingest_run_id = r.id;
    RETURN QUERY SELECT u.item, u.asset_id FROM unnest(items, ids) u(item, asset_id) ORDER BY 1;
END $$;

CREATE OR REPLACE FUNCTION mediatag.finish_ingest(ingest_run bigint, summary jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE r mediatag.ingest_run := mediatag._own_ingest_run(ingest_run);
BEGIN
    UPDATE mediatag.ingest_run x SET finished_at = now(), summary = coalesce(finish_ingest.summary, '{}')
    WHERE x.id = r.id;
END $$;

-- ---- ingest as a job (the UI's uploads and folders) ---------------------------------------------------------------

-- Queues an ingest of files or folders under the media roots into a dataset (created by the job when new). The
-- caller's rights are checked now; the service's worker runs the job (mediatag.ingest.queue) and records its
-- progress in the job's result.
CREATE OR REPLACE FUNCTION mediatag.queue_ingest(dataset text, paths text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d bigint;
BEGIN
    PERFORM mediatag._require_role('mediatag_editor', 'ingesting into a dataset');
    PERFORM mediatag._check_dataset_name(dataset);
    IF EXISTS (SELECT 1 FROM mediatag.dataset x WHERE x.name = queue_ingest.dataset) THEN
        d := mediatag.dataset_id(dataset);
        PERFORM mediatag._require_write(d, 'ingesting into a dataset');
    END IF;
    IF coalesce(cardinality(paths), 0) = 0 OR cardinality(paths) > 10000 THEN
        RAISE EXCEPTION 'name between 1 and 10000 files or folders to ingest' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mediatag._require_media_paths(paths, 'ingesting');
    RETURN mediatag._enqueue_job('ingest', jsonb_build_object('dataset', dataset, 'dataset_id', d, 'paths', to_jsonb(paths),
                                                              'queued_by', session_user::text));
END $$;

CREATE OR REPLACE FUNCTION mediatag.ingest_jobs(dataset text, recent int DEFAULT 10)
RETURNS TABLE (job_id bigint, state text, queued_by text, paths text[], files int, files_done int, ingested int,
               errors int, error text, created_at timestamptz, finished_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT j.id, j.state, j.payload ->> 'queued_by',
           ARRAY(SELECT jsonb_array_elements_text(j.payload -> 'paths')),
           (j.result ->> 'files')::int, (j.result ->> 'files_done')::int, (j.result ->> 'ingested')::int,
           (j.result ->> 'errors')::int, j.error, j.created_at, j.finished_at
    FROM mediatag.job j
    WHERE j.kind = 'ingest' AND j.payload ->> 'dataset' = ingest_jobs.dataset
      AND (j.payload ->> 'queued_by' = session_user::text
           OR EXISTS (SELECT 1 FROM mediatag.dataset x WHERE x.name = ingest_jobs.dataset AND mediatag._can_read_dataset(x.id)))
    ORDER BY j.id DESC LIMIT greatest(recent, 0)
$$;

-- The running job's progress (files seen of files found), for the dataset page.
CREATE OR REPLACE FUNCTION mediatag._ingest_job_progress(job_id bigint, progress jsonb) RETURNS void
LANGUAGE sql AS $$
    UPDATE mediatag.job j SET result = coalesce(j.result, '{}') || progress, heartbeat_at = now()
    WHERE j.id = job_id AND j.state = 'running'
$$;

-- One job queued for a dataset (an ingest, a transcription or face scan back-fill, a scoring job): its state,
-- result and error, for whoever may read the dataset or queued the job. Logins without superuser run speech to
-- text and face scans through the service's worker (`mediatag transcribe` and `mediatag faces scan` queue them:
-- embedder/mediatag/service/backfill_queue.py) and follow the job here; mediatag.job itself is admins' only.
CREATE OR REPLACE FUNCTION mediatag.dataset_job(job bigint)
RETURNS TABLE (job_id bigint, kind text, dataset text, state text, attempts int, result jsonb, error text,
               created_at timestamptz, started_at timestamptz, finished_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE j mediatag.job; d mediatag.dataset;
BEGIN
    SELECT x.* INTO j FROM mediatag.job x WHERE x.id = dataset_job.job;
    SELECT x.* INTO d FROM mediatag.dataset x
    WHERE x.id = (j.payload ->> 'dataset_id')::bigint OR (j.payload ->> 'dataset_id' IS NULL AND x.name = j.payload ->> 'dataset');
    -- A job of a dataset the caller may not read is reported like a missing one: its existence is not shown.
    IF j.id IS NULL OR NOT (j.payload ->> 'queued_by' IS NOT DISTINCT FROM session_user::text
                            OR (d.id IS NOT NULL AND mediatag._can_read_dataset(d.id))) THEN
        RAISE EXCEPTION 'no job % of a dataset you may read', job USING ERRCODE = 'undefined_object',
            HINT = 'the commands that queue a job print its id; mediatag.ingest_jobs(dataset) lists ingests';
    END IF;
    RETURN QUERY SELECT j.id, j.kind, coalesce(d.name, j.payload ->> 'dataset'), j.state, j.attempts, j.result,
                        j.error, j.created_at, j.started_at, j.finished_at;
END $$;

COMMENT ON FUNCTION mediatag.add_media_root(text) IS
'Adds a folder under which editors may ingest files (and the UI stores uploads). Admins.
path: an absolute folder path on the database server; stored as its real path (symlinks resolved)
Returns: the stored real path.';
COMMENT ON FUNCTION mediatag.remove_media_root(text) IS
'Removes a media root; what was ingested from it stays. Admins.
path: the root as stored or as given to add_media_root
Returns: the number of roots removed (0 or 1).';
COMMENT ON FUNCTION mediatag.media_roots() IS
'Lists the media roots: the folders editors may ingest from. Viewers.
Returns: one row per root: path, added_by, added_at.';
COMMENT ON FUNCTION mediatag.paths_outside_media_roots(text[]) IS
'Which of some paths an editor may not ingest: relative, with a ".." part, or whose real path (symlinks
resolved on the database server) lies outside every media root. Viewers.
paths: absolute file or folder paths
Returns: the refused paths, in the order given (none: all may be ingested).';
COMMENT ON FUNCTION mediatag.start_ingest(text, text[]) IS
'Starts an ingest run into an existing dataset (the ingester calls it after create_dataset); checks the caller
may write the dataset and that the paths lie under the media roots (superusers: anywhere). Editors of it.
dataset: the dataset''s name
paths: the files and folders the run reads (default none)
Returns: the run''s id, the key of the rows it stages (ingest_stage_*).';
COMMENT ON FUNCTION mediatag.ingest_staged(bigint) IS
'Moves one batch the caller staged (COPY into mediatag.ingest_stage_asset, _shot, _keyframe, _segment) into
the dataset, in the caller''s transaction; checks rights, media roots and vector dimensions first. Editors of it.
ingest_run: a run the caller started with start_ingest and has not finished
Returns: one row per staged file now stored: item (its number in the batch), asset_id.';
COMMENT ON FUNCTION mediatag.finish_ingest(bigint, jsonb) IS
'Marks the caller''s ingest run finished with its summary. The login that started it.
ingest_run: the run''s id
summary: what the run did, as JSON (default {})
Returns: nothing.';
COMMENT ON FUNCTION mediatag.queue_ingest(text, text[]) IS
'Queues an ingest of files or folders under the media roots into a dataset (a new name creates it); rights are
checked now, the service''s worker runs it and records progress. Editors (of the dataset, if it exists).
dataset: the dataset''s name
paths: absolute file or folder paths under the media roots (1 to 10000)
Returns: the job id.';
COMMENT ON FUNCTION mediatag.ingest_jobs(text, integer) IS
'The latest ingest jobs of a dataset and their progress. Viewers of it (and whoever queued them).
dataset: the dataset''s name
recent: how many jobs, newest first (default 10)
Returns: one row per job: job_id, state, queued_by, paths, files, files_done, ingested, errors, error,
  created_at, finished_at.';
COMMENT ON FUNCTION mediatag.dataset_job(bigint) IS
'One job queued for a dataset (ingest, transcribe, face_scan, scoring): what `mediatag transcribe` and `mediatag
faces scan` follow when the service''s worker runs them for a login without superuser. Viewers of the dataset (and
whoever queued the job).
job: the job''s id, as the command or function that queued it returned it
Returns: one row: job_id, kind, dataset, state (queued, running, done, error, cancelled), attempts, result (the
  back-fill''s summary as JSON), error, created_at, started_at, finished_at.';
