-- Core tables: datasets, assets, shots, keyframes, transcript segments.
-- Embeddings are halfvec without a fixed dimension because each dataset is bound to its own models;
-- per-dataset HNSW indexes cast to the dataset's dimension (see mediatag.build_indexes).

CREATE SCHEMA IF NOT EXISTS mediatag_data;
COMMENT ON SCHEMA mediatag_data IS 'Generated per-dataset views and per-group score tables (dt_<group>_*)';

CREATE TABLE IF NOT EXISTS mediatag.dataset (
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

CREATE TABLE IF NOT EXISTS mediatag.asset (
    id            bigserial PRIMARY KEY,
    dataset_id    bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('image', 'video', 'audio')),  -- audio: transcript only
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
CREATE INDEX IF NOT EXISTS asset_dataset_idx ON mediatag.asset (dataset_id, status);
CREATE INDEX IF NOT EXISTS asset_metadata_idx ON mediatag.asset USING gin (metadata jsonb_path_ops);

CREATE TABLE IF NOT EXISTS mediatag.shot (
    id            bigserial PRIMARY KEY,
    asset_id      bigint NOT NULL REFERENCES mediatag.asset(id) ON DELETE CASCADE,
    shot_index    int NOT NULL,
    start_ms      int NOT NULL,
    end_ms        int NOT NULL CHECK (end_ms >= start_ms),
    UNIQUE (asset_id, shot_index)
);

CREATE TABLE IF NOT EXISTS mediatag.keyframe (
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
CREATE INDEX IF NOT EXISTS keyframe_dataset_idx ON mediatag.keyframe (dataset_id, id);
CREATE INDEX IF NOT EXISTS keyframe_shot_idx ON mediatag.keyframe (shot_id);

CREATE TABLE IF NOT EXISTS mediatag.transcript_segment (
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
CREATE INDEX IF NOT EXISTS transcript_dataset_idx ON mediatag.transcript_segment (dataset_id, id);
CREATE INDEX IF NOT EXISTS transcript_tsv_idx ON mediatag.transcript_segment USING gin (tsv);

-- One row per ingest run, so a user can see what a batch did (and what failed) after the fact.
CREATE TABLE IF NOT EXISTS mediatag.ingest_run (
    id          bigserial PRIMARY KEY,
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    summary     jsonb NOT NULL DEFAULT '{}'
);

-- Filter indexes: the keyframes of one metadata filter with a graph of their own (filter_indexes.sql says why).
CREATE TABLE IF NOT EXISTS mediatag.filter_index (
    id          bigserial PRIMARY KEY,
    dataset_id  bigint NOT NULL REFERENCES mediatag.dataset(id) ON DELETE CASCADE,
    metadata    jsonb NOT NULL CHECK (jsonb_typeof(metadata) = 'object' AND metadata <> '{}'),
    created_by  text NOT NULL DEFAULT session_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, metadata)
);
CREATE TABLE IF NOT EXISTS mediatag.filter_index_row (
    filter_index_id  bigint NOT NULL REFERENCES mediatag.filter_index(id) ON DELETE CASCADE,
    keyframe_id      bigint NOT NULL REFERENCES mediatag.keyframe(id) ON DELETE CASCADE,
    dataset_id       bigint NOT NULL,   -- the keyframe's: row-level security reads it
    embedding        halfvec NOT NULL,  -- the keyframe's, copied: the graph is built over this column
    PRIMARY KEY (filter_index_id, keyframe_id)
);
CREATE INDEX IF NOT EXISTS filter_index_row_keyframe_idx ON mediatag.filter_index_row (keyframe_id);

-- Named locks that serialise creators (of datasets, group slugs, concept names). A row lock here, not an advisory
-- key: any login may take any advisory key and stall every creator, while locking a row (FOR UPDATE) needs UPDATE
-- on the table, which only the owner has. The rows are the extension's own, recreated at install, so they are
-- not dumped (roles.sql).
CREATE TABLE IF NOT EXISTS mediatag.named_lock (name text PRIMARY KEY);
INSERT INTO mediatag.named_lock (name) VALUES ('create_dataset'), ('tag_group_slug'), ('concept_name')
ON CONFLICT DO NOTHING;
