-- The work queue. Jobs run inside Postgres (CALL mediatag.run_jobs()), so the worker in `mediatag serve` is
-- a thin loop and psql users can drain the queue themselves.
-- Crash safety: the claim is committed with the attempt counted; the work itself runs in its own
-- transaction while the worker holds a session advisory lock on the job. A worker that dies loses its lock,
-- and the next worker re-claims the job ('running' but unlocked) until max_attempts is reached.

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
CREATE INDEX IF NOT EXISTS job_pending_idx ON mediatag.job (id) WHERE state IN ('queued', 'running');

CREATE OR REPLACE FUNCTION mediatag._job_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mediatag_jobs', NEW.kind);
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER job_notify AFTER INSERT ON mediatag.job FOR EACH ROW EXECUTE FUNCTION mediatag._job_notify();

CREATE OR REPLACE FUNCTION mediatag.enqueue_job(kind text, payload jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO mediatag.job (kind, payload) VALUES (kind, payload) RETURNING id
$$;

-- Job ids are locked in the advisory-lock space with this class id, so they cannot collide with other users.
CREATE OR REPLACE FUNCTION mediatag._job_lock_key() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 7346 $$;

CREATE OR REPLACE FUNCTION mediatag._claim_job(worker_name text) RETURNS mediatag.job
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job;
BEGIN
    -- Kinds 'llm_*' call a remote model: the service's Python worker claims those (mediatag._claim_llm_job, llm.sql).
    FOR j IN SELECT * FROM mediatag.job WHERE state IN ('queued', 'running') AND kind NOT LIKE 'llm\_%'
             ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        IF NOT pg_try_advisory_lock(mediatag._job_lock_key(), j.id::int) THEN
            CONTINUE;   -- a live worker is on it
        END IF;
        IF j.attempts >= j.max_attempts THEN
            UPDATE mediatag.job SET state = 'error', finished_at = now(),
                   error = coalesce(error, '') || format(' (gave up after %s attempts; the worker stopped mid-job)', j.attempts)
            WHERE id = j.id;
            PERFORM pg_advisory_unlock(mediatag._job_lock_key(), j.id::int);
            CONTINUE;
        END IF;
        UPDATE mediatag.job SET state = 'running', attempts = attempts + 1, started_at = now(), worker = worker_name
        WHERE id = j.id RETURNING * INTO j;
        RETURN j;
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION mediatag._execute_job(j mediatag.job) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    CASE j.kind
    WHEN 'score_group' THEN
        RETURN mediatag._score_group_job((j.payload ->> 'group_id')::bigint, (j.payload ->> 'dataset_id')::bigint,
                                         (j.payload ->> 'version')::int, j.id);
    ELSE
        RAISE EXCEPTION 'unknown job kind "%"', j.kind;
    END CASE;
END $$;

-- Runs queued jobs until the queue is empty or max_jobs have run. Returns the number run.
CREATE OR REPLACE PROCEDURE mediatag.run_jobs(max_jobs int DEFAULT 1000, worker_name text DEFAULT 'sql', INOUT ran int DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job; res jsonb; err text; ok boolean;
BEGIN
    ran := 0;
    WHILE ran < max_jobs LOOP
        j := mediatag._claim_job(worker_name);
        EXIT WHEN j.id IS NULL;
        COMMIT;
        BEGIN
            res := mediatag._execute_job(j);
            ok := true;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            ok := false;
        END;
        IF ok THEN
            UPDATE mediatag.job SET state = 'done', finished_at = now(), error = NULL, result = res WHERE id = j.id;
        ELSE
            UPDATE mediatag.job SET state = CASE WHEN attempts >= max_attempts THEN 'error' ELSE 'queued' END,
                   error = err, finished_at = now() WHERE id = j.id;
            PERFORM mediatag._job_failed(j, err);
        END IF;
        PERFORM pg_advisory_unlock(mediatag._job_lock_key(), j.id::int);
        COMMIT;
        ran := ran + 1;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION mediatag._job_failed(j mediatag.job, err text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF j.kind = 'score_group' THEN
        UPDATE mediatag.group_application
           SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'error' ELSE status END, error = err
         WHERE group_id = (j.payload ->> 'group_id')::bigint AND dataset_id = (j.payload ->> 'dataset_id')::bigint;
    END IF;
END $$;
