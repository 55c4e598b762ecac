-- Transcripts from every source: sidecars, subtitle tracks inside the container, speech to text (issue 25).
-- The media work runs in Python (the ingester, `mediatag transcribe`, the service's worker); this file holds what
-- the database keeps: audio-only assets, each segment's language, a dataset's preferred subtitle language, the
-- back-fill job ('transcribe', claimed by the Python worker like 'llm_*' jobs, never by run_jobs) and the
-- rescoring of assets whose transcript arrived after they were scored.

-- Audio-only files (mp3, m4a, wav, flac, ogg) are assets with a transcript and no keyframes. Replaced only where
-- the check lacks 'audio' (databases from before it), so a fresh install and an upgrade end with the same check.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                   WHERE c.conrelid = 'mediatag.asset'::regclass AND c.conname = 'asset_kind_check'
                     AND pg_catalog.pg_get_constraintdef(c.oid) LIKE '%audio%') THEN
        ALTER TABLE mediatag.asset DROP CONSTRAINT IF EXISTS asset_kind_check;
        ALTER TABLE mediatag.asset ADD CONSTRAINT asset_kind_check CHECK (kind IN ('image', 'video', 'audio'));
    END IF;
END $$;

-- The segment's language where the source says it (a subtitle track's tag, an engine's detection; ISO 639).
ALTER TABLE mediatag.transcript_segment ADD COLUMN IF NOT EXISTS language text;
-- Preferred languages of embedded subtitle tracks ("de,en"); NULL: the default-flagged track, else the first.
ALTER TABLE mediatag.dataset ADD COLUMN IF NOT EXISTS subtitle_language text;

CREATE OR REPLACE FUNCTION mediatag.set_subtitle_language(dataset text, language text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    PERFORM mediatag._require_write(d, 'setting the subtitle language');
    IF language IS NOT NULL AND language !~ '^\s*[A-Za-z]{2,3}([-_][A-Za-z0-9]+)?(\s*,\s*[A-Za-z]{2,3}([-_][A-Za-z0-9]+)?)*\s*$' THEN
        RAISE EXCEPTION 'subtitle language "%" is not a list of language codes such as ''de'' or ''ger,eng''', language
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mediatag.dataset x SET subtitle_language = nullif(btrim(language), '') WHERE x.id = d;
END $$;

-- ---- back-fill: speech to text for what is already ingested ---------------------------------------------------

-- Video and audio assets still without a transcript that speech to text has not heard to the end: never tried
-- (ingested with --asr off, or before ASR existed) or cut short by an outage. A finished attempt is recorded in
-- tech->'transcript'->>'asr' with the segments, in one transaction, so a killed run redoes only unfinished assets.
CREATE OR REPLACE FUNCTION mediatag._transcription_targets(dataset_id bigint)
RETURNS TABLE (asset_id bigint, path text, kind text, has_audio boolean)
LANGUAGE sql STABLE AS $$
    SELECT a.id, a.path, a.kind, coalesce((a.tech ->> 'has_audio')::boolean, true)
    FROM mediatag.asset a
    WHERE a.dataset_id = $1 AND a.status = 'ingested' AND a.kind IN ('video', 'audio')
      AND coalesce(a.tech -> 'transcript' ->> 'asr', '') = ''
      AND NOT EXISTS (SELECT 1 FROM mediatag.transcript_segment s WHERE s.asset_id = a.id)
    ORDER BY a.id
$$;

-- Records one asset's speech-to-text outcome (what was tried, notes) in the caller's transaction, beside its
-- segments.
CREATE OR REPLACE FUNCTION mediatag._record_transcription(asset_id bigint, record jsonb, notes text[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE mediatag.asset a
       SET tech = a.tech || jsonb_build_object('transcript', record)
                  || CASE WHEN coalesce(cardinality(notes), 0) = 0 THEN '{}'::jsonb
                          ELSE jsonb_build_object('ingest_notes', coalesce(a.tech -> 'ingest_notes', '[]') || to_jsonb(notes)) END
     WHERE a.id = _record_transcription.asset_id
$$;

CREATE OR REPLACE FUNCTION mediatag.transcribe(dataset text, asr mediatag.speech_engine DEFAULT 'auto') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); j bigint;
BEGIN
    PERFORM mediatag._require_write(d, 'transcribing a dataset');
    PERFORM mediatag._required('speech_engine', asr);
    -- Serialised on the dataset's row (only the owner can lock it): one back-fill per dataset at a time.
    PERFORM 1 FROM mediatag.dataset x WHERE x.id = d FOR UPDATE;
    SELECT x.id INTO j FROM mediatag.job x
    WHERE x.kind = 'transcribe' AND x.state IN ('queued', 'running') AND (x.payload ->> 'dataset_id')::bigint = d
    ORDER BY x.id LIMIT 1;
    IF j IS NULL THEN
        j := mediatag._enqueue_job('transcribe', jsonb_build_object('dataset_id', d, 'asr', asr));
    END IF;
    RETURN j;
END $$;

CREATE OR REPLACE FUNCTION mediatag.transcription_status(dataset text)
RETURNS TABLE (media_assets bigint, with_transcript bigint, from_subtitles bigint, from_embedded bigint,
               from_speech bigint, pending bigint, job_state text)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset);
BEGIN
    RETURN QUERY
    WITH src AS (
        SELECT a.id, (SELECT min(s.source) FROM mediatag.transcript_segment s WHERE s.asset_id = a.id) AS source
        FROM mediatag.asset a
        WHERE a.dataset_id = d AND a.status = 'ingested' AND a.kind IN ('video', 'audio'))
    SELECT count(*), count(src.source), count(*) FILTER (WHERE src.source LIKE 'subtitle%'),
           count(*) FILTER (WHERE src.source LIKE 'embedded:%'), count(*) FILTER (WHERE src.source LIKE 'asr:%'),
           (SELECT count(*) FROM mediatag._transcription_targets(d)),
           (SELECT x.state FROM mediatag.job x WHERE x.kind = 'transcribe' AND (x.payload ->> 'dataset_id')::bigint = d
            ORDER BY x.id DESC LIMIT 1)
    FROM src;
END $$;

-- ---- scoring transcripts that arrive after their asset was scored --------------------------------------------

-- Queues the rescoring of assets that got transcript segments after ingest, for every group applied to the
-- dataset: into the queued score_assets job of (group, dataset) when there is one ('rescore_asset_ids'), else a
-- new one. A queued full job covers them already. Returns the number of groups queued for.
CREATE OR REPLACE FUNCTION mediatag._queue_transcript_scoring(dataset_id bigint, asset_ids bigint[]) RETURNS int
LANGUAGE sql AS $$
    SELECT mediatag._queue_scoring_for_new_assets(dataset_id, asset_ids, 'rescore_asset_ids')
$$;

-- Part of a score_assets job: forgets the live-partition rows of the payload's 'rescore_asset_ids' (under the
-- application's row lock, which the scoring that follows takes too) and returns those ids, so the job scores
-- them again as new assets, transcripts included. One scoring path for new and re-heard assets.
CREATE OR REPLACE FUNCTION mediatag._rescore_assets(payload jsonb) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(payload -> 'rescore_asset_ids', '[]'))::bigint);
    g mediatag.tag_group;
    a mediatag.group_application;
    part text;
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN ids;
    END IF;
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = (payload ->> 'group_id')::bigint;
    a := mediatag._lock_group_application((payload ->> 'group_id')::bigint, (payload ->> 'dataset_id')::bigint);
    IF g.id IS NULL OR a.group_id IS NULL OR a.scored_version IS NULL THEN
        RETURN ids;   -- nothing scored yet: the full job covers them
    END IF;
    FOREACH part IN ARRAY ARRAY['visual', 'shot', 'video', 'transcript', 'hits'] LOOP
        part := mediatag._score_table(g, part) || '_ds' || a.dataset_id;
        IF to_regclass(format('mediatag_data.%I', part)) IS NOT NULL THEN
            EXECUTE format('DELETE FROM mediatag_data.%I WHERE asset_id = ANY ($1)', part) USING ids;
        END IF;
    END LOOP;
    RETURN ids;
END $$;

COMMENT ON FUNCTION mediatag.set_subtitle_language(text, text) IS
'Sets which embedded subtitle track ingest takes when a video has several (--subtitle-lang overrides it). Editors
of the dataset.
dataset: the dataset''s name
language: preferred languages in order, comma-separated ISO 639 codes (''de'', ''ger,eng''); NULL: the
  default-flagged track, else the first
Returns: nothing.';

COMMENT ON FUNCTION mediatag.transcribe(text, mediatag.speech_engine) IS
'Queues speech to text for the dataset''s videos and audio files that have no transcript yet (a back-fill; the
service''s worker or `mediatag transcribe` runs it, resumably; new segments queue their scoring). Editors of it.
dataset: the dataset''s name
asr: the engine: auto (the best one available to the worker), pocketsphinx, faster-whisper or openai (default auto)
Returns: the job id (the one already queued or running for the dataset, if any).';

COMMENT ON FUNCTION mediatag.transcription_status(text) IS
'Counts the dataset''s video and audio assets by where their transcript came from. Viewers of it.
dataset: the dataset''s name
Returns: one row: media_assets, with_transcript, from_subtitles (sidecars), from_embedded (tracks in the file),
  from_speech (asr), pending (not yet heard by speech to text), job_state (the latest transcribe job''s, or NULL).';
