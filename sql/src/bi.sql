-- The curated schema for BI tools (README "Connect a BI tool"): mediatag_bi holds only views, each readable by
-- mediatag_query and mediatag_viewer and commented on itself and on every column, so a tool that lists a schema's
-- tables shows nothing a dashboard cannot read. Per group: dt_<group>_visual / _shot / _video / _transcript / _hits,
-- the columns of the mediatag_data views of the same name plus the dataset's and the group's names, scored_at and,
-- for keyframe rows, keyframe_url (made by _ensure_score_tables). Per dataset: <dataset>_keyframes / _assets with
-- the dataset's name, ingested_at and keyframe_url (refresh_dataset_views). And three catalog views defined here:
-- datasets, tag_groups, tags. Every view filters by the caller's readable datasets, as mediatag_data's do.
-- Generated views are not extension members (pg_dump carries them, as in mediatag_data); the catalog views are.
-- mediatag_data keeps its views and columns as they are: users' views are built on them.

CREATE SCHEMA IF NOT EXISTS mediatag_bi;
COMMENT ON SCHEMA mediatag_bi IS
'mediatag for BI tools: commented views only, all readable by mediatag_query. Start with tag_groups and tags; '
'scores are in dt_<group>_visual / _shot / _video / _transcript / _hits, media in <dataset>_keyframes / _assets.';
-- The owner creates the generated views here (its functions run as it); readers only use it.
ALTER SCHEMA mediatag_bi OWNER TO mediatag_owner;
REVOKE ALL ON SCHEMA mediatag_bi FROM PUBLIC;
GRANT USAGE ON SCHEMA mediatag_bi TO mediatag_viewer, mediatag_query;

-- ---- the UI's address, for keyframe_url ----------------------------------------------------------------------
-- An admin's setting beside the embedding service's (mediatag.setting, which only the owner reads): BI tools show
-- images from absolute URLs, and only the operator knows the name the UI is reached by (a proxy, another port).
ALTER TABLE mediatag.setting DROP CONSTRAINT IF EXISTS setting_name_check;
ALTER TABLE mediatag.setting ADD CONSTRAINT setting_name_check CHECK (name IN ('service_url', 'service_token', 'ui_url'));

CREATE OR REPLACE FUNCTION mediatag.set_ui_url(url text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mediatag._require_role('mediatag_admin', 'setting the web UI''s address');
    IF coalesce(url, '') = '' THEN
        DELETE FROM mediatag.setting s WHERE s.name = 'ui_url';
        RETURN;
    END IF;
    -- Only http(s): the value starts links and image sources that BI tools render.
    IF url !~ '^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/\-]*)?$' THEN
        RAISE EXCEPTION 'invalid UI URL %: only http:// or https:// URLs to a host (port and path optional) are accepted',
            quote_literal(url) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.setting (name, value) VALUES ('ui_url', rtrim(url, '/'))
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_by = session_user, set_at = now();
END $$;
COMMENT ON FUNCTION mediatag.set_ui_url(text) IS
'Sets the web UI''s address, which the keyframe_url columns of the mediatag_bi views start with. Admins.
url: http(s)://host[:port][/prefix] as browsers reach the UI; NULL or '''' removes it (keyframe_url is then a path relative to the UI)
Returns: nothing.';

-- The SQL expression of the UI's keyframe image URL for a keyframe id expression (NULL for none): the setting is a
-- one-row subquery, computed once per query, not per row.
CREATE OR REPLACE FUNCTION mediatag._keyframe_url_sql(keyframe text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT format($u$((SELECT coalesce(max(u.value), '') FROM mediatag.setting u WHERE u.name = 'ui_url')
                      || '/mediatag/thumb/' || %s || '/320.jpg')$u$, keyframe)
$$;

-- ---- comments ------------------------------------------------------------------------------------------------
-- What every mediatag_bi view and column means, in one place: a view's text by its kind; a column's by kind and
-- name where its meaning depends on the view, else by name alone. No names of datasets or groups go into comments:
-- every login reads the catalog.
CREATE OR REPLACE FUNCTION mediatag._bi_description(kind text, col text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN col IS NULL THEN d -> 'views' ->> kind ELSE coalesce(d -> kind ->> col, d -> 'columns' ->> col) END
    FROM (SELECT $d${
"views": {
  "visual": "Scores of one tag group on keyframes: one row per keyframe and tag of the scored version, in the datasets you can read (mediatag_data's view of the same name, with names, scored_at and keyframe_url). For the keyframes of a tag above its threshold, the _hits view is much faster.",
  "shot": "Scores of one tag group on video shots: one row per shot and tag; a shot scores as its best keyframe.",
  "video": "Scores of one tag group on whole assets (videos and images): one row per asset and tag; an asset scores as its best keyframe, with how many of its shots reached the threshold.",
  "transcript": "Scores of one tag group on subtitle segments: one row per segment and tag that has transcript prompts.",
  "hits": "The keyframes of one tag group at or above each tag's threshold: one row per keyframe and tag. Much faster than _visual for one tag, counts per tag and time ranges.",
  "keyframes": "The keyframes of one dataset with its assets' metadata: one row per keyframe, user metadata keys as text columns at the end.",
  "assets": "The assets (image and video files) of one dataset: one row per asset, user metadata keys as text columns at the end.",
  "datasets": "The datasets you can read, with the names of their views in this schema.",
  "tag_groups": "Tag groups per dataset they are trained on or applied to: versions, scoring status and time, and the prefix of their score views in this schema.",
  "tags": "The tags of each tag group on each dataset it is applied to (those of the scored version, or of the applied one until it is scored), with their live thresholds.",
  "segment": "Time ranges of a tag group's tags per video: positive keyframes (and transcript segments) merged with hysteresis (enter at the threshold, stay above the exit threshold), gaps closed and short ranges dropped. One row per range."
},
"columns": {
  "dataset": "Dataset name (mediatag_bi.datasets).",
  "dataset_id": "Dataset id.",
  "tag_group": "Tag group name (mediatag_bi.tag_groups).",
  "group_id": "Tag group id.",
  "tag": "Tag name (mediatag_bi.tags).",
  "tag_id": "Tag id.",
  "keyframe_id": "Keyframe id: joins the <dataset>_keyframes view and the dt_<group>_visual and _hits views.",
  "coactive_image_id": "The keyframe id again, under the name Coactive's tables use.",
  "asset_id": "Asset (image or video file) id: joins <dataset>_assets and the dt_<group>_video view.",
  "video_id": "The asset id when the asset is a video; NULL for an image.",
  "shot_id": "Shot id (a video's shot; NULL for images): joins the dt_<group>_shot view.",
  "shot_index": "The shot's place in its video.",
  "keyframe_index": "The keyframe's place in its asset.",
  "keyframe_time_ms": "Time of the keyframe in its video, in milliseconds (0 for images).",
  "start_ms": "Start in the video, in milliseconds.",
  "end_ms": "End in the video, in milliseconds.",
  "score": "The tag's score, 0 to 1 (a sigmoid of the tag's linear classifier on the keyframe's embedding).",
  "threshold": "The tag's live threshold on this dataset (the one saved for it by an evaluation, else the tag's own); a change applies at once.",
  "threshold_decision": "Whether the tag applies: score >= threshold.",
  "version": "The published group version these scores were computed with (the scored version).",
  "scored_at": "When the group was last scored in full on this dataset (new assets scored since are added without changing it); NULL before its first scoring.",
  "keyframe_url": "The keyframe's image (JPEG, 320 px wide) in the mediatag web UI: the admin's UI address (mediatag.set_ui_url) followed by /mediatag/thumb/<keyframe_id>/320.jpg, a path relative to the UI while none is set. Served to browsers logged in to the UI; 160 and 640 work in place of 320.",
  "segment_id": "Transcript (subtitle) segment id.",
  "text": "The subtitle segment's text.",
  "kind": "image or video.",
  "metadata": "All user metadata of the asset (jsonb); each key is also a text column of its own at the end of the per-dataset views.",
  "ingested_at": "When the asset was ingested.",
  "asset_path": "Path of the asset file on the server.",
  "duration_ms": "Length of a video, in milliseconds (NULL for images).",
  "width": "Width in pixels.",
  "height": "Height in pixels.",
  "size_bytes": "File size in bytes.",
  "error": "Why the file could not be read (status error); NULL otherwise.",
  "first_keyframe_id": "The asset's first keyframe (lowest keyframe_index), whose image keyframe_url shows; NULL when it has none.",
  "description": "The dataset's description.",
  "visual_model": "The model that embedded the dataset's keyframes.",
  "text_model": "The model that embedded the dataset's subtitles and prompts.",
  "keyframes_view": "The dataset's keyframes view in this schema.",
  "assets_view": "The dataset's assets view in this schema.",
  "role": "training (the dataset the group is trained and edited on) or applied (another dataset it was applied to).",
  "visibility": "secret (seen only with its training dataset) or shareable (may be applied to other datasets).",
  "state": "draft (never published) or published.",
  "latest_version": "The group's latest published version (0 before the first publish).",
  "applied_version": "The published version applied to this dataset (the training dataset always follows the latest); NULL before the first publish.",
  "scored_version": "The version whose scores the group's views show on this dataset; NULL before its first scoring.",
  "update_available": "A newer published version than the applied one exists (mediatag.apply_tag_group updates it).",
  "score_seconds": "How long the last full scoring took, in seconds.",
  "view_prefix": "The prefix of the group's score views in this schema (and in mediatag_data): <prefix>_visual, _shot, _video, _transcript, _hits.",
  "position": "The tag's place in the version, from 1."
},
"shot": {
  "keyframes": "Number of the shot's keyframes.",
  "keyframe_time_ms": "The shot's start (start_ms), so that every level has this time column.",
  "start_ms": "Start of the shot in its video, in milliseconds.",
  "end_ms": "End of the shot in its video, in milliseconds.",
  "score": "The tag's score of the shot: that of its best keyframe, 0 to 1."
},
"video": {
  "keyframes": "Number of the asset's keyframes.",
  "shots": "Number of the asset's shots (an image counts as one).",
  "shots_above_threshold": "How many of the asset's shots (an image counts as one) reached the tag's threshold when it was scored.",
  "score": "The tag's score of the asset: that of its best keyframe, 0 to 1."
},
"transcript": {
  "keyframe_time_ms": "The segment's start (start_ms), so that every level has this time column.",
  "start_ms": "Start of the subtitle segment, in milliseconds.",
  "end_ms": "End of the subtitle segment, in milliseconds.",
  "score": "The tag's score of the segment (its transcript classifier on the segment's text embedding), 0 to 1."
},
"segment": {
  "start_ms": "Start of the range in its video, in milliseconds.",
  "end_ms": "End of the range in its video, in milliseconds.",
  "duration_ms": "Length of the range, in milliseconds.",
  "peak_score": "The best score inside the range, 0 to 1.",
  "mean_score": "The mean score of the keyframes inside the range, 0 to 1.",
  "keyframes": "Number of keyframes inside the range.",
  "sources": "What the range comes from: visual, transcript or both.",
  "enter_threshold": "The score that opened the range (the tag's threshold when it was computed).",
  "exit_threshold": "The score the range had to stay above (mediatag.set_segment_options).",
  "version": "The published group version the range was computed from."
},
"hits": {
  "threshold_decision": "Always true: this view holds only rows at or above the threshold."
},
"keyframes": {
  "path": "Path of the keyframe image on the server (keyframe_url is the one a browser can show).",
  "ingested_at": "When the keyframe's asset was ingested."
},
"assets": {
  "path": "Path of the asset file on the server.",
  "status": "ingested, or error when the file could not be read (see error).",
  "keyframe_url": "The image of the asset's first keyframe (JPEG, 320 px wide) in the mediatag web UI: the admin's UI address (mediatag.set_ui_url) followed by /mediatag/thumb/<first_keyframe_id>/320.jpg, a path relative to the UI while none is set. Served to browsers logged in to the UI."
},
"datasets": {
  "created_at": "When the dataset was created."
},
"tag_groups": {
  "status": "Scoring of the applied version on this dataset: queued, unscored, scored or error.",
  "scored_at": "When the group was last scored in full on this dataset; NULL before its first scoring.",
  "created_at": "When the group was created."
},
"tags": {
  "version": "The version whose tags these are: the scored one, or the applied one until it is scored.",
  "scored_at": "When the group was last scored in full on this dataset; NULL before its first scoring."
}
}$d$::jsonb AS d) x
$$;

-- Comments a mediatag_bi view and each of its columns; `metadata` maps the columns that are user metadata keys to
-- their keys. Run after each regeneration: a view made again (new columns) starts without comments. A column with
-- no description is left without one, which the tests catch.
CREATE OR REPLACE FUNCTION mediatag._comment_bi_view(name text, kind text, metadata jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target regclass := format('mediatag_bi.%I', name)::regclass;
    col name;
BEGIN
    EXECUTE format('COMMENT ON VIEW %s IS %L', target, mediatag._bi_description(kind));
    FOR col IN SELECT a.attname FROM pg_catalog.pg_attribute a
               WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', target, col,
                       CASE WHEN metadata ? col
                            THEN format('User metadata key %s of the asset: its value as text, NULL where it has none.',
                                        metadata ->> col)
                            ELSE mediatag._bi_description(kind, col) END);
    END LOOP;
END $$;

-- ---- catalog views -------------------------------------------------------------------------------------------
-- Extension members, replaced in place by upgrades (CREATE OR REPLACE VIEW keeps grants and what users built on
-- them as long as columns are only appended). They run as their owner and filter by the caller's readable
-- datasets, like the generated views.
CREATE OR REPLACE VIEW mediatag_bi.datasets AS
SELECT d.name AS dataset, d.id AS dataset_id, d.description, d.visual_model, d.text_model, d.created_at,
       d.slug || '_keyframes' AS keyframes_view, d.slug || '_assets' AS assets_view
FROM mediatag.dataset d
WHERE d.id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);

CREATE OR REPLACE VIEW mediatag_bi.tag_groups AS
SELECT g.name AS tag_group, d.name AS dataset, a.role, g.visibility, g.state, g.published_version AS latest_version,
       a.applied_version, a.scored_version, coalesce(a.applied_version < g.published_version, false) AS update_available,
       a.status, a.scored_at, a.score_seconds, 'dt_' || g.slug AS view_prefix, g.created_at, g.id AS group_id,
       d.id AS dataset_id
FROM mediatag.group_application a
JOIN mediatag.tag_group g ON g.id = a.group_id
JOIN mediatag.dataset d ON d.id = a.dataset_id
WHERE a.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);

CREATE OR REPLACE VIEW mediatag_bi.tags AS
SELECT g.name AS tag_group, d.name AS dataset, vt.tag_name AS tag, vt.position,
       coalesce(dt.threshold, t.threshold) AS threshold, vt.version, a.scored_at, t.id AS tag_id, g.id AS group_id,
       d.id AS dataset_id
FROM mediatag.group_application a
JOIN mediatag.tag_group g ON g.id = a.group_id
JOIN mediatag.dataset d ON d.id = a.dataset_id
JOIN mediatag.group_version_tag vt ON vt.group_id = a.group_id AND vt.version = coalesce(a.scored_version, a.applied_version)
JOIN mediatag.tag t ON t.id = vt.tag_id
LEFT JOIN mediatag.tag_dataset_threshold dt ON dt.tag_id = t.id AND dt.dataset_id = a.dataset_id
WHERE a.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);

ALTER VIEW mediatag_bi.datasets OWNER TO mediatag_owner;
ALTER VIEW mediatag_bi.tag_groups OWNER TO mediatag_owner;
ALTER VIEW mediatag_bi.tags OWNER TO mediatag_owner;
GRANT SELECT ON mediatag_bi.datasets, mediatag_bi.tag_groups, mediatag_bi.tags TO mediatag_viewer, mediatag_query;
SELECT mediatag._comment_bi_view(v, v) FROM unnest(ARRAY['datasets', 'tag_groups', 'tags']) AS v;
