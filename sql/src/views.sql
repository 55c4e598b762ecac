-- Cross-dataset views in the spirit of Coactive's coactive_table / coactive_table_adv. Per-dataset views with
-- the metadata keys as columns live in mediatag_data (<dataset>_keyframes, <dataset>_assets).

CREATE OR REPLACE VIEW mediatag.coactive_table AS
SELECT d.name AS dataset, k.id AS coactive_image_id, k.id AS keyframe_id, k.asset_id,
       CASE WHEN a.kind = 'video' THEN a.id END AS video_id, k.shot_id, k.keyframe_index,
       k.time_ms AS keyframe_time_ms, k.image_path AS path, a.path AS asset_path, a.kind, a.metadata
FROM mediatag.keyframe k
JOIN mediatag.asset a ON a.id = k.asset_id
JOIN mediatag.dataset d ON d.id = k.dataset_id
WHERE k.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);

CREATE OR REPLACE VIEW mediatag.coactive_table_adv AS
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
JOIN mediatag.dataset d ON d.id = a.dataset_id
WHERE a.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]);
