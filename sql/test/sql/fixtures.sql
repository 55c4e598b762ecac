-- What the rest of the suite works on, made without media, models or a running embedding service: a login per
-- mediatag role, a stand-in for the service, and three small datasets stored the way `mediatag ingest` stores
-- them (rows written by the superuser, then mediatag.after_ingest). Later tests share this state, in order.

-- Roles are cluster-wide: names only this suite uses, and any left by an interrupted run dropped first (quietly,
-- so a clean run and a rerun print the same). NOLOGIN: the suite becomes them with SET SESSION AUTHORIZATION,
-- which sets session_user, the login mediatag's checks look at; nobody can connect as them meanwhile.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_nobody, regress_query, regress_viewer, regress_editor, regress_admin;
RESET client_min_messages;
CREATE ROLE regress_nobody;
CREATE ROLE regress_query IN ROLE mediatag_query;
CREATE ROLE regress_viewer IN ROLE mediatag_viewer;
CREATE ROLE regress_editor IN ROLE mediatag_editor;
CREATE ROLE regress_admin IN ROLE mediatag_admin;

-- The embedding service's stand-in: 32 numbers from the sha256 of model and text, the same on every machine. The
-- fixture datasets use 32-dimensional models. The HTTP path (mediatag._service_post) is tested by pytest with the
-- real service; everything from the vectors on is the extension's own code.
CREATE OR REPLACE FUNCTION mediatag.embed_texts(texts text[], model text) RETURNS SETOF vector
LANGUAGE sql AS $$
    SELECT ARRAY(SELECT (get_byte(sha256(convert_to(model || ':' || x.t, 'UTF8')), j) - 127.5) / 127.5
                 FROM generate_series(0, 31) j ORDER BY j)::real[]::vector
    FROM unnest(texts) WITH ORDINALITY AS x(t, i) ORDER BY x.i
$$;

CREATE SCHEMA regress;
-- Stores one 180 s video per metadata object, as the ingester does: 3 shots of 60 s, a keyframe every 6 s (30
-- per video) whose embedding is fixed noise from dataset, video and keyframe index. Where shows[i] is set, the
-- middle shot of video i (60-120 s) shows it: its keyframes lie near the stand-in's vector of that text, so the
-- tag of that name scores them high.
CREATE FUNCTION regress.ingest_videos(dataset text, metadata jsonb[], shows text[] DEFAULT '{}') RETURNS int
LANGUAGE plpgsql AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); i int; a bigint;
BEGIN
    FOR i IN 1 .. cardinality(metadata) LOOP
        INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, duration_ms, width, height, metadata)
        VALUES (d, 'video', format('/media/%s/video%s.mp4', dataset, i),
                encode(sha256(convert_to(dataset || i, 'UTF8')), 'hex'), 180000, 1280, 720, metadata[i])
        RETURNING id INTO a;
        INSERT INTO mediatag.shot (asset_id, shot_index, start_ms, end_ms)
        SELECT a, s, s * 60000, s * 60000 + 59999 FROM generate_series(0, 2) s;
        INSERT INTO mediatag.keyframe (dataset_id, asset_id, shot_id, keyframe_index, time_ms, image_path, width, height, embedding)
        SELECT d, a, sh.id, k, k * 6000, format('/keyframes/%s/%s/%s.jpg', dataset, i, k), 1280, 720,
               ARRAY(SELECT (get_byte(sha256(convert_to(format('%s/%s/%s', dataset, i, k), 'UTF8')), j) - 127.5) / 127.5
                            * CASE WHEN t.v IS NULL THEN 1 ELSE 0.1 END + coalesce(t.v[j + 1], 0)
                     FROM generate_series(0, 31) j ORDER BY j)::real[]::halfvec
        FROM generate_series(0, 29) k JOIN mediatag.shot sh ON sh.asset_id = a AND sh.shot_index = k / 10
        LEFT JOIN LATERAL (SELECT mediatag.embed_text(shows[i], 'regress-visual')::real[] AS v
                           WHERE shows[i] IS NOT NULL AND k / 10 = 1) t ON true
        ORDER BY k;
    END LOOP;
    RETURN mediatag.after_ingest(dataset);
END $$;

-- trailers (keyframes 1-120; 101-110 show Will Smith) and episodes (121-180; 131-140 and 161-170 show him), open
-- to every mediatag role, as in the README; vault (181-210), which only regress_editor (and admins) may see.
SELECT mediatag.create_dataset(name, 'regress-visual', 32, 'regress-text', 32) FROM unnest(ARRAY['trailers', 'episodes', 'vault']) name;
SELECT regress.ingest_videos('trailers', array_fill('{}'::jsonb, ARRAY[4]), ARRAY['Taylor Swift', NULL, NULL, 'Will Smith']);
SELECT regress.ingest_videos('episodes', ARRAY['{"SeriesName": "Regress", "EpisodeName": "Pilot"}',
                                               '{"SeriesName": "Regress", "EpisodeName": "Finale"}']::jsonb[],
                             ARRAY['Will Smith', 'Will Smith']);
SELECT regress.ingest_videos('vault', ARRAY['{}'::jsonb]);
SELECT mediatag.grant_dataset_access('vault', 'regress_editor', level => 'editor');
SELECT * FROM mediatag.dataset_summary();
