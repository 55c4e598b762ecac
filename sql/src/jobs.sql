-- The work queue. Jobs run inside Postgres (CALL mediatag.run_jobs()), so the worker in `mediatag serve` is
-- a thin loop and psql users can drain the queue themselves.
-- Crash safety: the claim is committed with the attempt counted and the claiming backend recorded (its pid and
-- start time); the work itself runs in its own transaction. A worker that dies leaves a 'running' job whose
-- backend is gone, and the next worker re-claims it until max_attempts is reached. A worker that is alive but
-- stopped heartbeating (heartbeat_at older than mediatag.job_heartbeat_timeout) is taken over too, and the old
-- attempt's late writes are fenced off by `attempts`. Liveness is read from pg_stat_activity, never from advisory
-- locks: any login can take any advisory key, and could make a dead job look alive or stall every claim.
-- Failures are retried with exponential backoff (run_after); a job that cannot get a row lock (a publish left
-- open in a transaction, say) is requeued at once with backoff instead of blocking the worker for every other
-- job, and that wait does not count as an attempt.

CREATE TABLE IF NOT EXISTS mediatag.job (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'error', 'cancelled')),
    attempts      int NOT NULL DEFAULT 0,
    max_attempts  int NOT NULL DEFAULT 3,
    error         text,
    result        jsonb,
    worker        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
ALTER TABLE mediatag.job ADD COLUMN IF NOT EXISTS run_after timestamptz NOT NULL DEFAULT now();
ALTER TABLE mediatag.job ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;
ALTER TABLE mediatag.job ADD COLUMN IF NOT EXISTS lock_waits int NOT NULL DEFAULT 0;
ALTER TABLE mediatag.job ADD COLUMN IF NOT EXISTS worker_pid int;
ALTER TABLE mediatag.job ADD COLUMN IF NOT EXISTS worker_backend_start timestamptz;
CREATE INDEX IF NOT EXISTS job_pending_idx ON mediatag.job (id) WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS job_finished_idx ON mediatag.job (finished_at) WHERE state IN ('done', 'error', 'cancelled');

CREATE OR REPLACE FUNCTION mediatag._job_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mediatag_jobs', NEW.kind);
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER job_notify AFTER INSERT ON mediatag.job FOR EACH ROW EXECUTE FUNCTION mediatag._job_notify();

-- Internal: functions queue their own work through this after their own checks.
CREATE OR REPLACE FUNCTION mediatag._enqueue_job(kind text, payload jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO mediatag.job (kind, payload) VALUES (kind, payload) RETURNING id
$$;

-- Queueing arbitrary work by hand is an operator's action.
CREATE OR REPLACE FUNCTION mediatag.enqueue_job(kind text, payload jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'queueing a job by hand');
    RETURN mediatag._enqueue_job(kind, payload);
END $$;

-- Settings (GUCs, e.g. ALTER DATABASE … SET mediatag.job_retry_base = '30s'), read with these defaults.
CREATE OR REPLACE FUNCTION mediatag._setting_interval(name text, fallback interval) RETURNS interval
LANGUAGE plpgsql STABLE AS $$
DECLARE v text := current_setting(name, true);
BEGIN
    RETURN coalesce(nullif(v, '')::interval, fallback);
EXCEPTION WHEN invalid_datetime_format OR invalid_parameter_value THEN
    RAISE EXCEPTION 'setting % = "%" is not an interval (e.g. ''30s'', ''10 min'')', name, v
        USING ERRCODE = 'invalid_parameter_value';
END $$;

-- Is the backend that claimed this attempt still connected? (pid and start time: a pid alone may be reused.)
-- The owner reads other users' backends' start times through pg_read_all_stats (roles.sql).
CREATE OR REPLACE FUNCTION mediatag._job_worker_alive(j mediatag.job) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                   WHERE a.pid = j.worker_pid AND a.backend_start = j.worker_backend_start)
$$;

-- Records the calling backend as the one running job `j`'s next attempt.
CREATE OR REPLACE FUNCTION mediatag._job_take(j mediatag.job, worker_name text) RETURNS mediatag.job
LANGUAGE sql AS $$
    UPDATE mediatag.job x SET state = 'running', attempts = x.attempts + 1, started_at = now(), heartbeat_at = now(),
           worker = worker_name, error = j.error, worker_pid = pg_backend_pid(),
           worker_backend_start = (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_backend_pid())
    WHERE x.id = j.id RETURNING x.*
$$;

-- Backoff before retry number `attempt` (1-based): base * 2^(attempt-1), at most mediatag.job_retry_max.
CREATE OR REPLACE FUNCTION mediatag._job_backoff(attempt int) RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT least(mediatag._setting_interval('mediatag.job_retry_base', '10 seconds') * power(2, greatest(attempt, 1) - 1)::int,
                 mediatag._setting_interval('mediatag.job_retry_max', '10 minutes'))
$$;

CREATE OR REPLACE FUNCTION mediatag._claim_job(worker_name text) RETURNS mediatag.job
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job; stale interval := mediatag._setting_interval('mediatag.job_heartbeat_timeout', '30 minutes');
BEGIN
    PERFORM mediatag._require_role('mediatag_editor', 'running queued jobs');
    -- Kinds 'llm_*' call a remote model: the service's Python worker claims those (mediatag._claim_llm_job, llm.sql).
    -- The row lock (SKIP LOCKED) keeps two claims apart; the committed claim keeps later ones off a live attempt.
    -- So are the back-fills 'transcribe' (transcription.sql) and 'face_scan' (faces.sql), claimed through
    -- mediatag._claim_worker_job by the service's Python worker (service/backfill_jobs.py): they decode media and run
    -- speech and face models, and 'ingest' (editor_ingest.sql, ingest/queue.py): it decodes and embeds media files.
    FOR j IN SELECT * FROM mediatag.job WHERE state IN ('queued', 'running') AND run_after <= now()
                                          AND kind NOT LIKE 'llm\_%' AND kind NOT IN ('transcribe', 'face_scan', 'ingest')
             ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        IF j.state = 'running' THEN
            IF mediatag._job_worker_alive(j) THEN
                -- A live session holds this attempt: leave it unless it stopped heartbeating.
                IF coalesce(j.heartbeat_at, j.started_at) >= now() - stale THEN
                    CONTINUE;
                END IF;
                j.error := format('worker %s stopped heartbeating (last at %s); taken over', j.worker,
                                  coalesce(j.heartbeat_at, j.started_at));
            ELSE
                j.error := coalesce(j.error || '; ', '') || format('worker %s stopped mid-job', j.worker);
            END IF;
            IF j.attempts >= j.max_attempts THEN
                j.error := j.error || format(' (gave up after %s attempts)', j.attempts);
                UPDATE mediatag.job SET state = 'error', finished_at = now(), error = j.error WHERE id = j.id;
                PERFORM mediatag._job_failed(j, j.error);
                CONTINUE;
            END IF;
        END IF;
        RETURN mediatag._job_take(j, worker_name);
    END LOOP;
    RETURN NULL;
END $$;

-- The worker calls this every few seconds from a second connection while it runs jobs.
-- Only jobs claimed by a backend of the caller's own login: nobody keeps someone else's hung job looking alive.
CREATE OR REPLACE FUNCTION mediatag.job_heartbeat(worker_name text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    PERFORM mediatag._require_role('mediatag_editor', 'heartbeating a worker''s jobs');
    UPDATE mediatag.job j SET heartbeat_at = now()
    WHERE j.state = 'running' AND j.worker = worker_name
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = j.worker_pid AND a.usename = session_user);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION mediatag._execute_job(j mediatag.job) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    CASE j.kind
    WHEN 'score_group' THEN
        RETURN mediatag._score_group_job((j.payload ->> 'group_id')::bigint, (j.payload ->> 'dataset_id')::bigint,
                                         (j.payload ->> 'version')::int, j.id);
    WHEN 'score_assets' THEN
        -- rescore_asset_ids: assets scored before their transcript arrived (transcription.sql), scored again.
        RETURN mediatag._score_assets_job((j.payload ->> 'group_id')::bigint, (j.payload ->> 'dataset_id')::bigint,
                                          ARRAY(SELECT jsonb_array_elements_text(j.payload -> 'asset_ids')::bigint)
                                          || mediatag._rescore_assets(j.payload));
    ELSE
        RAISE EXCEPTION 'unknown job kind "%"', j.kind;
    END CASE;
END $$;

-- Deletes finished jobs (done, error, cancelled) older than `older_than` (default: mediatag.job_retention,
-- 7 days). run_jobs calls it once per call; returns the number deleted.
-- Finished jobs older than the retention (mediatag.job_retention, 7 days) go; editors purge with the retention
-- (run_jobs does), a shorter history is an admin's choice.
CREATE OR REPLACE FUNCTION mediatag.purge_jobs(older_than interval DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    IF older_than IS NULL THEN
        PERFORM mediatag._require_role('mediatag_editor', 'purging finished jobs');
    ELSE
        PERFORM mediatag._require_role('mediatag_admin', 'purging jobs with a retention of your own');
    END IF;
    DELETE FROM mediatag.job
    WHERE state IN ('done', 'error', 'cancelled')
      AND finished_at < now() - coalesce(older_than, mediatag._setting_interval('mediatag.job_retention', '7 days'));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Runs one claimed attempt and records its outcome. Only the backend that claimed the attempt may run it.
CREATE OR REPLACE FUNCTION mediatag._run_claimed_job(job_id bigint, attempt int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job; res jsonb; err text; outcome text;
BEGIN
    PERFORM mediatag._require_role('mediatag_editor', 'running queued jobs');
    SELECT * INTO j FROM mediatag.job x WHERE x.id = job_id AND x.attempts = attempt AND x.state = 'running'
                                          AND x.worker_pid = pg_backend_pid();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % attempt % is not claimed by this session', job_id, attempt
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    BEGIN
        res := mediatag._execute_job(j);
        outcome := 'done';
    EXCEPTION
        WHEN lock_not_available THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            outcome := 'lock';
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            outcome := 'failed';
    END;
    -- `attempts = j.attempts` fences off an attempt that was taken over meanwhile.
    IF outcome = 'done' THEN
        UPDATE mediatag.job SET state = 'done', finished_at = now(), error = NULL, result = res
        WHERE id = j.id AND attempts = j.attempts;
    ELSIF outcome = 'lock' THEN
        -- Someone holds a row this job needs (e.g. a publish left open): not the job's fault, try later.
        UPDATE mediatag.job SET state = 'queued', attempts = attempts - 1, lock_waits = lock_waits + 1,
               run_after = now() + mediatag._job_backoff(lock_waits + 1),
               error = format('waiting for a lock (%s); retrying after backoff', err)
        WHERE id = j.id AND attempts = j.attempts;
    ELSE
        UPDATE mediatag.job SET state = CASE WHEN attempts >= max_attempts THEN 'error' ELSE 'queued' END,
               run_after = now() + mediatag._job_backoff(attempts), error = err,
               finished_at = CASE WHEN attempts >= max_attempts THEN now() END
        WHERE id = j.id AND attempts = j.attempts;
        IF FOUND THEN
            PERFORM mediatag._job_failed(j, err);
        END IF;
    END IF;
    RETURN outcome;
END $$;

-- Runs queued jobs until the queue is empty or max_jobs have run. Returns the number run. Editors and admins.
CREATE OR REPLACE PROCEDURE mediatag.run_jobs(max_jobs int DEFAULT 1000, worker_name text DEFAULT 'sql', INOUT ran int DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job;
BEGIN
    ran := 0;
    PERFORM mediatag.purge_jobs();
    COMMIT;
    WHILE ran < max_jobs LOOP
        j := mediatag._claim_job(worker_name);
        EXIT WHEN j.id IS NULL;
        COMMIT;   -- the claim is visible (and survives a crash of this session) before the work starts
        PERFORM mediatag._run_claimed_job(j.id, j.attempts);
        COMMIT;
        ran := ran + 1;
    END LOOP;
END $$;

-- What a failed attempt means for the dataset: the application shows the error; after the last attempt its
-- status becomes 'error' (it stays 'queued' while retries are pending).
CREATE OR REPLACE FUNCTION mediatag._job_failed(j mediatag.job, err text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF j.kind IN ('score_group', 'score_assets') THEN
        UPDATE mediatag.group_application
           SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'error' ELSE status END,
               error = CASE WHEN j.attempts >= j.max_attempts
                            THEN format('%s job %s failed after %s attempts: %s', j.kind, j.id, j.attempts, err)
                            ELSE format('attempt %s of %s failed, will retry: %s', j.attempts, j.max_attempts, err) END
         WHERE group_id = (j.payload ->> 'group_id')::bigint AND dataset_id = (j.payload ->> 'dataset_id')::bigint;
    END IF;
END $$;
