-- mediatag 0.1.0 as released (assembled from sql/src at commit c0eb84e); kept so upgrades from it can be installed and tested
\echo Use "CREATE EXTENSION mediatag CASCADE" to load this file. \quit

-- ---- src/schema.sql
-- Core tables: datasets, assets, shots, keyframes, transcript segments.
-- Embeddings are halfvec without a fixed dimension because each dataset is bound to its own models;
-- per-dataset HNSW indexes cast to the dataset's dimension (see mediatag.build_indexes).

CREATE SCHEMA IF NOT EXISTS mediatag_data;
COMMENT ON SCHEMA mediatag_data IS 'Generated per-dataset views and per-group score tables (dt_<group>_*)';

CREATE TABLE mediatag.dataset (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    description   text NOT NULL DEFAULT '',
    visual_model  text NOT NULL,
    visual_dim    int  NOT NULL CHECK (visual_dim BETWEEN 1 AND 4000),
    text_model    text NOT NULL,
    text_dim      int  NOT NULL CHECK (text_dim BETWEEN 1 AND 4000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dataset_name_ok CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$')
);

CREATE TABLE mediatag.asset (
    id            bigserial PRIMARY KEY,
    dataset_id    bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('image', 'video')),
    path          text NOT NULL,
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes    bigint,
    duration_ms   int,
    width         int,
    height        int,
    tech          jsonb NOT NULL DEFAULT '{}',
    metadata      jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'ingested' CHECK (status IN ('ingested', 'error')),
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, sha256)
);
CREATE INDEX asset_dataset_idx ON mediatag.asset (dataset_id, status);
CREATE INDEX asset_metadata_idx ON mediatag.asset USING gin (metadata jsonb_path_ops);

CREATE TABLE mediatag.shot (
    id            bigserial PRIMARY KEY,
    asset_id      bigint NOT NULL REFERENCES mediatag.asset(id) ON DELETE CASCADE,
    shot_index    int NOT NULL,
    start_ms      int NOT NULL,
    end_ms        int NOT NULL CHECK (end_ms >= start_ms),
    UNIQUE (asset_id, shot_index)
);

CREATE TABLE mediatag.keyframe (
    id              bigserial PRIMARY KEY,
    dataset_id      bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    asset_id        bigint NOT NULL REFERENCES mediatag.asset(id) ON DELETE CASCADE,
    shot_id         bigint REFERENCES mediatag.shot(id) ON DELETE CASCADE,
    keyframe_index  int NOT NULL,
    time_ms         int NOT NULL DEFAULT 0,
    image_path      text NOT NULL,
    width           int,
    height          int,
    embedding       halfvec NOT NULL,
    UNIQUE (asset_id, keyframe_index)
);
CREATE INDEX keyframe_dataset_idx ON mediatag.keyframe (dataset_id, id);
CREATE INDEX keyframe_shot_idx ON mediatag.keyframe (shot_id);

CREATE TABLE mediatag.transcript_segment (
    id             bigserial PRIMARY KEY,
    dataset_id     bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    asset_id       bigint NOT NULL REFERENCES mediatag.asset(id) ON DELETE CASCADE,
    segment_index  int NOT NULL,
    start_ms       int NOT NULL,
    end_ms         int NOT NULL,
    text           text NOT NULL,
    source         text NOT NULL DEFAULT 'subtitle',
    tsv            tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    embedding      halfvec NOT NULL,
    UNIQUE (asset_id, segment_index)
);
CREATE INDEX transcript_dataset_idx ON mediatag.transcript_segment (dataset_id, id);
CREATE INDEX transcript_tsv_idx ON mediatag.transcript_segment USING gin (tsv);

-- One row per ingest run, so a user can see what a batch did (and what failed) after the fact.
CREATE TABLE mediatag.ingest_run (
    id          bigserial PRIMARY KEY,
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    summary     jsonb NOT NULL DEFAULT '{}'
);

-- ---- src/util.sql
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

-- Lower-case ASCII letters, digits and underscores, at most max_len characters: the part of a generated table
-- name that comes from a user's name (short enough that every derived name stays within Postgres' 63 bytes).
-- Uniqueness is settled by the caller (a numeric suffix on collision).
CREATE FUNCTION mediatag.slug(name text, max_len int DEFAULT 40) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(nullif(trim(BOTH '_' FROM left(regexp_replace(lower(name), '[^a-z0-9]+', '_', 'g'), max_len)), ''), 'x')
$$;

-- ---- src/roles_base.sql
-- Roles are cluster-wide, so they may already exist from another database: create only what is missing.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mediatag_viewer', 'mediatag_editor', 'mediatag_admin', 'mediatag_query'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    -- editors can do what viewers can; admins what editors can.
    IF NOT pg_has_role('mediatag_editor', 'mediatag_viewer', 'MEMBER') THEN GRANT mediatag_viewer TO mediatag_editor; END IF;
    IF NOT pg_has_role('mediatag_admin', 'mediatag_editor', 'MEMBER') THEN GRANT mediatag_editor TO mediatag_admin; END IF;
    -- The Query page's role: read-only, and a runaway query is cut off.
    ALTER ROLE mediatag_query SET statement_timeout = '30s';
    ALTER ROLE mediatag_query SET default_transaction_read_only = on;
END $$;

-- ---- src/datasets.sql
-- Datasets: creation (bound to their models), per-dataset views and indexes, post-ingest hooks.

ALTER TABLE mediatag.dataset ADD COLUMN slug text UNIQUE;

CREATE FUNCTION mediatag._unique_slug(base text, taken text[], max_len int DEFAULT 40) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE s text := mediatag.slug(base, max_len); n int := 1; candidate text := s;
BEGIN
    WHILE candidate = ANY (taken) LOOP
        n := n + 1;
        candidate := s || '_' || n;
    END LOOP;
    RETURN candidate;
END $$;

CREATE FUNCTION mediatag.create_dataset(
    name text, visual_model text, visual_dim int, text_model text, text_dim int, description text DEFAULT ''
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset;
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid dataset name "%": use letters, digits, spaces, "_", "." or "-" (at most 63, starting with a letter or digit)', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Serialise creators so two ingests of a new dataset cannot race on the slug.
    PERFORM pg_advisory_xact_lock(hashtext('mediatag.create_dataset'));
    SELECT * INTO d FROM mediatag.dataset AS x WHERE x.name = create_dataset.name;
    IF FOUND THEN
        IF d.visual_model <> create_dataset.visual_model OR d.text_model <> create_dataset.text_model THEN
            RAISE EXCEPTION 'dataset "%" is bound to models % / %, not % / %: vectors of different models never mix',
                name, d.visual_model, d.text_model, create_dataset.visual_model, create_dataset.text_model
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN d.id;
    END IF;
    INSERT INTO mediatag.dataset (name, description, visual_model, visual_dim, text_model, text_dim, slug)
    VALUES (name, coalesce(description, ''), visual_model, visual_dim, text_model, text_dim,
            mediatag._unique_slug(name, ARRAY(SELECT slug FROM mediatag.dataset)))
    RETURNING id INTO d.id;
    PERFORM mediatag.refresh_dataset_views(name);
    RETURN d.id;
END $$;

-- Drops the dataset, its assets and everything derived: groups trained on it (with their score tables) and its
-- partitions of the score tables of groups applied to it.
CREATE FUNCTION mediatag.drop_dataset(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset; g mediatag.tag_group;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    FOR g IN SELECT * FROM mediatag.tag_group x WHERE x.training_dataset_id = d.id LOOP
        PERFORM mediatag.drop_tag_group(g.name);
    END LOOP;
    FOR g IN SELECT x.* FROM mediatag.tag_group x JOIN mediatag.group_application a ON a.group_id = x.id
             WHERE a.dataset_id = d.id LOOP
        PERFORM mediatag._drop_score_partitions(g, d.id);
    END LOOP;
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I, mediatag_data.%I',
                   d.slug || '_keyframes', d.slug || '_assets');
    DELETE FROM mediatag.dataset x_ WHERE x_.id = d.id;
END $$;

-- One view per dataset with the user metadata keys as text columns, so BI tools see plain columns
-- (SeriesName, EpisodeName, …) next to the keyframe ids. Rebuilt when new keys appear.
CREATE FUNCTION mediatag.refresh_dataset_views(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d mediatag.dataset;
    cols text := '';
    k text;
    reserved text[] := ARRAY['dataset', 'keyframe_id', 'coactive_image_id', 'asset_id', 'video_id', 'shot_id',
                             'keyframe_index', 'keyframe_time_ms', 'path', 'asset_path', 'kind', 'metadata', 'embedding'];
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    FOR k IN SELECT DISTINCT jsonb_object_keys(a.metadata) AS key FROM mediatag.asset a
             WHERE a.dataset_id = d.id ORDER BY 1 LOOP
        IF lower(k) = ANY (reserved) OR length(k) > 60 THEN CONTINUE; END IF;
        cols := cols || format(', a.metadata ->> %L AS %I', k, k);
    END LOOP;
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I', d.slug || '_keyframes');
    EXECUTE format($v$CREATE VIEW mediatag_data.%I AS
        SELECT k.id AS keyframe_id, k.id AS coactive_image_id, k.asset_id,
               CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
               k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata %s
        FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id
        WHERE k.dataset_id = %s$v$, d.slug || '_keyframes', cols, d.id);
    EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I', d.slug || '_assets');
    EXECUTE format($v$CREATE VIEW mediatag_data.%I AS
        SELECT a.id AS asset_id, CASE WHEN a.kind = 'video' THEN a.id END AS video_id, a.kind, a.path,
               a.duration_ms, a.width, a.height, a.size_bytes, a.status, a.error, a.metadata %s
        FROM mediatag.asset a WHERE a.dataset_id = %s$v$, d.slug || '_assets', cols, d.id);
    EXECUTE format('GRANT SELECT ON mediatag_data.%I, mediatag_data.%I TO mediatag_viewer, mediatag_query',
                   d.slug || '_keyframes', d.slug || '_assets');
END $$;

-- HNSW indexes are partial per dataset, on the embedding cast to the dataset's dimension, because one column
-- holds vectors of several models. Built once after a bulk load; later inserts maintain them.
CREATE FUNCTION mediatag.build_indexes(dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON mediatag.keyframe USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WHERE dataset_id = %s',
                   'keyframe_hnsw_ds' || d.id, d.visual_dim, d.id);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON mediatag.transcript_segment USING hnsw ((embedding::halfvec(%s)) halfvec_ip_ops) WHERE dataset_id = %s',
                   'transcript_hnsw_ds' || d.id, d.text_dim, d.id);
END $$;

-- Called by the ingester after a batch is committed: refresh the metadata views, make sure the indexes exist,
-- and queue scoring of the new assets for every tag group applied to the dataset.
CREATE FUNCTION mediatag.after_ingest(dataset text, new_assets bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); n int := 0;
BEGIN
    PERFORM mediatag.refresh_dataset_views(dataset);
    PERFORM mediatag.build_indexes(dataset);
    IF coalesce(array_length(new_assets, 1), 0) > 0 THEN
        n := mediatag._queue_scoring_for_new_assets(d, new_assets);
    END IF;
    RETURN n;
END $$;

CREATE FUNCTION mediatag.dataset_summary(dataset text DEFAULT NULL)
RETURNS TABLE (name text, visual_model text, text_model text, images bigint, videos bigint, errors bigint,
               shots bigint, keyframes bigint, transcript_segments bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.name, d.visual_model, d.text_model,
           (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.kind = 'image' AND a.status = 'ingested'),
           (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.kind = 'video' AND a.status = 'ingested'),
           (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.status = 'error'),
           (SELECT count(*) FROM mediatag.shot s JOIN mediatag.asset a ON a.id = s.asset_id WHERE a.dataset_id = d.id),
           (SELECT count(*) FROM mediatag.keyframe k WHERE k.dataset_id = d.id),
           (SELECT count(*) FROM mediatag.transcript_segment t WHERE t.dataset_id = d.id)
    FROM mediatag.dataset d
    WHERE dataset IS NULL OR d.name = dataset
    ORDER BY d.name
$$;

-- ---- src/jobs.sql
-- The work queue. Jobs run inside Postgres (CALL mediatag.run_jobs()), so the worker in `mediatag serve` is
-- a thin loop and psql users can drain the queue themselves.
-- Crash safety: the claim is committed with the attempt counted; the work itself runs in its own
-- transaction while the worker holds a session advisory lock on the job. A worker that dies loses its lock,
-- and the next worker re-claims the job ('running' but unlocked) until max_attempts is reached.

CREATE TABLE mediatag.job (
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
CREATE INDEX job_pending_idx ON mediatag.job (id) WHERE state IN ('queued', 'running');

CREATE FUNCTION mediatag._job_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mediatag_jobs', NEW.kind);
    RETURN NEW;
END $$;
CREATE TRIGGER job_notify AFTER INSERT ON mediatag.job FOR EACH ROW EXECUTE FUNCTION mediatag._job_notify();

CREATE FUNCTION mediatag.enqueue_job(kind text, payload jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO mediatag.job (kind, payload) VALUES (kind, payload) RETURNING id
$$;

-- Job ids are locked in the advisory-lock space with this class id, so they cannot collide with other users.
CREATE FUNCTION mediatag._job_lock_key() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 7346 $$;

CREATE FUNCTION mediatag._claim_job(worker_name text) RETURNS mediatag.job
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job;
BEGIN
    FOR j IN SELECT * FROM mediatag.job WHERE state IN ('queued', 'running') ORDER BY id FOR UPDATE SKIP LOCKED LOOP
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

CREATE FUNCTION mediatag._execute_job(j mediatag.job) RETURNS jsonb
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
CREATE PROCEDURE mediatag.run_jobs(max_jobs int DEFAULT 1000, worker_name text DEFAULT 'sql', INOUT ran int DEFAULT 0)
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

CREATE FUNCTION mediatag._job_failed(j mediatag.job, err text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF j.kind = 'score_group' THEN
        UPDATE mediatag.group_application
           SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'error' ELSE status END, error = err
         WHERE group_id = (j.payload ->> 'group_id')::bigint AND dataset_id = (j.payload ->> 'dataset_id')::bigint;
    END IF;
END $$;

-- ---- src/embed.sql
-- Text → vector through the embedding service (`mediatag serve`) on loopback HTTP. The models live in that
-- one process; Postgres never loads torch.

CREATE FUNCTION mediatag.service_url() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('mediatag.service_url', true), ''), 'http://127.0.0.1:8765')
$$;

CREATE FUNCTION mediatag.embed_texts(texts text[], model text) RETURNS SETOF vector
LANGUAGE plpython3u AS $$
import json
import urllib.error
import urllib.request

url = plpy.execute("SELECT mediatag.service_url() AS u")[0]["u"]
body = json.dumps({"texts": list(texts or []), "model": model}).encode()
req = urllib.request.Request(url + "/embed/text", data=body, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=120) as resp:
        out = json.loads(resp.read())
except urllib.error.HTTPError as e:
    detail = e.read().decode(errors="replace")
    try:
        detail = json.loads(detail).get("error", detail)
    except ValueError:
        pass
    plpy.error(f"mediatag embedding service at {url} refused the request: {detail}")
except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
    plpy.error(f"mediatag embedding service is not running at {url} ({getattr(e, 'reason', e)})",
               hint="start it with `mediatag serve` (or set mediatag.service_url to where it runs)")
return ["[" + ",".join(repr(float(x)) for x in v) + "]" for v in out["vectors"]]
$$;

CREATE FUNCTION mediatag.embed_text(text text, model text) RETURNS vector
LANGUAGE sql AS $$
    SELECT v FROM mediatag.embed_texts(ARRAY[text], model) AS v
$$;

-- ---- src/views.sql
-- Cross-dataset views in the spirit of Coactive's coactive_table / coactive_table_adv. Per-dataset views with
-- the metadata keys as columns live in mediatag_data (<dataset>_keyframes, <dataset>_assets).

CREATE VIEW mediatag.coactive_table AS
SELECT d.name AS dataset, k.id AS coactive_image_id, k.id AS keyframe_id, k.asset_id,
       CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
       k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata
FROM mediatag.keyframe k
JOIN mediatag.asset a ON a.id = k.asset_id
JOIN mediatag.dataset d ON d.id = k.dataset_id;

CREATE VIEW mediatag.coactive_table_adv AS
SELECT d.name AS dataset, a.id AS asset_id, CASE WHEN a.kind = 'video' THEN a.id END AS video_id, a.kind, a.path,
       a.sha256, a.size_bytes, a.duration_ms, a.width, a.height,
       a.tech ->> 'container' AS container, a.tech ->> 'video_codec' AS video_codec,
       a.tech ->> 'audio_codec' AS audio_codec, (a.tech ->> 'fps')::real AS fps,
       (a.tech ->> 'bit_rate')::bigint AS bit_rate, (a.tech ->> 'is_vfr')::boolean AS is_vfr,
       (SELECT count(*) FROM mediatag.shot s WHERE s.asset_id = a.id) AS shots,
       (SELECT count(*) FROM mediatag.keyframe k WHERE k.asset_id = a.id) AS keyframes,
       (SELECT count(*) FROM mediatag.transcript_segment t WHERE t.asset_id = a.id) AS transcript_segments,
       a.status, a.error, a.tech, a.created_at
FROM mediatag.asset a
JOIN mediatag.dataset d ON d.id = a.dataset_id;

-- ---- src/version.sql
CREATE FUNCTION mediatag.version() RETURNS jsonb
LANGUAGE plpython3u STABLE AS $$
import json
import platform
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy
import scipy
import sklearn
ext = plpy.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('mediatag', 'vector')")
versions = {r["extname"]: r["extversion"] for r in ext}
return json.dumps({
    "mediatag": versions.get("mediatag"),
    "pgvector": versions.get("vector"),
    "postgres": plpy.execute("SELECT current_setting('server_version') AS v")[0]["v"],
    "python": platform.python_version(),
    "numpy": numpy.__version__,
    "scipy": scipy.__version__,
    "sklearn": sklearn.__version__,
    "ml_package": "@PYDIR@",
})
$$;

-- ---- src/tags.sql
-- Dynamic Tags: groups of tags, their prompts, visual labels, classifier versions and published snapshots.
-- Every user-supplied name is data: it is validated, stored, and reaches generated SQL only through
-- format('%I') of a slug made of [a-z0-9_].

CREATE TABLE mediatag.tag_group (
    id                   bigserial PRIMARY KEY,
    name                 text NOT NULL,
    slug                 text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9_]{1,48}$'),
    training_dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    visibility           text NOT NULL DEFAULT 'secret' CHECK (visibility IN ('secret', 'shareable')),
    state                text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'published')),
    published_version    int NOT NULL DEFAULT 0,
    revision             int NOT NULL DEFAULT 0,      -- bumped by every edit; compared with the published one
    published_revision   int,
    created_by           text NOT NULL DEFAULT current_user,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tag_group_name_ok CHECK (length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]')
);
CREATE UNIQUE INDEX tag_group_name_uniq ON mediatag.tag_group (lower(name));

CREATE TABLE mediatag.tag (
    id          bigserial PRIMARY KEY,
    group_id    bigint NOT NULL REFERENCES mediatag.tag_group(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9]+( [A-Za-z0-9]+)*$' AND length(name) <= 100),
    position    int NOT NULL,
    threshold   real NOT NULL DEFAULT 0.5 CHECK (threshold BETWEEN 0 AND 1),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tag_name_uniq ON mediatag.tag (group_id, lower(name));

CREATE TABLE mediatag.tag_prompt (
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

CREATE TABLE mediatag.visual_label (
    tag_id       bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    label        boolean NOT NULL,
    origin       text NOT NULL DEFAULT 'preview' CHECK (origin IN ('preview', 'search', 'uncertain', 'evaluation', 'import')),
    labeled_by   text NOT NULL DEFAULT current_user,
    labeled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tag_id, keyframe_id)
);

CREATE TABLE mediatag.classifier (
    id          bigserial PRIMARY KEY,
    tag_id      bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    modality    text NOT NULL CHECK (modality IN ('visual', 'transcript')),
    version     int NOT NULL,
    weights     vector,            -- NULL: no prompts for this modality, the tag is not scored on it
    bias        double precision NOT NULL DEFAULT 0,
    summary     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tag_id, modality, version)
);

-- A published version is an immutable snapshot: which tags, in which order, with which classifiers.
CREATE TABLE mediatag.group_version (
    group_id      bigint NOT NULL REFERENCES mediatag.tag_group(id) ON DELETE CASCADE,
    version       int NOT NULL,
    visibility    text NOT NULL,
    published_by  text NOT NULL DEFAULT current_user,
    published_at  timestamptz NOT NULL DEFAULT now(),
    note          text NOT NULL DEFAULT '',
    PRIMARY KEY (group_id, version)
);

CREATE TABLE mediatag.group_version_tag (
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

CREATE TABLE mediatag.group_application (
    group_id         bigint NOT NULL REFERENCES mediatag.tag_group(id) ON DELETE CASCADE,
    dataset_id       bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    role             text NOT NULL CHECK (role IN ('training', 'applied')),
    applied_version  int,
    scored_version   int,
    status           text NOT NULL DEFAULT 'unscored' CHECK (status IN ('queued', 'unscored', 'scored', 'error')),
    error            text,
    applied_by       text NOT NULL DEFAULT current_user,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    scored_at        timestamptz,
    score_seconds    real,
    PRIMARY KEY (group_id, dataset_id)
);

-- A fixed random sample of each dataset's keyframes (and transcript segments): the calibration sample and the
-- preview pool. Reading it costs milliseconds where a scan of a million keyframes costs seconds.
CREATE TABLE mediatag.keyframe_sample (
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    keyframe_id  bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    embedding    halfvec NOT NULL,
    PRIMARY KEY (dataset_id, keyframe_id)
);
CREATE TABLE mediatag.transcript_sample (
    dataset_id   bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    segment_id   bigint NOT NULL REFERENCES mediatag.transcript_segment(id) ON DELETE CASCADE,
    embedding    halfvec NOT NULL,
    PRIMARY KEY (dataset_id, segment_id)
);

CREATE FUNCTION mediatag.refresh_samples(dataset text, size int DEFAULT 10000) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); n int; total bigint;
BEGIN
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

-- ---- lookups ------------------------------------------------------------------------------------------------

CREATE FUNCTION mediatag._group(tag_group text) RETURNS mediatag.tag_group
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group;
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE lower(x.name) = lower(tag_group);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown tag group "%"', tag_group USING ERRCODE = 'no_data_found',
            HINT = 'SELECT * FROM mediatag.list_tag_groups() lists the groups you can see';
    END IF;
    RETURN g;
END $$;

CREATE FUNCTION mediatag._tag(g mediatag.tag_group, tag text) RETURNS mediatag.tag
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
CREATE FUNCTION mediatag._editable_group(tag_group text, dataset text DEFAULT NULL) RETURNS mediatag.tag_group
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group; ds text;
BEGIN
    g := mediatag._group(tag_group);
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

CREATE FUNCTION mediatag.validate_tag_name(name text, line int DEFAULT NULL) RETURNS text
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

CREATE FUNCTION mediatag._insert_tag(g mediatag.tag_group, tag_name text) RETURNS mediatag.tag
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

CREATE FUNCTION mediatag.create_tag_group(dataset text, name text, tags text[], visibility text DEFAULT 'secret')
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
    PERFORM pg_advisory_xact_lock(hashtext('mediatag.tag_group_slug'));
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
CREATE FUNCTION mediatag.create_tag_group(dataset text, name text, keywords text, visibility text DEFAULT 'secret')
RETURNS bigint
LANGUAGE sql AS $$
    SELECT mediatag.create_tag_group(dataset => dataset, name => name,
                                     tags => regexp_split_to_array(keywords, '\r?\n'), visibility => visibility)
$$;

CREATE FUNCTION mediatag.add_tags(tag_group text, tags text[], dataset text DEFAULT NULL) RETURNS int
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

CREATE FUNCTION mediatag.rename_tag(tag_group text, tag text, new_name text, dataset text DEFAULT NULL) RETURNS void
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

CREATE FUNCTION mediatag.delete_tag(tag_group text, tag text, dataset text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    IF EXISTS (SELECT 1 FROM mediatag.group_version_tag WHERE tag_id = t.id) THEN
        RAISE EXCEPTION 'tag "%" is part of a published version of "%": it stays in that version; rename it or publish without it is not supported yet',
            t.name, g.name USING ERRCODE = 'object_in_use';
    END IF;
    DELETE FROM mediatag.tag WHERE id = t.id;
END $$;

CREATE FUNCTION mediatag._modalities(modality text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF modality = 'both' THEN RETURN ARRAY['visual', 'transcript']; END IF;
    IF modality IN ('visual', 'transcript') THEN RETURN ARRAY[modality]; END IF;
    RAISE EXCEPTION 'invalid modality "%": use visual, transcript or both', modality USING ERRCODE = 'invalid_parameter_value';
END $$;

CREATE FUNCTION mediatag._check_polarity(polarity text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF polarity NOT IN ('positive', 'negative') THEN
        RAISE EXCEPTION 'invalid polarity "%": use positive or negative', polarity USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE FUNCTION mediatag.add_prompt(tag_group text, tag text, prompt text, polarity text DEFAULT 'positive',
                                    modality text DEFAULT 'both', origin text DEFAULT 'user', dataset text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); m text;
BEGIN
    PERFORM mediatag._check_polarity(polarity);
    IF btrim(coalesce(prompt, '')) = '' THEN
        RAISE EXCEPTION 'empty prompt for tag "%"', t.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH m IN ARRAY mediatag._modalities(modality) LOOP
        INSERT INTO mediatag.tag_prompt (tag_id, modality, polarity, text, origin)
        VALUES (t.id, m, polarity, btrim(prompt), origin) ON CONFLICT DO NOTHING;
    END LOOP;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
END $$;

CREATE FUNCTION mediatag.remove_prompt(tag_group text, tag text, prompt text, polarity text DEFAULT 'positive',
                                       modality text DEFAULT 'both', dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); n int;
BEGIN
    PERFORM mediatag._check_polarity(polarity);
    DELETE FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.polarity = remove_prompt.polarity
       AND p.modality = ANY (mediatag._modalities(remove_prompt.modality)) AND p.text = btrim(prompt);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'tag "%" has no % % prompt %', t.name, polarity, modality, quote_literal(prompt)
            USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN n;
END $$;

CREATE FUNCTION mediatag.edit_prompt(tag_group text, tag text, prompt text, new_prompt text,
                                     polarity text DEFAULT 'positive', modality text DEFAULT 'both',
                                     dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); t mediatag.tag := mediatag._tag(g, tag); n int;
BEGIN
    PERFORM mediatag._check_polarity(polarity);
    IF btrim(coalesce(new_prompt, '')) = '' THEN
        RAISE EXCEPTION 'empty prompt for tag "%"', t.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.tag_prompt p SET text = btrim(new_prompt), embedding = NULL, origin = 'user'
    WHERE p.tag_id = t.id AND p.polarity = edit_prompt.polarity AND p.modality = ANY (mediatag._modalities(edit_prompt.modality))
      AND p.text = btrim(prompt);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'tag "%" has no % % prompt %', t.name, polarity, modality, quote_literal(prompt)
            USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN n;
END $$;

CREATE FUNCTION mediatag.set_threshold(tag_group text, tag text, threshold real) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', threshold USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Thresholds are live settings, not part of a version: threshold_decision follows at once everywhere.
    UPDATE mediatag.tag SET threshold = set_threshold.threshold WHERE id = t.id;
END $$;

-- ---- labels -------------------------------------------------------------------------------------------------

CREATE FUNCTION mediatag.label_keyframes(tag_group text, tag text, keyframes bigint[], label boolean,
                                         origin text DEFAULT 'preview', dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group; t mediatag.tag; bad bigint; bad_ds text; n int;
BEGIN
    IF label IS NULL THEN
        RAISE EXCEPTION 'label must be true (yes) or false (no)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF origin NOT IN ('preview', 'search', 'uncertain', 'evaluation', 'import') THEN
        RAISE EXCEPTION 'invalid label origin "%": use preview, search, uncertain, evaluation or import', origin
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    g := mediatag._group(tag_group);
    t := mediatag._tag(g, tag);
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
        SET label = excluded.label, origin = excluded.origin, labeled_by = current_user, labeled_at = now();
    GET DIAGNOSTICS n = ROW_COUNT;
    g := mediatag._editable_group(tag_group, dataset);
    PERFORM mediatag._train_tags(ARRAY[t.id]);
    RETURN n;
END $$;

CREATE FUNCTION mediatag.unlabel_keyframes(tag_group text, tag text, keyframes bigint[], dataset text DEFAULT NULL)
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

CREATE FUNCTION mediatag.list_tag_groups(dataset text DEFAULT NULL)
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
    WHERE list_tag_groups.dataset IS NULL
       OR td.name = list_tag_groups.dataset
       OR a.group_id IS NOT NULL
       OR (g.visibility = 'shareable' AND g.state = 'published')   -- secret groups stay invisible elsewhere
    ORDER BY g.name
$$;

CREATE FUNCTION mediatag.group_overview(tag_group text)
RETURNS TABLE (tag text, "position" int, threshold real, visual_positive text[], visual_negative text[],
               transcript_positive text[], transcript_negative text[], labels_yes bigint, labels_no bigint,
               classifier_version int, training_summary jsonb, keyframes_above_threshold bigint,
               keyframes_scored bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); counts jsonb := '{}'; a mediatag.group_application;
BEGIN
    SELECT * INTO a FROM mediatag.group_application x WHERE x.group_id = g.id AND x.role = 'training';
    IF a.status = 'scored' THEN
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
    LEFT JOIN LATERAL (SELECT * FROM mediatag.classifier c WHERE c.tag_id = t.id AND c.modality = 'visual'
                       ORDER BY c.version DESC LIMIT 1) c ON true
    WHERE t.group_id = g.id
    ORDER BY t.position;
END $$;

-- ---- src/training.sql
-- Training in PL/Python: prompts → zero-shot classifier calibrated to [0,1]; with visual labels, a logistic model
-- regularised toward the prompt direction (mediatag_ml.training). Every call writes a new classifier version
-- per tag and modality, with its training summary.

-- A neutral prompt per model ("a photo"): the zero-shot direction of a tag with no negative prompts is taken
-- against it, which separates tags from the generic look of the dataset (mediatag_ml.calibration.zero_shot).
CREATE TABLE mediatag.baseline_prompt (
    model      text NOT NULL,
    modality   text NOT NULL CHECK (modality IN ('visual', 'transcript')),
    text       text NOT NULL,
    embedding  vector NOT NULL,
    PRIMARY KEY (model, modality)
);

CREATE FUNCTION mediatag._ensure_prompt_embeddings(tag_ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE r record; n int := 0;
BEGIN
    FOR r IN
        SELECT DISTINCT m.model, m.modality, m.text
        FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
        JOIN mediatag.dataset d ON d.id = g.training_dataset_id
        CROSS JOIN LATERAL (VALUES (d.visual_model, 'visual', 'a photo'),
                                   (d.text_model, 'transcript', 'someone is talking')) AS m(model, modality, text)
        WHERE t.id = ANY (tag_ids)
          AND NOT EXISTS (SELECT 1 FROM mediatag.baseline_prompt b WHERE b.model = m.model AND b.modality = m.modality)
    LOOP
        INSERT INTO mediatag.baseline_prompt VALUES (r.model, r.modality, r.text, mediatag.embed_text(r.text, r.model))
        ON CONFLICT DO NOTHING;
    END LOOP;
    -- One service call per (model, modality): the prompts of all the tags at once.
    FOR r IN
        SELECT CASE WHEN p.modality = 'visual' THEN d.visual_model ELSE d.text_model END AS model,
               array_agg(p.id ORDER BY p.id) AS ids, array_agg(p.text ORDER BY p.id) AS texts
        FROM mediatag.tag_prompt p
        JOIN mediatag.tag t ON t.id = p.tag_id
        JOIN mediatag.tag_group g ON g.id = t.group_id
        JOIN mediatag.dataset d ON d.id = g.training_dataset_id
        WHERE p.tag_id = ANY (tag_ids) AND p.embedding IS NULL
        GROUP BY 1
    LOOP
        UPDATE mediatag.tag_prompt p SET embedding = e.v
        FROM (SELECT v, ord FROM mediatag.embed_texts(r.texts, r.model) WITH ORDINALITY AS x(v, ord)) e
        WHERE p.id = r.ids[e.ord];
        n := n + array_length(r.ids, 1);
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION mediatag._train_tags(tag_ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint;
BEGIN
    IF coalesce(array_length(tag_ids, 1), 0) = 0 THEN RETURN 0; END IF;
    PERFORM mediatag._ensure_prompt_embeddings(tag_ids);
    -- The calibration sample is drawn lazily the first time a dataset trains.
    FOR d IN SELECT DISTINCT g.training_dataset_id FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
             WHERE t.id = ANY (tag_ids) LOOP
        IF NOT EXISTS (SELECT 1 FROM mediatag.keyframe_sample s WHERE s.dataset_id = d)
           AND EXISTS (SELECT 1 FROM mediatag.keyframe k WHERE k.dataset_id = d) THEN
            PERFORM mediatag.refresh_samples((SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = d));
        END IF;
    END LOOP;
    RETURN mediatag._fit_classifiers(tag_ids);
END $$;

CREATE FUNCTION mediatag._fit_classifiers(tag_ids bigint[]) RETURNS int
LANGUAGE plpython3u AS $$
import json
import sys
import time
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import calibration, training
from mediatag_ml.jsonable import jsonable
from mediatag_ml.vectors import decode_halfvecs, format_vector, parse_vector

CALIBRATION_ROWS = 2000

plans = SD.get("plans")
if plans is None:
    plans = SD["plans"] = {
        "tags": plpy.prepare(
            """SELECT t.id, t.name, g.training_dataset_id AS ds, d.visual_dim, d.text_dim,
                      (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                       WHERE b.model = d.visual_model AND b.modality = 'visual') AS visual_baseline,
                      (SELECT b.embedding::text FROM mediatag.baseline_prompt b
                       WHERE b.model = d.text_model AND b.modality = 'transcript') AS transcript_baseline
               FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id
               JOIN mediatag.dataset d ON d.id = g.training_dataset_id
               WHERE t.id = ANY ($1) ORDER BY t.id""", ["bigint[]"]),
        "prompts": plpy.prepare(
            """SELECT modality, polarity, embedding::text AS e FROM mediatag.tag_prompt
               WHERE tag_id = $1 AND embedding IS NOT NULL ORDER BY id""", ["bigint"]),
        "labels": plpy.prepare(
            """SELECT string_agg(halfvec_send(k.embedding), ''::bytea ORDER BY l.keyframe_id) AS blob,
                      array_agg(l.label ORDER BY l.keyframe_id) AS y
               FROM mediatag.visual_label l JOIN mediatag.keyframe k ON k.id = l.keyframe_id
               WHERE l.tag_id = $1""", ["bigint"]),
        "sample_key": plpy.prepare(
            """SELECT (SELECT count(*) FROM mediatag.keyframe_sample WHERE dataset_id = $1)::text || '/' ||
                      (SELECT coalesce(max(keyframe_id), 0) FROM mediatag.keyframe_sample WHERE dataset_id = $1)::text
                      || '/' || (SELECT count(*) FROM mediatag.transcript_sample WHERE dataset_id = $1)::text AS k""",
            ["bigint"]),
        "kf_sample": plpy.prepare(
            """SELECT string_agg(halfvec_send(embedding), ''::bytea) AS blob FROM (
                 SELECT embedding FROM mediatag.keyframe_sample WHERE dataset_id = $1 ORDER BY keyframe_id LIMIT $2) s""",
            ["bigint", "int"]),
        "tx_sample": plpy.prepare(
            """SELECT string_agg(halfvec_send(embedding), ''::bytea) AS blob FROM (
                 SELECT embedding FROM mediatag.transcript_sample WHERE dataset_id = $1 ORDER BY segment_id LIMIT $2) s""",
            ["bigint", "int"]),
        "insert": plpy.prepare(
            """INSERT INTO mediatag.classifier (tag_id, modality, version, weights, bias, summary)
               VALUES ($1, $2, coalesce((SELECT max(version) FROM mediatag.classifier WHERE tag_id = $1 AND modality = $2), 0) + 1,
                       $3::vector, $4, $5::jsonb)""", ["bigint", "text", "text", "float8", "text"]),
    }


def samples(ds, vdim, tdim):
    # Cached per session and keyed by the sample's identity: retraining after one label reads no vectors.
    key = plpy.execute(plans["sample_key"], [ds])[0]["k"]
    cache = SD.setdefault("samples", {})
    hit = cache.get(ds)
    if hit is None or hit[0] != key:
        kf = decode_halfvecs(plpy.execute(plans["kf_sample"], [ds, CALIBRATION_ROWS])[0]["blob"], vdim)
        tx = decode_halfvecs(plpy.execute(plans["tx_sample"], [ds, CALIBRATION_ROWS])[0]["blob"], tdim)
        hit = cache[ds] = (key, kf, tx)
    return hit[1], hit[2]


n = 0
for t in plpy.execute(plans["tags"], [tag_ids]):
    started = time.perf_counter()
    kf_sample, tx_sample = samples(t["ds"], t["visual_dim"], t["text_dim"])
    prompts = {}
    for p in plpy.execute(plans["prompts"], [t["id"]]):
        prompts.setdefault((p["modality"], p["polarity"]), []).append(parse_vector(p["e"]))
    for modality, dim, sample in (("visual", t["visual_dim"], kf_sample), ("transcript", t["text_dim"], tx_sample)):
        pos = prompts.get((modality, "positive"), [])
        neg = prompts.get((modality, "negative"), [])
        if not pos:
            summary = {"method": "none", "reason": f"no positive {modality} prompt: not scored on {modality}"}
            plpy.execute(plans["insert"], [t["id"], modality, None, 0.0, json.dumps(summary)])
            continue
        P = np.vstack(pos)
        N = np.vstack(neg) if neg else np.zeros((0, dim), dtype=np.float32)
        clf = calibration.zero_shot(P, N, sample, baseline=parse_vector(t[modality + "_baseline"]))
        if modality == "visual":
            lab = plpy.execute(plans["labels"], [t["id"]])[0]
            if lab["y"]:
                X = decode_halfvecs(lab["blob"], dim)
                y = np.array(lab["y"], dtype=bool)
                clf = training.train_with_labels(X, y, clf, sample)
        summary = dict(clf.summary)
        summary["train_ms"] = round((time.perf_counter() - started) * 1000, 1)
        summary["prompts"] = {"positive": len(pos), "negative": len(neg)}
        plpy.execute(plans["insert"], [t["id"], modality, format_vector(clf.w), float(clf.b),
                                       json.dumps(jsonable(summary))])
    n += 1
return n
$$;

-- The latest classifier of a tag for a modality (the draft state).
CREATE FUNCTION mediatag._latest_classifier(tag_id bigint, modality text) RETURNS mediatag.classifier
LANGUAGE sql STABLE AS $$
    SELECT * FROM mediatag.classifier c WHERE c.tag_id = $1 AND c.modality = $2 ORDER BY c.version DESC LIMIT 1
$$;

CREATE FUNCTION mediatag.retrain(tag_group text, tag text DEFAULT NULL, dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset);
BEGIN
    RETURN mediatag._train_tags(CASE WHEN tag IS NULL
        THEN ARRAY(SELECT id FROM mediatag.tag WHERE group_id = g.id ORDER BY position)
        ELSE ARRAY[(mediatag._tag(g, tag)).id] END);
END $$;

-- ---- src/preview.sql
-- Preview functions the UI calls while a tag is refined. They score with the tag's latest (draft) classifier:
-- over the dataset's fixed random sample (fast at any dataset size) plus, for positives, the HNSW neighbourhood
-- of the classifier direction (so rare tags still show positives).

-- Not STRICT, so the planner inlines it (greatest/least are not strict): a function call per row and tag would
-- cost more than the inner products themselves.
CREATE FUNCTION mediatag.sigmoid(z double precision) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (1.0 / (1.0 + exp(-greatest(least(z, 60.0), -60.0))))::real
$$;

CREATE FUNCTION mediatag._preview_pool(g mediatag.tag_group, t mediatag.tag, hnsw_k int)
RETURNS TABLE (keyframe_id bigint, score real)
LANGUAGE plpgsql AS $$
DECLARE c mediatag.classifier := mediatag._latest_classifier(t.id, 'visual'); dim int;
BEGIN
    IF c.weights IS NULL THEN
        RAISE EXCEPTION 'tag "%" has no visual classifier yet (add a positive visual prompt)', t.name
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id;
    RETURN QUERY
    SELECT s.keyframe_id, mediatag.sigmoid(c.bias - (s.embedding <#> c.weights::halfvec))
    FROM mediatag.keyframe_sample s WHERE s.dataset_id = g.training_dataset_id;
    -- Without the dataset's HNSW index an ORDER BY would scan every keyframe: the sample alone must do.
    IF hnsw_k > 0 AND to_regclass('mediatag.keyframe_hnsw_ds' || g.training_dataset_id) IS NOT NULL THEN
        -- Literal dataset id and dimension so the planner matches the partial HNSW index.
        PERFORM set_config('hnsw.ef_search', least(greatest(hnsw_k, 40), 1000)::text, true);
        RETURN QUERY EXECUTE format(
            'SELECT k.id, mediatag.sigmoid(%s - (k.embedding <#> %L::halfvec)) FROM mediatag.keyframe k
             WHERE k.dataset_id = %s ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
            c.bias, c.weights::text, g.training_dataset_id, dim, c.weights::text, dim, hnsw_k);
    END IF;
END $$;

CREATE FUNCTION mediatag.preview(tag_group text, tag text, kind text DEFAULT 'compare', level text DEFAULT 'keyframe',
                                 threshold real DEFAULT NULL, n int DEFAULT 24, seed int DEFAULT NULL)
RETURNS TABLE (side text, keyframe_id bigint, asset_id bigint, video_id bigint, shot_id bigint, keyframe_index int,
               keyframe_time_ms int, path text, score real, decision boolean)
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    thr real := coalesce(threshold, t.threshold);
    salt text := coalesce(seed::text, random()::text);
BEGIN
    IF kind NOT IN ('compare', 'positives', 'negatives') THEN
        RAISE EXCEPTION 'invalid preview kind "%": use compare, positives or negatives', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF level NOT IN ('keyframe', 'shot') THEN
        RAISE EXCEPTION 'invalid preview level "%": use keyframe or shot', level USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF thr < 0 OR thr > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', thr USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH pool AS (
        SELECT DISTINCT ON (p.keyframe_id) p.keyframe_id, p.score
        FROM mediatag._preview_pool(g, t, CASE WHEN kind = 'negatives' THEN 0 ELSE greatest(4 * n, 100) END) p
    ), units AS (
        -- At shot level a shot is represented by its best-scoring keyframe, and scores as that keyframe.
        SELECT DISTINCT ON (CASE WHEN level = 'shot' THEN coalesce(k.shot_id, -k.id) ELSE k.id END)
               k.id, k.asset_id, k.shot_id, k.keyframe_index, k.time_ms, k.image_path, a.kind AS asset_kind, pool.score
        FROM pool JOIN mediatag.keyframe k ON k.id = pool.keyframe_id JOIN mediatag.asset a ON a.id = k.asset_id
        ORDER BY CASE WHEN level = 'shot' THEN coalesce(k.shot_id, -k.id) ELSE k.id END, pool.score DESC
    ), sides AS (
        SELECT CASE WHEN u.score >= thr THEN 'positive' ELSE 'negative' END AS side, u.*,
               row_number() OVER (PARTITION BY u.score >= thr ORDER BY md5(u.id::text || salt)) AS rn
        FROM units u
    )
    SELECT s.side, s.id, s.asset_id, CASE WHEN s.asset_kind = 'video' THEN s.asset_id END, s.shot_id, s.keyframe_index,
           s.time_ms, s.image_path, s.score, s.score >= thr
    FROM sides s
    WHERE s.rn <= n
      AND (kind = 'compare' OR (kind = 'positives' AND s.side = 'positive') OR (kind = 'negatives' AND s.side = 'negative'))
    ORDER BY s.side DESC, s.score DESC;
END $$;

CREATE FUNCTION mediatag.preview_transcripts(tag_group text, tag text, kind text DEFAULT 'positives',
                                             threshold real DEFAULT NULL, n int DEFAULT 50, sort text DEFAULT 'score')
RETURNS TABLE (segment_id bigint, asset_id bigint, start_ms int, end_ms int, text text, score real, decision boolean)
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'transcript');
    thr real := coalesce(threshold, t.threshold);
BEGIN
    IF kind NOT IN ('positives', 'negatives', 'all') THEN
        RAISE EXCEPTION 'invalid transcript preview kind "%": use positives, negatives or all', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sort NOT IN ('score', 'score_asc', 'time') THEN
        RAISE EXCEPTION 'invalid sort "%": use score, score_asc or time', sort USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF c.weights IS NULL THEN
        RETURN;   -- no transcript prompts: nothing scores on transcripts
    END IF;
    RETURN QUERY
    SELECT x.id, x.asset_id, x.start_ms, x.end_ms, x.text, x.score, x.score >= thr
    FROM (SELECT s.id, s.asset_id, s.start_ms, s.end_ms, s.text,
                 mediatag.sigmoid(c.bias - (s.embedding <#> c.weights::halfvec)) AS score
          FROM mediatag.transcript_segment s WHERE s.dataset_id = g.training_dataset_id) x
    WHERE kind = 'all' OR (kind = 'positives' AND x.score >= thr) OR (kind = 'negatives' AND x.score < thr)
    ORDER BY CASE WHEN sort = 'score' THEN -x.score WHEN sort = 'score_asc' THEN x.score END,
             CASE WHEN sort = 'time' THEN x.asset_id END, x.start_ms
    LIMIT n;
END $$;

-- "Add from search": a text query returns keyframes of the group's training dataset to label.
CREATE FUNCTION mediatag.search_keyframes(dataset text, query text, k int DEFAULT 50)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, similarity real)
LANGUAGE plpgsql AS $$
DECLARE d mediatag.dataset; q vector;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    IF btrim(coalesce(query, '')) = '' THEN
        RAISE EXCEPTION 'empty search query' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    q := mediatag.embed_text(query, d.visual_model);
    PERFORM set_config('hnsw.ef_search', least(greatest(k, 100), 1000)::text, true);
    RETURN QUERY EXECUTE format(
        'SELECT k.id, k.asset_id, k.time_ms, k.image_path, (-(k.embedding::halfvec(%s) <#> %L::halfvec(%s)))::real
         FROM mediatag.keyframe k WHERE k.dataset_id = %s ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
        d.visual_dim, q::text, d.visual_dim, d.id, d.visual_dim, q::text, d.visual_dim, k);
END $$;

CREATE FUNCTION mediatag.search_for_labeling(tag_group text, query text, k int DEFAULT 50)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, similarity real,
               current_label boolean)
LANGUAGE sql AS $$
    SELECT s.*, l.label
    FROM mediatag._group(tag_group) g
    CROSS JOIN LATERAL mediatag.search_keyframes((SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id), query, k) s
    LEFT JOIN mediatag.visual_label l ON l.keyframe_id = s.keyframe_id
        AND l.tag_id IN (SELECT id FROM mediatag.tag WHERE group_id = g.id)
$$;

-- The keyframes the classifier is least sure about, spread out rather than near-duplicates. Candidates: the dataset
-- sample and the HNSW neighbourhood of the classifier; once the training dataset is scored, also the keyframes
-- of the whole dataset nearest the threshold band in the score table. All are rescored with the current
-- (draft) classifier before the pick.
-- The keyframes of the scored training dataset whose published score is nearest 0.5 (none before publish).
CREATE FUNCTION mediatag._scored_boundary(g mediatag.tag_group, t mediatag.tag, n int)
RETURNS TABLE (keyframe_id bigint)
LANGUAGE plpgsql AS $$
DECLARE pos int;
BEGIN
    SELECT vt.position INTO pos FROM mediatag.group_application a
    JOIN mediatag.group_version_tag vt ON vt.group_id = a.group_id AND vt.version = a.scored_version
    WHERE a.group_id = g.id AND a.dataset_id = g.training_dataset_id AND vt.tag_id = t.id;
    IF pos IS NULL OR to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'visual'))) IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format('SELECT v.keyframe_id FROM mediatag_data.%I v WHERE v.dataset_id = %s
                                 ORDER BY abs(v.scores[%s] - 0.5) LIMIT %s',
                                mediatag._score_table(g, 'visual'), g.training_dataset_id, pos, n);
END $$;

CREATE FUNCTION mediatag.uncertain_keyframes(tag_group text, tag text, k int DEFAULT 20)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, keyframe_time_ms int, path text, score real)
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'visual');
    dim int;
    ids bigint[];
BEGIN
    SELECT x_.visual_dim INTO dim FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id;
    CREATE TEMP TABLE IF NOT EXISTS _mediatag_uncertain (keyframe_id bigint, score real, embedding halfvec) ON COMMIT DROP;
    TRUNCATE _mediatag_uncertain;
    INSERT INTO _mediatag_uncertain
    SELECT x.keyframe_id, x.score, x.embedding FROM (
        SELECT s.keyframe_id, s.embedding, mediatag.sigmoid(c.bias - (s.embedding <#> c.weights::halfvec)) AS score
        FROM mediatag.keyframe_sample s WHERE s.dataset_id = g.training_dataset_id
        UNION ALL
        -- The HNSW neighbourhood holds the boundary region for rare tags, which a random sample misses.
        SELECT p.keyframe_id, k2.embedding, p.score FROM mediatag._preview_pool(g, t, 400) p
        JOIN mediatag.keyframe k2 ON k2.id = p.keyframe_id
        UNION ALL
        SELECT b.keyframe_id, k3.embedding, mediatag.sigmoid(c.bias - (k3.embedding <#> c.weights::halfvec))
        FROM mediatag._scored_boundary(g, t, 10 * k) b JOIN mediatag.keyframe k3 ON k3.id = b.keyframe_id
    ) x
    WHERE NOT EXISTS (SELECT 1 FROM mediatag.visual_label l WHERE l.tag_id = t.id AND l.keyframe_id = x.keyframe_id)
    ORDER BY abs(x.score - 0.5) LIMIT 10 * k;
    ids := mediatag._diverse_uncertain(dim, k);
    RETURN QUERY
    SELECT u.keyframe_id, kf.asset_id, kf.time_ms, kf.image_path, u.score
    FROM unnest(ids) WITH ORDINALITY AS x(id, ord)
    JOIN LATERAL (SELECT u2.keyframe_id, u2.score FROM _mediatag_uncertain u2 WHERE u2.keyframe_id = x.id LIMIT 1) u ON true
    JOIN mediatag.keyframe kf ON kf.id = u.keyframe_id
    ORDER BY x.ord;
END $$;

CREATE FUNCTION mediatag._diverse_uncertain(dim int, k int) RETURNS bigint[]
LANGUAGE plpython3u AS $$
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import sampling
from mediatag_ml.vectors import decode_halfvecs

r = plpy.execute("""SELECT array_agg(keyframe_id ORDER BY keyframe_id) AS ids, array_agg(score ORDER BY keyframe_id) AS s,
                           string_agg(halfvec_send(embedding), ''::bytea ORDER BY keyframe_id) AS blob
                    FROM (SELECT DISTINCT ON (keyframe_id) * FROM _mediatag_uncertain) u""")[0]
if not r["ids"]:
    return []
ids = np.array(r["ids"], dtype=np.int64)
X = decode_halfvecs(r["blob"], dim)
scores = np.array(r["s"], dtype=np.float64)
return [int(i) for i in sampling.uncertain_diverse(ids, X, scores, k)]
$$;

-- ---- src/publish.sql
-- Publishing snapshots a version; applying binds a dataset to a version and queues its scoring.

CREATE FUNCTION mediatag._queue_scoring(group_id bigint, dataset_id bigint, version int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE j bigint;
BEGIN
    -- One pending job per (group, dataset) is enough: it scores whatever version is applied when it runs.
    SELECT id INTO j FROM mediatag.job
    WHERE kind = 'score_group' AND state = 'queued'
      AND (payload ->> 'group_id')::bigint = group_id AND (payload ->> 'dataset_id')::bigint = dataset_id;
    IF j IS NULL THEN
        j := mediatag.enqueue_job('score_group', jsonb_build_object('group_id', group_id, 'dataset_id', dataset_id,
                                                                    'version', version));
    ELSE
        UPDATE mediatag.job SET payload = payload || jsonb_build_object('version', version) WHERE id = j;
    END IF;
    UPDATE mediatag.group_application a SET status = 'queued', error = NULL
    WHERE a.group_id = _queue_scoring.group_id AND a.dataset_id = _queue_scoring.dataset_id;
    RETURN j;
END $$;

CREATE FUNCTION mediatag.publish_tag_group(tag_group text, visibility text DEFAULT NULL, note text DEFAULT '',
                                           dataset text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); v int; missing text;
BEGIN
    IF visibility IS NOT NULL AND visibility NOT IN ('secret', 'shareable') THEN
        RAISE EXCEPTION 'invalid visibility "%": use secret or shareable', visibility USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(t.name, ', ') INTO missing FROM mediatag.tag t
    WHERE t.group_id = g.id AND NOT EXISTS (SELECT 1 FROM mediatag.classifier c WHERE c.tag_id = t.id AND c.modality = 'visual');
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'tags without a classifier cannot be published: %', missing USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF visibility = 'secret' AND EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.role = 'applied') THEN
        RAISE EXCEPTION 'tag group "%" is applied to other datasets: it cannot become secret', g.name
            USING ERRCODE = 'object_in_use';
    END IF;
    v := g.published_version + 1;
    UPDATE mediatag.tag_group AS x SET state = 'published', published_version = v, published_revision = x.revision,
           visibility = coalesce(publish_tag_group.visibility, x.visibility), updated_at = now()
    WHERE x.id = g.id RETURNING * INTO g;
    INSERT INTO mediatag.group_version (group_id, version, visibility, note) VALUES (g.id, v, g.visibility, coalesce(note, ''));
    INSERT INTO mediatag.group_version_tag (group_id, version, position, tag_id, tag_name, visual_classifier_id, transcript_classifier_id)
    SELECT g.id, v, row_number() OVER (ORDER BY t.position), t.id, t.name,
           (mediatag._latest_classifier(t.id, 'visual')).id, (mediatag._latest_classifier(t.id, 'transcript')).id
    FROM mediatag.tag t WHERE t.group_id = g.id;
    PERFORM mediatag._ensure_score_tables(g);
    -- The training dataset always follows the latest version.
    UPDATE mediatag.group_application a SET applied_version = v, applied_at = now(), applied_by = current_user
    WHERE a.group_id = g.id AND a.role = 'training';
    PERFORM mediatag._queue_scoring(g.id, g.training_dataset_id, v);
    RETURN v;
END $$;

CREATE FUNCTION mediatag._require_editor(what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT pg_has_role(current_user, 'mediatag_editor', 'MEMBER') THEN
        RAISE EXCEPTION '% needs the mediatag_editor or mediatag_admin role (current user: %)', what, current_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;

CREATE FUNCTION mediatag.apply_tag_group(tag_group text, dataset text, version int DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    d mediatag.dataset;
    td mediatag.dataset;
    v int;
BEGIN
    PERFORM mediatag._require_editor('applying a tag group');
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    SELECT x_.* INTO td FROM mediatag.dataset x_ WHERE x_.id = g.training_dataset_id;
    IF g.state <> 'published' THEN
        RAISE EXCEPTION 'tag group "%" is a draft: publish it before applying it', g.name USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF d.id <> g.training_dataset_id AND g.visibility <> 'shareable' THEN
        RAISE EXCEPTION 'tag group "%" is secret: only its training dataset "%" can use it', g.name, td.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF d.visual_model <> td.visual_model OR d.text_model <> td.text_model THEN
        RAISE EXCEPTION 'dataset "%" uses models % / %, but tag group "%" was trained with % / %', d.name, d.visual_model,
            d.text_model, g.name, td.visual_model, td.text_model USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v := coalesce(version, g.published_version);
    IF NOT EXISTS (SELECT 1 FROM mediatag.group_version x WHERE x.group_id = g.id AND x.version = v) THEN
        RAISE EXCEPTION 'tag group "%" has no published version %', g.name, v USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO mediatag.group_application AS a (group_id, dataset_id, role, applied_version)
    VALUES (g.id, d.id, CASE WHEN d.id = g.training_dataset_id THEN 'training' ELSE 'applied' END, v)
    ON CONFLICT (group_id, dataset_id) DO UPDATE
        SET applied_version = excluded.applied_version, applied_at = now(), applied_by = current_user;
    RETURN mediatag._queue_scoring(g.id, d.id, v);
END $$;

-- Take the newest published version where "update available" shows.
CREATE FUNCTION mediatag.update_tag_group(tag_group text, dataset text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT mediatag.apply_tag_group(tag_group => tag_group, dataset => dataset, version => NULL)
$$;

CREATE FUNCTION mediatag.unapply_tag_group(tag_group text, dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); d bigint := mediatag.dataset_id(dataset);
BEGIN
    PERFORM mediatag._require_editor('removing a tag group from a dataset');
    IF d = g.training_dataset_id THEN
        RAISE EXCEPTION 'dataset "%" is the training dataset of "%": drop the group instead', dataset, g.name
            USING ERRCODE = 'object_in_use';
    END IF;
    PERFORM mediatag._drop_score_partitions(g, d);
    DELETE FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d;
END $$;

CREATE FUNCTION mediatag.tag_group_status(tag_group text)
RETURNS TABLE (dataset text, role text, applied_version int, scored_version int, latest_version int,
               update_available boolean, status text, error text, scored_at timestamptz, score_seconds real)
LANGUAGE sql STABLE AS $$
    SELECT d.name, a.role, a.applied_version, a.scored_version, g.published_version,
           coalesce(a.applied_version < g.published_version, false), a.status, a.error, a.scored_at, a.score_seconds
    FROM mediatag._group(tag_group) g
    JOIN mediatag.group_application a ON a.group_id = g.id
    JOIN mediatag.dataset d ON d.id = a.dataset_id
    ORDER BY a.role DESC, d.name
$$;

CREATE FUNCTION mediatag.drop_tag_group(tag_group text, dataset text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['visual', 'shot', 'video', 'transcript'] LOOP
        EXECUTE format('DROP VIEW IF EXISTS mediatag_data.%I', 'dt_' || g.slug || '_' || s);
        EXECUTE format('DROP TABLE IF EXISTS mediatag_data.%I CASCADE', 'dt_' || g.slug || '_' || s || '_scores');
    END LOOP;
    DELETE FROM mediatag.job WHERE kind = 'score_group' AND state IN ('queued', 'error')
      AND (payload ->> 'group_id')::bigint = g.id;
    DELETE FROM mediatag.tag_group WHERE id = g.id;
END $$;

-- New assets in a dataset: queue rescoring of every group applied there (a full pass; see scoring.sql).
CREATE FUNCTION mediatag._queue_scoring_for_new_assets(dataset_id bigint, new_assets bigint[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE a record; n int := 0;
BEGIN
    PERFORM mediatag.refresh_samples((SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = dataset_id))
    WHERE EXISTS (SELECT 1 FROM mediatag.keyframe_sample s WHERE s.dataset_id = _queue_scoring_for_new_assets.dataset_id);
    FOR a IN SELECT * FROM mediatag.group_application x
             WHERE x.dataset_id = _queue_scoring_for_new_assets.dataset_id AND x.applied_version IS NOT NULL LOOP
        PERFORM mediatag._queue_scoring(a.group_id, a.dataset_id, a.applied_version);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- ---- src/scoring.sql
-- Scoring: all tags of a group in one pass of pgvector inner products over a dataset's keyframes, stored wide
-- (one real[] per keyframe, position = the tag's place in the version) in partitions per dataset, read through
-- long-form views dt_<group>_visual / _shot / _video / _transcript with the live threshold_decision.
-- Parent columns are nullable on purpose: partitions are built with CREATE TABLE AS (parallel), and their
-- CHECK constraint lets ATTACH skip validation; a NOT NULL on the parent would force a scan per column.
-- A new version is built beside the old partition and swapped in one transaction: readers see the old
-- scores or the new ones, never half of either; a crash leaves the old partition as it was.
-- Aggregates: a shot scores as its best keyframe (max); a video or image as its best keyframe (max), with the
-- number of its shots (an image counts as one) whose score reaches the tag's threshold at scoring time
-- (shots_above_threshold).

CREATE FUNCTION mediatag._score_table(g mediatag.tag_group, level text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'dt_' || g.slug || '_' || level || '_scores' $$;

CREATE FUNCTION mediatag._ensure_score_tables(g mediatag.tag_group) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE base text := 'dt_' || g.slug;
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS mediatag_data.%I (dataset_id bigint, keyframe_id bigint,
        asset_id bigint, video_id bigint, shot_id bigint, keyframe_index int, keyframe_time_ms int,
        version int, scores real[]) PARTITION BY LIST (dataset_id)', base || '_visual_scores');
    EXECUTE format('CREATE TABLE IF NOT EXISTS mediatag_data.%I (dataset_id bigint, shot_id bigint,
        asset_id bigint, video_id bigint, shot_index int, start_ms int, end_ms int, keyframes int,
        version int, scores real[], hits int[]) PARTITION BY LIST (dataset_id)', base || '_shot_scores');
    EXECUTE format('CREATE TABLE IF NOT EXISTS mediatag_data.%I (dataset_id bigint, asset_id bigint,
        video_id bigint, keyframes int, shots int, version int, scores real[], hits int[])
        PARTITION BY LIST (dataset_id)', base || '_video_scores');
    EXECUTE format('CREATE TABLE IF NOT EXISTS mediatag_data.%I (dataset_id bigint, segment_id bigint,
        asset_id bigint, video_id bigint, start_ms int, end_ms int, text text,
        version int, scores real[]) PARTITION BY LIST (dataset_id)', base || '_transcript_scores');

    EXECUTE format($v$CREATE OR REPLACE VIEW mediatag_data.%I AS
        SELECT s.dataset_id, s.keyframe_id, s.asset_id, s.video_id, s.shot_id, s.keyframe_index, s.keyframe_time_ms,
               vt.tag_name AS tag, s.scores[vt.position] AS score, t.threshold,
               s.scores[vt.position] >= t.threshold AS threshold_decision, s.version
        FROM mediatag_data.%I s
        JOIN mediatag.group_version_tag vt ON vt.group_id = %s AND vt.version = s.version
        JOIN mediatag.tag t ON t.id = vt.tag_id$v$, base || '_visual', base || '_visual_scores', g.id);
    EXECUTE format($v$CREATE OR REPLACE VIEW mediatag_data.%I AS
        SELECT s.dataset_id, s.shot_id, s.asset_id, s.video_id, s.shot_index, s.start_ms, s.end_ms, s.keyframes,
               s.start_ms AS keyframe_time_ms, vt.tag_name AS tag, s.scores[vt.position] AS score, t.threshold,
               s.scores[vt.position] >= t.threshold AS threshold_decision, s.version
        FROM mediatag_data.%I s
        JOIN mediatag.group_version_tag vt ON vt.group_id = %s AND vt.version = s.version
        JOIN mediatag.tag t ON t.id = vt.tag_id$v$, base || '_shot', base || '_shot_scores', g.id);
    EXECUTE format($v$CREATE OR REPLACE VIEW mediatag_data.%I AS
        SELECT s.dataset_id, s.asset_id, s.video_id, s.keyframes, vt.tag_name AS tag, s.scores[vt.position] AS score,
               s.shots, s.hits[vt.position] AS shots_above_threshold, t.threshold,
               s.scores[vt.position] >= t.threshold AS threshold_decision, s.version
        FROM mediatag_data.%I s
        JOIN mediatag.group_version_tag vt ON vt.group_id = %s AND vt.version = s.version
        JOIN mediatag.tag t ON t.id = vt.tag_id$v$, base || '_video', base || '_video_scores', g.id);
    EXECUTE format($v$CREATE OR REPLACE VIEW mediatag_data.%I AS
        SELECT s.dataset_id, s.segment_id, s.asset_id, s.video_id, s.start_ms, s.end_ms, s.start_ms AS keyframe_time_ms,
               s.text, vt.tag_name AS tag, s.scores[vt.position] AS score, t.threshold,
               s.scores[vt.position] >= t.threshold AS threshold_decision, s.version
        FROM mediatag_data.%I s
        JOIN mediatag.group_version_tag vt ON vt.group_id = %s AND vt.version = s.version
        JOIN mediatag.tag t ON t.id = vt.tag_id
        WHERE s.scores[vt.position] IS NOT NULL$v$, base || '_transcript', base || '_transcript_scores', g.id);
    EXECUTE format('GRANT SELECT ON mediatag_data.%I, mediatag_data.%I, mediatag_data.%I, mediatag_data.%I,
                    mediatag_data.%I, mediatag_data.%I, mediatag_data.%I, mediatag_data.%I TO mediatag_viewer, mediatag_query',
                   base || '_visual', base || '_shot', base || '_video', base || '_transcript',
                   base || '_visual_scores', base || '_shot_scores', base || '_video_scores', base || '_transcript_scores');
END $$;

CREATE FUNCTION mediatag._drop_score_partitions(g mediatag.tag_group, dataset_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['visual', 'shot', 'video', 'transcript'] LOOP
        EXECUTE format('DROP TABLE IF EXISTS mediatag_data.%I', mediatag._score_table(g, s) || '_ds' || dataset_id);
    END LOOP;
END $$;

-- Build one level's new partition beside the live one (no lock on the live one is taken here).
CREATE FUNCTION mediatag._build_partition(parent text, dataset_id bigint, select_sql text, index_cols text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_name text := parent || '_ds' || dataset_id || '_new';
    col text;
    n bigint;
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS mediatag_data.%I', new_name);
    EXECUTE format('CREATE TABLE mediatag_data.%I AS %s', new_name, select_sql);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- The constraint lets ATTACH skip its validation scan.
    EXECUTE format('ALTER TABLE mediatag_data.%I ADD CONSTRAINT %I CHECK (dataset_id IS NOT NULL AND dataset_id = %s)',
                   new_name, new_name || '_check', dataset_id);
    FOREACH col IN ARRAY index_cols LOOP
        EXECUTE format('CREATE INDEX ON mediatag_data.%I (%I)', new_name, col);
    END LOOP;
    RETURN n;
END $$;

-- Swap the built partition in for the live one: catalog-only statements, so the exclusive lock readers wait
-- behind lasts milliseconds. Runs in the caller's transaction.
CREATE FUNCTION mediatag._swap_partition(parent text, dataset_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    final_name text := parent || '_ds' || dataset_id;
    new_name text := parent || '_ds' || dataset_id || '_new';
BEGIN
    IF to_regclass(format('mediatag_data.%I', final_name)) IS NOT NULL THEN
        EXECUTE format('ALTER TABLE mediatag_data.%I DETACH PARTITION mediatag_data.%I', parent, final_name);
        EXECUTE format('DROP TABLE mediatag_data.%I', final_name);
    END IF;
    EXECUTE format('ALTER TABLE mediatag_data.%I RENAME TO %I', new_name, final_name);
    EXECUTE format('ALTER TABLE mediatag_data.%I RENAME CONSTRAINT %I TO %I', final_name, new_name || '_check',
                   final_name || '_check');
    EXECUTE format('ALTER TABLE mediatag_data.%I ATTACH PARTITION mediatag_data.%I FOR VALUES IN (%s)', parent, final_name, dataset_id);
END $$;

CREATE FUNCTION mediatag._score_group_job(group_id bigint, dataset_id bigint, version int, job_id bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group;
    a mediatag.group_application;
    v int;
    vis_expr text;
    tx_expr text;
    shot_expr text;
    max_expr text;
    sum_expr text;
    hit_expr_row text;
    n_tags int;
    n_kf bigint;
    n_shot bigint;
    n_video bigint;
    n_tx bigint;
    started timestamptz := clock_timestamp();
    delay text := current_setting('mediatag.fault_delay_before_swap', true);
    steps jsonb := '{}';
    mark timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = _score_group_job.group_id;
    SELECT * INTO a FROM mediatag.group_application x
    WHERE x.group_id = _score_group_job.group_id AND x.dataset_id = _score_group_job.dataset_id FOR UPDATE;
    IF g.id IS NULL OR a.group_id IS NULL OR a.applied_version IS NULL THEN
        RETURN jsonb_build_object('skipped', 'the group is no longer applied to this dataset');
    END IF;
    v := a.applied_version;   -- whatever is applied now; a later apply re-queues anyway
    -- Only when missing: CREATE OR REPLACE VIEW would lock the views readers use for the whole job.
    IF to_regclass(format('mediatag_data.%I', 'dt_' || g.slug || '_transcript')) IS NULL THEN
        PERFORM mediatag._ensure_score_tables(g);
    END IF;

    SELECT count(*),
           'ARRAY[' || string_agg(CASE WHEN vc.weights IS NULL THEN 'NULL::real'
               ELSE format('mediatag.sigmoid(%s - (k.embedding <#> %L::halfvec))', vc.bias, vc.weights::text) END,
               ', ' ORDER BY vt.position) || ']::real[]',
           'ARRAY[' || string_agg(CASE WHEN tc.weights IS NULL THEN 'NULL::real'
               ELSE format('mediatag.sigmoid(%s - (s.embedding <#> %L::halfvec))', tc.bias, tc.weights::text) END,
               ', ' ORDER BY vt.position) || ']::real[]',
           'ARRAY[' || string_agg(format('max(v.scores[%s])', vt.position), ', ' ORDER BY vt.position) || ']::real[]',
           'ARRAY[' || string_agg(format('sum(v.hits[%s])', vt.position), ', ' ORDER BY vt.position) || ']::int[]',
           'ARRAY[' || string_agg(format('coalesce((scores[%s] >= %s)::int, 0)', vt.position, t.threshold), ', '
                                  ORDER BY vt.position) || ']::int[]'
      INTO n_tags, vis_expr, tx_expr, max_expr, sum_expr, hit_expr_row
    FROM mediatag.group_version_tag vt
    JOIN mediatag.tag t ON t.id = vt.tag_id
    LEFT JOIN mediatag.classifier vc ON vc.id = vt.visual_classifier_id
    LEFT JOIN mediatag.classifier tc ON tc.id = vt.transcript_classifier_id
    WHERE vt.group_id = g.id AND vt.version = v;

    -- The swap needs a brief exclusive lock on the score tables; a reader holding a transaction open for longer
    -- than this fails the job, which is retried, rather than queueing every other reader behind it.
    SET LOCAL lock_timeout = '120s';
    SET LOCAL client_min_messages = warning;   -- no "does not exist, skipping" chatter from the rebuild
    -- Parallel scans are ~1.7x faster for this and Postgres will not choose them at default costs.
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;

    n_kf := mediatag._build_partition(mediatag._score_table(g, 'visual'), a.dataset_id, format(
        'SELECT k.dataset_id, k.id AS keyframe_id, k.asset_id, CASE WHEN a.kind = %L THEN a.id END AS video_id, k.shot_id,
                k.keyframe_index, k.time_ms AS keyframe_time_ms, %s AS version, %s AS scores
         FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id WHERE k.dataset_id = %s',
        'video', v, vis_expr, a.dataset_id), ARRAY[]::text[]);  -- no index: readers scan or hash-join it

    steps := steps || jsonb_build_object('visual', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
    mark := clock_timestamp();
    -- Shots: one parallel aggregate keyed on shot_id over the new keyframe scores (max per tag), shot facts joined
    -- after on 100x fewer rows. Videos and images: from the shot rows (max, and how many shots reach the
    -- threshold) plus the keyframes of images, which have no shot.
    shot_expr := format(
        'SELECT %s::bigint AS dataset_id, agg.shot_id, sh.asset_id, CASE WHEN a.kind = %L THEN a.id END AS video_id,
                sh.shot_index, sh.start_ms, sh.end_ms, agg.keyframes, %s AS version, agg.scores, %s AS hits
         FROM (SELECT v.shot_id, count(*)::int AS keyframes, %s AS scores FROM mediatag_data.%I v
               WHERE v.shot_id IS NOT NULL GROUP BY v.shot_id) agg
         JOIN mediatag.shot sh ON sh.id = agg.shot_id JOIN mediatag.asset a ON a.id = sh.asset_id',
        a.dataset_id, 'video', v, hit_expr_row, max_expr,
        mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id || '_new');
    n_shot := mediatag._build_partition(mediatag._score_table(g, 'shot'), a.dataset_id, shot_expr, ARRAY['shot_id']);
    steps := steps || jsonb_build_object('shot', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
    mark := clock_timestamp();

    n_video := mediatag._build_partition(mediatag._score_table(g, 'video'), a.dataset_id, format(
        'SELECT v.dataset_id, v.asset_id, v.video_id, sum(v.keyframes)::int AS keyframes, count(*)::int AS shots,
                %s AS version, %s AS scores, %s AS hits
         FROM (SELECT dataset_id, asset_id, video_id, keyframes, scores, hits FROM mediatag_data.%I
               UNION ALL
               SELECT dataset_id, asset_id, video_id, 1, scores, %s FROM mediatag_data.%I
               WHERE shot_id IS NULL AND %L) v
         GROUP BY v.dataset_id, v.asset_id, v.video_id',
        v, max_expr, sum_expr, mediatag._score_table(g, 'shot') || '_ds' || a.dataset_id || '_new', hit_expr_row,
        mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id || '_new',
        EXISTS (SELECT 1 FROM mediatag.asset x WHERE x.dataset_id = a.dataset_id AND x.kind = 'image')), ARRAY['asset_id']);

    steps := steps || jsonb_build_object('video', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
    mark := clock_timestamp();
    n_tx := mediatag._build_partition(mediatag._score_table(g, 'transcript'), a.dataset_id, format(
        'SELECT s.dataset_id, s.id AS segment_id, s.asset_id, CASE WHEN a.kind = %L THEN a.id END AS video_id,
                s.start_ms, s.end_ms, s.text, %s AS version, %s AS scores
         FROM mediatag.transcript_segment s JOIN mediatag.asset a ON a.id = s.asset_id WHERE s.dataset_id = %s',
        'video', v, tx_expr, a.dataset_id), ARRAY['segment_id', 'asset_id']);

    steps := steps || jsonb_build_object('transcript', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
    mark := clock_timestamp();
    -- Fault injection for the crash-safety test: a pause between building and swapping, where a real job spends
    -- its time; a worker killed here must leave the live tables as they were.
    IF coalesce(delay, '') <> '' THEN PERFORM pg_sleep(delay::double precision); END IF;
    PERFORM mediatag._swap_partition(mediatag._score_table(g, lvl), a.dataset_id)
    FROM unnest(ARRAY['visual', 'shot', 'video', 'transcript']) AS lvl;
    steps := steps || jsonb_build_object('swap', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));

    UPDATE mediatag.group_application x SET status = 'scored', error = NULL, scored_version = v, scored_at = now(),
           score_seconds = extract(epoch FROM clock_timestamp() - started)
    WHERE x.group_id = a.group_id AND x.dataset_id = a.dataset_id;
    RETURN jsonb_build_object('group', g.name, 'dataset_id', a.dataset_id, 'version', v, 'tags', n_tags,
                              'keyframes', n_kf, 'shots', n_shot, 'assets', n_video, 'transcript_segments', n_tx,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3),
                              'step_seconds', steps);
END $$;

-- Score now, in this session (what the worker does for queued jobs), e.g. from psql or tests.
CREATE FUNCTION mediatag.score_tag_group(tag_group text, dataset text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); d bigint; res jsonb;
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    IF NOT EXISTS (SELECT 1 FROM mediatag.group_application x WHERE x.group_id = g.id AND x.dataset_id = d
                   AND x.applied_version IS NOT NULL) THEN
        RAISE EXCEPTION 'tag group "%" has no published version applied to dataset "%"', g.name,
            (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = d) USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    res := mediatag._score_group_job(g.id, d, NULL);
    -- A queued job for the same work is now redundant.
    UPDATE mediatag.job SET state = 'done', finished_at = now(), result = jsonb_build_object('superseded_by', 'score_tag_group')
    WHERE kind = 'score_group' AND state = 'queued' AND (payload ->> 'group_id')::bigint = g.id
      AND (payload ->> 'dataset_id')::bigint = d;
    RETURN res;
END $$;

-- ---- src/evaluation.sql
-- Tag evaluator: a stratified sample (~400 keyframes, equal per score bucket) gets ground truth from a person
-- (or, later, an LLM); wrong items are removed; metrics against every threshold from 0 to 1; the best threshold
-- for a chosen metric is suggested and can be saved (threshold_decision follows at once).

CREATE TABLE mediatag.evaluation (
    id                 bigserial PRIMARY KEY,
    tag_id             bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    dataset_id         bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    classifier_id      bigint REFERENCES mediatag.classifier(id) ON DELETE SET NULL,
    threshold_at_start real NOT NULL,
    created_by         text NOT NULL DEFAULT current_user,
    created_at         timestamptz NOT NULL DEFAULT now(),
    saved_threshold    real,
    saved_metric       text
);

CREATE TABLE mediatag.evaluation_item (
    evaluation_id  bigint NOT NULL REFERENCES mediatag.evaluation(id) ON DELETE CASCADE,
    keyframe_id    bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    shot_id        bigint,
    score          real NOT NULL,
    bucket         int NOT NULL,
    truth          boolean,
    truth_source   text CHECK (truth_source IN ('person', 'llm')),
    judged_by      text,
    judged_at      timestamptz,
    removed        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (evaluation_id, keyframe_id)
);

CREATE FUNCTION mediatag.start_evaluation(tag_group text, tag text, dataset text DEFAULT NULL, size int DEFAULT 400,
                                          seed int DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'visual');
    d bigint;
    e bigint;
    counts bigint[];
    lo bigint;
    hi bigint;
    mid bigint;
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    IF d <> g.training_dataset_id AND NOT EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d) THEN
        RAISE EXCEPTION 'tag group "%" is not used on dataset "%"', g.name, dataset USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF size IS NULL OR size < 10 OR size > 5000 THEN
        RAISE EXCEPTION 'evaluation size must be between 10 and 5000, got %', size USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF c.weights IS NULL THEN
        RAISE EXCEPTION 'tag "%" has no visual classifier to evaluate', t.name USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO mediatag.evaluation (tag_id, dataset_id, classifier_id, threshold_at_start)
    VALUES (t.id, d, c.id, t.threshold) RETURNING id INTO e;
    -- Score the whole dataset with the tag's current classifier once (one parallel pass into a temp table), then
    -- stratify: equal quota per 0.1-wide score bucket, shortfalls of sparse buckets handed to the others
    -- (water-filling), and a deterministic per-seed hash picks the members without sorting a million rows.
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;
    DROP TABLE IF EXISTS _mediatag_eval_scored;
    EXECUTE format('CREATE TEMP TABLE _mediatag_eval_scored ON COMMIT DROP AS
        SELECT k.id, k.shot_id, s.score, least(floor(s.score * 10)::int, 9) AS bucket,
               (hashtext(k.id::text || %L) & 2147483647)::float8 / 2147483647 AS draw
        FROM mediatag.keyframe k CROSS JOIN LATERAL
             (SELECT mediatag.sigmoid(%s - (k.embedding <#> %L::halfvec)) AS score) s
        WHERE k.dataset_id = %s', seed::text, c.bias, c.weights::text, d);
    SELECT array_agg(coalesce(cnt.n, 0) ORDER BY b) INTO counts
    FROM generate_series(0, 9) b
    LEFT JOIN (SELECT x.bucket, count(*) AS n FROM _mediatag_eval_scored x GROUP BY x.bucket) cnt ON cnt.bucket = b;
    -- The smallest per-bucket level whose total reaches `size` (or everything, if the dataset is smaller).
    lo := 0;
    hi := greatest((SELECT max(v) FROM unnest(counts) v), 1);
    WHILE lo < hi LOOP
        mid := (lo + hi) / 2;
        IF (SELECT sum(least(v, mid)) FROM unnest(counts) v) >= size THEN hi := mid; ELSE lo := mid + 1; END IF;
    END LOOP;
    INSERT INTO mediatag.evaluation_item (evaluation_id, keyframe_id, shot_id, score, bucket)
    SELECT e, r.id, r.shot_id, r.score, r.bucket
    FROM (SELECT x.*, row_number() OVER (PARTITION BY x.bucket ORDER BY x.draw) AS rn
          FROM _mediatag_eval_scored x
          -- keep ~2x the quota (+10) of each bucket before the exact cut, so the window sorts thousands, not millions
          WHERE x.draw < least(1.0, (2.0 * least(counts[x.bucket + 1], lo) + 10) / greatest(counts[x.bucket + 1], 1))) r
    WHERE r.rn <= least(counts[r.bucket + 1], lo);
    DROP TABLE _mediatag_eval_scored;
    RETURN e;
END $$;

CREATE FUNCTION mediatag._evaluation(evaluation_id bigint) RETURNS mediatag.evaluation
LANGUAGE plpgsql STABLE AS $$
DECLARE e mediatag.evaluation;
BEGIN
    SELECT * INTO e FROM mediatag.evaluation x WHERE x.id = evaluation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown evaluation %', evaluation_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN e;
END $$;

CREATE FUNCTION mediatag.evaluation_items(evaluation_id bigint, include_removed boolean DEFAULT false)
RETURNS TABLE (keyframe_id bigint, shot_id bigint, path text, keyframe_time_ms int, score real, bucket int,
               truth boolean, truth_source text, removed boolean)
LANGUAGE sql STABLE AS $$
    SELECT i.keyframe_id, i.shot_id, k.image_path, k.time_ms, i.score, i.bucket, i.truth, i.truth_source, i.removed
    FROM mediatag.evaluation_item i JOIN mediatag.keyframe k ON k.id = i.keyframe_id
    WHERE i.evaluation_id = (mediatag._evaluation($1)).id AND (include_removed OR NOT i.removed)
    ORDER BY i.bucket, i.keyframe_id
$$;

CREATE FUNCTION mediatag.set_ground_truth(evaluation_id bigint, keyframes bigint[], truth boolean,
                                          source text DEFAULT 'person') RETURNS int
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); n int; missing bigint;
BEGIN
    IF source NOT IN ('person', 'llm') THEN
        RAISE EXCEPTION 'invalid ground truth source "%": use person or llm', source USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u.k INTO missing FROM unnest(keyframes) u(k)
    WHERE NOT EXISTS (SELECT 1 FROM mediatag.evaluation_item i WHERE i.evaluation_id = e.id AND i.keyframe_id = u.k) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'keyframe % is not in evaluation %', missing, e.id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.evaluation_item i SET truth = set_ground_truth.truth, truth_source = source,
           judged_by = current_user, judged_at = now()
    WHERE i.evaluation_id = e.id AND i.keyframe_id = ANY (keyframes);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- "Remove items judged wrong": excluded from the metrics, kept for the record.
CREATE FUNCTION mediatag.remove_evaluation_items(evaluation_id bigint, keyframes bigint[], removed boolean DEFAULT true)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); n int;
BEGIN
    UPDATE mediatag.evaluation_item i SET removed = remove_evaluation_items.removed
    WHERE i.evaluation_id = e.id AND i.keyframe_id = ANY (keyframes);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE FUNCTION mediatag.evaluation_metrics(evaluation_id bigint)
RETURNS TABLE (threshold real, "precision" real, recall real, f1 real, f05 real, accuracy real,
               tp int, fp int, fn int, tn int)
LANGUAGE plpython3u AS $$
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import metrics

plpy.execute(plpy.prepare("SELECT mediatag._evaluation($1)", ["bigint"]), [evaluation_id])
r = plpy.execute(plpy.prepare(
    """SELECT array_agg(score) AS s, array_agg(truth) AS y FROM mediatag.evaluation_item
       WHERE evaluation_id = $1 AND truth IS NOT NULL AND NOT removed""", ["bigint"]), [evaluation_id])[0]
if not r["s"]:
    plpy.error(f"evaluation {evaluation_id} has no judged items yet", hint="record ground truth with mediatag.set_ground_truth()")
m = metrics.threshold_metrics(np.array(r["s"], dtype=np.float64), np.array(r["y"], dtype=bool))
keys = ("thresholds", "precision", "recall", "f1", "f05", "accuracy", "tp", "fp", "fn", "tn")
cols = [np.asarray(m[k]).tolist() for k in keys]
return [dict(zip(("threshold", *keys[1:]), row)) for row in zip(*cols)]
$$;

CREATE FUNCTION mediatag.suggest_threshold(evaluation_id bigint, metric text DEFAULT 'f1')
RETURNS TABLE (threshold real, value real, metric text, judged int)
LANGUAGE plpython3u AS $$
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy as np
from mediatag_ml import metrics as M

if metric not in ("f1", "f05", "precision", "recall", "accuracy"):
    plpy.error(f'invalid metric "{metric}": use f1, f05, precision, recall or accuracy')
plpy.execute(plpy.prepare("SELECT mediatag._evaluation($1)", ["bigint"]), [evaluation_id])
r = plpy.execute(plpy.prepare(
    """SELECT array_agg(score) AS s, array_agg(truth) AS y FROM mediatag.evaluation_item
       WHERE evaluation_id = $1 AND truth IS NOT NULL AND NOT removed""", ["bigint"]), [evaluation_id])[0]
if not r["s"]:
    plpy.error(f"evaluation {evaluation_id} has no judged items yet", hint="record ground truth with mediatag.set_ground_truth()")
thr, val = M.best_threshold(np.array(r["s"], dtype=np.float64), np.array(r["y"], dtype=bool), metric=metric)
return [{"threshold": float(thr), "value": float(val), "metric": metric, "judged": len(r["s"])}]
$$;

CREATE FUNCTION mediatag.save_threshold(evaluation_id bigint, metric text DEFAULT 'f1', threshold real DEFAULT NULL)
RETURNS real
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); thr real;
BEGIN
    thr := coalesce(threshold, (SELECT s.threshold FROM mediatag.suggest_threshold(evaluation_id, metric) s));
    IF thr < 0 OR thr > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, got %', thr USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.tag SET threshold = thr WHERE id = e.tag_id;
    UPDATE mediatag.evaluation x SET saved_threshold = thr, saved_metric = CASE WHEN save_threshold.threshold IS NULL THEN metric ELSE 'manual' END
    WHERE x.id = e.id;
    RETURN thr;
END $$;

-- After publish: ten keyframes from each score bucket of the scored dataset.
CREATE FUNCTION mediatag.stratified_preview(tag_group text, tag text, dataset text DEFAULT NULL, per_bucket int DEFAULT 10,
                                            seed int DEFAULT 0)
RETURNS TABLE (bucket_low real, bucket_high real, keyframe_id bigint, asset_id bigint, video_id bigint,
               keyframe_time_ms int, path text, score real, threshold_decision boolean)
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); t mediatag.tag := mediatag._tag(g, tag); d bigint;
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    IF NOT EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d AND a.scored_version IS NOT NULL) THEN
        RAISE EXCEPTION 'tag group "%" has not been scored on this dataset yet (publish it and let the worker run)', g.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT (b.bucket / 10.0)::real, ((b.bucket + 1) / 10.0)::real, b.keyframe_id, b.asset_id, b.video_id,
               b.keyframe_time_ms, k.image_path, b.score, b.threshold_decision
        FROM (SELECT v.*, least(floor(v.score * 10)::int, 9) AS bucket,
                     row_number() OVER (PARTITION BY least(floor(v.score * 10)::int, 9) ORDER BY md5(v.keyframe_id::text || %L)) AS rn
              FROM mediatag_data.%I v WHERE v.dataset_id = %s AND v.tag = %L) b
        JOIN mediatag.keyframe k ON k.id = b.keyframe_id
        WHERE b.rn <= %s ORDER BY b.bucket, b.score$q$, seed::text, 'dt_' || g.slug || '_visual', d,
        (SELECT vt.tag_name FROM mediatag.group_version_tag vt JOIN mediatag.group_application a
           ON a.group_id = vt.group_id AND a.scored_version = vt.version
         WHERE vt.tag_id = t.id AND a.dataset_id = d), per_bucket);
END $$;

-- ---- src/roles.sql
-- Privileges, granted last so they cover every object above. Viewers read; editors and admins also write
-- (functions check the role where an operation needs more, e.g. applying a group to another dataset).
GRANT USAGE ON SCHEMA mediatag, mediatag_data TO mediatag_viewer, mediatag_query;
GRANT SELECT ON ALL TABLES IN SCHEMA mediatag TO mediatag_viewer, mediatag_query;
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mediatag TO mediatag_editor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA mediatag TO mediatag_editor;
GRANT CREATE ON SCHEMA mediatag_data TO mediatag_editor;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mediatag TO mediatag_viewer;
