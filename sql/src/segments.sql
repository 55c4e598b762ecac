-- Segments: time as a result. A tag's (or concept's) scores over a video's keyframes become time ranges.
--
-- How (double thresholding, the symmetric form of hysteresis): a run of consecutive keyframes of one video whose
-- scores stay at or above the exit threshold becomes a segment when at least one of them reaches the enter threshold
-- (the tag's threshold in force on the dataset). Each keyframe stands for the time around it: from halfway to the
-- previous keyframe of its shot (the shot's start for the first) to halfway to the next one (the shot's end for the
-- last), so a one-keyframe shot yields exactly the shot. Transcript segments whose transcript score reaches the
-- enter threshold join as ranges of their own. Ranges less than max_gap_ms apart (or overlapping) are merged, and
-- what is shorter than min_length_ms afterwards is dropped. `sources` says what a range came from: visual,
-- transcript or both.
-- Defaults, per tag (mediatag.set_segment_options changes them): exit threshold = enter - 0.1 (floored at 0),
-- min_length_ms = 1000, max_gap_ms = 2000. The same defaults are concept_segments' argument defaults.
-- Storage: mediatag_data.dt_<group>_segment_scores, partitioned by dataset like the score tables, read through the
-- view dt_<group>_segment (tag names and the caller's datasets, like the other dt_* views). The full scoring job
-- builds a dataset's partition with its scores and swaps them in together; the incremental job (per new asset) and
-- a saved threshold or segment option (per tag) refresh rows in place.

CREATE TABLE IF NOT EXISTS mediatag.tag_segment_option (
    tag_id          bigint PRIMARY KEY REFERENCES mediatag.tag(id) ON DELETE CASCADE,
    exit_threshold  real CHECK (exit_threshold BETWEEN 0 AND 1),   -- NULL: the enter threshold - 0.1
    min_length_ms   int NOT NULL DEFAULT 1000 CHECK (min_length_ms >= 0),
    max_gap_ms      int NOT NULL DEFAULT 2000 CHECK (max_gap_ms >= 0),
    saved_by        text NOT NULL DEFAULT session_user,
    saved_at        timestamptz NOT NULL DEFAULT now()
);

-- The exit threshold in force: the saved one (never above enter), else enter - 0.1.
CREATE OR REPLACE FUNCTION mediatag._segment_exit(enter_at real, exit_at real) RETURNS real
LANGUAGE sql IMMUTABLE AS $$ SELECT least(enter_at, coalesce(exit_at, greatest(enter_at - 0.1, 0)))::real $$;

-- Each keyframe's time span inside its shot (from halfway to the previous keyframe of its shot, or the shot's start,
-- to halfway to the next, or the shot's end) and its place in its video (ord: how many of the video's keyframes come
-- at or before it in time and shot order). Neither depends on the tag or the scores: this is their one definition,
-- evaluated where keyframes are made (keyframe_span below), not at every scoring. `keyframes_sql` yields at least
-- asset_id, shot_id and time_ms; its columns are kept.
CREATE OR REPLACE FUNCTION mediatag._segment_keyframes(keyframes_sql text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT format($q$SELECT k.*, coalesce((k.time_ms + lag(k.time_ms) OVER w) / 2, sh.start_ms, k.time_ms) AS span_start,
       coalesce((k.time_ms + lead(k.time_ms) OVER w) / 2, sh.end_ms, k.time_ms) AS span_end,
       count(*) OVER (PARTITION BY k.asset_id ORDER BY k.time_ms, k.shot_id) AS ord
FROM (%s) k LEFT JOIN mediatag.shot sh ON sh.id = k.shot_id
WINDOW w AS (PARTITION BY k.asset_id, k.shot_id ORDER BY k.time_ms)$q$, keyframes_sql)
$$;

-- Every keyframe's span and place, stored once: computing them at each scoring meant sorting every keyframe of the
-- dataset with its score array (13 of the 21.7 s of the 1M-keyframe job). Kept right by the statement triggers
-- below whenever a video's keyframes or shots change (every ingest path, the back-fill, deletes, restores: pg_dump
-- leaves these rows out, and restoring the keyframes makes them again). Only the owner reads it (no policy).
CREATE TABLE IF NOT EXISTS mediatag.keyframe_span (
    keyframe_id     bigint PRIMARY KEY,   -- no foreign key: its per-row check cost more than the rows (the triggers delete)
    span_start_ms   int NOT NULL,
    span_end_ms     int NOT NULL,
    ord             int NOT NULL
);

-- Recompute the spans of some assets' keyframes (all of each asset: a new or removed keyframe moves its
-- neighbours' spans and every later keyframe's place). Rows that come out the same are left as they are.
CREATE OR REPLACE FUNCTION mediatag._refresh_keyframe_spans(asset_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    IF coalesce(cardinality(asset_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    EXECUTE format('INSERT INTO mediatag.keyframe_span AS s (keyframe_id, span_start_ms, span_end_ms, ord)
                    SELECT x.id, x.span_start, x.span_end, x.ord FROM (%s) x
                    ON CONFLICT (keyframe_id) DO UPDATE SET span_start_ms = excluded.span_start_ms,
                        span_end_ms = excluded.span_end_ms, ord = excluded.ord
                    WHERE (s.span_start_ms, s.span_end_ms, s.ord) IS DISTINCT FROM
                          (excluded.span_start_ms, excluded.span_end_ms, excluded.ord)',
                   mediatag._segment_keyframes('SELECT k.id, k.asset_id, k.shot_id, k.time_ms FROM mediatag.keyframe k
                                                WHERE k.asset_id = ANY ($1)')) USING asset_ids;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The triggers' body: the assets whose keyframes (or shots) the statement changed, from its transition tables;
-- deleted keyframes' own rows go first. Updates count only where a keyframe's time, shot or video (a shot's bounds)
-- changed: a model switch rewrites every embedding of a dataset and moves no span.
CREATE OR REPLACE FUNCTION mediatag._keyframe_spans_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM mediatag.keyframe_span s USING changed_rows c WHERE s.keyframe_id = c.id;
    END IF;
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'keyframe' THEN
        PERFORM mediatag._refresh_keyframe_spans(ARRAY(
            SELECT x.asset_id FROM changed_rows c JOIN old_rows o ON o.id = c.id,
                   LATERAL (VALUES (c.asset_id), (o.asset_id)) x(asset_id)
            WHERE (c.asset_id, c.shot_id, c.time_ms) IS DISTINCT FROM (o.asset_id, o.shot_id, o.time_ms)
            GROUP BY x.asset_id));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM mediatag._refresh_keyframe_spans(ARRAY(
            SELECT DISTINCT c.asset_id FROM changed_rows c JOIN old_rows o ON o.id = c.id
            WHERE (c.asset_id, c.start_ms, c.end_ms) IS DISTINCT FROM (o.asset_id, o.start_ms, o.end_ms)));
    ELSE
        PERFORM mediatag._refresh_keyframe_spans(ARRAY(SELECT DISTINCT c.asset_id FROM changed_rows c));
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER keyframe_span_insert AFTER INSERT ON mediatag.keyframe REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediatag._keyframe_spans_changed();
CREATE OR REPLACE TRIGGER keyframe_span_update AFTER UPDATE ON mediatag.keyframe
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediatag._keyframe_spans_changed();
CREATE OR REPLACE TRIGGER keyframe_span_delete AFTER DELETE ON mediatag.keyframe REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediatag._keyframe_spans_changed();
CREATE OR REPLACE TRIGGER keyframe_span_shot_update AFTER UPDATE ON mediatag.shot
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediatag._keyframe_spans_changed();

-- Upgrades from a release without the table: every keyframe that has no span yet gets one (nothing on a fresh
-- install or a re-run).
SELECT mediatag._refresh_keyframe_spans(ARRAY(
    SELECT DISTINCT k.asset_id FROM mediatag.keyframe k
    WHERE NOT EXISTS (SELECT 1 FROM mediatag.keyframe_span s WHERE s.keyframe_id = k.id)));

-- The one segmentation query, shared by stored tag segments and on-the-fly concept segments. `points_sql` yields
-- keyframe scores with each keyframe's span and place (keyframe_span) (dataset_id, asset_id, video_id,
-- position, shot_id, time_ms, span_start, span_end, ord, score, enter_at, exit_at, min_ms, gap_ms); only the points
-- at or above their exit threshold are used, so a caller may leave out any below it. `tx_sql` the transcript
-- segments that reach their enter threshold (dataset_id, asset_id, video_id, position, start_ms, end_ms, score,
-- min_ms, gap_ms). Both are trusted SQL built by the callers below.
-- A run is a stretch of consecutive keyframes at or above exit: the keyframes before a point that are below exit
-- (its place minus the points at or above exit up to it) are the same number for every point of one run and grow
-- from one run to the next, so they number the runs without looking at the points below exit at all.
-- Run it with enable_hashagg off (its callers do): the window sorts leave the rows ordered by asset and tag, which
-- the GROUP BYs name first, so each aggregate streams behind an incremental sort. The planner, underestimating the
-- groups, hashes instead: at 1M keyframes (959k points, 912k runs) the two hash aggregates took 2.5 s of the 6.2-s
-- segment step, the same query with enable_hashagg off 3.9 s in all (bench_scoring.py).
CREATE OR REPLACE FUNCTION mediatag._segment_query(points_sql text, tx_sql text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT format($q$
WITH p AS (%s),
runs AS (  -- runs above exit that reach enter somewhere
    SELECT dataset_id, asset_id, video_id, position, min(span_start) AS start_ms, max(span_end) AS end_ms,
           max(score) AS peak, sum(score) AS total, count(*)::int AS keyframes, 0 AS tx, min(min_ms) AS min_ms,
           min(gap_ms) AS gap_ms
    FROM (SELECT p.*, p.ord - count(*) OVER (PARTITION BY p.asset_id, p.position ORDER BY p.time_ms, p.shot_id) AS run
          FROM p WHERE p.score >= p.exit_at) r
    GROUP BY asset_id, position, run, dataset_id, video_id
    HAVING bool_or(score >= enter_at)),
ranges AS (
    SELECT * FROM runs
    UNION ALL
    SELECT dataset_id, asset_id, video_id, position, start_ms, end_ms, score, score, 0, 1, min_ms, gap_ms
    FROM (%s) t),
grouped AS (  -- a new group where a range starts more than max_gap_ms after every earlier one ended
    SELECT r.*, count(*) FILTER (WHERE r.start_ms - r.prev_end > r.gap_ms)
               OVER (PARTITION BY r.asset_id, r.position ORDER BY r.start_ms, r.end_ms) AS grp
    FROM (SELECT ranges.*, max(end_ms) OVER (PARTITION BY asset_id, position ORDER BY start_ms, end_ms
                                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
          FROM ranges) r)
SELECT dataset_id, asset_id, video_id, position, min(start_ms)::int AS start_ms, max(end_ms)::int AS end_ms,
       max(peak)::real AS peak_score, (sum(total) / nullif(sum(keyframes + tx), 0))::real AS mean_score,
       sum(keyframes)::int AS keyframes,
       CASE WHEN sum(tx) = 0 THEN 'visual' WHEN sum(keyframes) = 0 THEN 'transcript' ELSE 'both' END AS sources
FROM grouped
GROUP BY asset_id, position, grp, dataset_id, video_id
HAVING max(end_ms) - min(start_ms) >= min(min_ms)
$q$, points_sql, tx_sql)
$$;

-- No transcript ranges, in the shape _segment_query expects of tx_sql.
CREATE OR REPLACE FUNCTION mediatag._no_transcript_ranges() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'SELECT NULL::bigint AS dataset_id, NULL::bigint AS asset_id, NULL::bigint AS video_id, NULL::int AS position,
                   NULL::int AS start_ms, NULL::int AS end_ms, NULL::real AS score, NULL::int AS min_ms, NULL::int AS gap_ms
            WHERE false'
$$;

-- Per tag of a scored version on a dataset: enter and exit thresholds, min length and max gap, as a VALUES list.
CREATE OR REPLACE FUNCTION mediatag._segment_params(group_id bigint, version int, dataset_id bigint,
                                                    tag_id bigint DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(format('(%s, %s::real, %s::real, %s, %s)', vt.position, x.enter_at,
                                      mediatag._segment_exit(x.enter_at, o.exit_threshold),
                                      coalesce(o.min_length_ms, 1000), coalesce(o.max_gap_ms, 2000)), ', '),
                    '(NULL::int, NULL::real, NULL::real, NULL::int, NULL::int)')
    FROM mediatag.group_version_tag vt
    CROSS JOIN LATERAL (SELECT mediatag._tag_threshold(vt.tag_id, _segment_params.dataset_id) AS enter_at) x
    LEFT JOIN mediatag.tag_segment_option o ON o.tag_id = vt.tag_id
    WHERE vt.group_id = _segment_params.group_id AND vt.version = _segment_params.version
      AND (_segment_params.tag_id IS NULL OR vt.tag_id = _segment_params.tag_id)
$$;

-- The transcript ranges of a group's transcript score partition `tx` that reach their tag's enter threshold, in the
-- shape _segment_query expects of tx_sql. `params`: _segment_params; `asset_filter`: a further condition on v.
CREATE OR REPLACE FUNCTION mediatag._segment_transcript_ranges(tx text, params text, asset_filter text DEFAULT '')
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN to_regclass(format('mediatag_data.%I', tx)) IS NULL
                THEN mediatag._no_transcript_ranges()
                ELSE format('SELECT v.dataset_id, v.asset_id, v.video_id, o.position, v.start_ms, v.end_ms, v.scores[o.position] AS score,
                                    o.min_ms, o.gap_ms
                             FROM mediatag_data.%I v CROSS JOIN (VALUES %s) o(position, enter_at, exit_at, min_ms, gap_ms)
                             WHERE v.video_id IS NOT NULL AND v.scores[o.position] >= o.enter_at%s', tx, params, asset_filter) END
$$;

-- The reference for a group's segments on a dataset: every keyframe's span and place computed by the window
-- definition (_segment_keyframes) over its live keyframe score partition, as the job did before keyframe_span
-- stored them. The stored segments must equal its rows (tests/test_segment_spans.py; bench/bench_scoring.py at 1M).
CREATE OR REPLACE FUNCTION mediatag._segments_by_window(group_id bigint, dataset_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE g mediatag.tag_group; a mediatag.group_application; params text;
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = _segments_by_window.group_id;
    SELECT * INTO a FROM mediatag.group_application x
    WHERE x.group_id = _segments_by_window.group_id AND x.dataset_id = _segments_by_window.dataset_id;
    params := mediatag._segment_params(g.id, a.scored_version, a.dataset_id);
    RETURN mediatag._segment_query(format(
        'SELECT v.dataset_id, v.asset_id, v.video_id, u.position::int AS position, v.shot_id, v.time_ms, v.span_start,
                v.span_end, v.ord, u.score, o.enter_at, o.exit_at, o.min_ms, o.gap_ms
         FROM (%s) v CROSS JOIN LATERAL unnest(v.scores) WITH ORDINALITY AS u(score, position)
         JOIN (VALUES %s) o(position, enter_at, exit_at, min_ms, gap_ms) ON o.position = u.position',
        mediatag._segment_keyframes(format(
            'SELECT v.dataset_id, v.asset_id, v.video_id, v.shot_id, v.keyframe_time_ms AS time_ms, v.scores
             FROM mediatag_data.%I v WHERE v.video_id IS NOT NULL',
            mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id)), params),
        mediatag._segment_transcript_ranges(mediatag._score_table(g, 'transcript') || '_ds' || a.dataset_id, params));
END $$;

-- The segment table and its views, once per group (like _ensure_score_tables: only when missing). Partitioned by
-- dataset like the score tables: the full job builds a dataset's segments beside the live ones and swaps them in with
-- the scores (no DELETE of the old rows, no dead rows left behind), and dropping a dataset or unapplying a group drops
-- a partition. A table from before segments were partitioned (a plain table) is converted here, its rows kept, and
-- the views repointed in place (a user's view over them stays as it is).
CREATE OR REPLACE FUNCTION mediatag._ensure_segment_table(g mediatag.tag_group) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE cols text := $c$s.dataset_id, s.asset_id, s.video_id, vt.tag_name AS tag, s.start_ms, s.end_ms,
        s.end_ms - s.start_ms AS duration_ms, s.peak_score, s.mean_score, s.keyframes, s.sources,
        s.enter_threshold, s.exit_threshold, s.version$c$;
        parent text := mediatag._score_table(g, 'segment');
        kind "char";
        d bigint;
BEGIN
    kind := mediatag._segment_table_kind(g);
    IF kind = 'r' THEN
        EXECUTE format('ALTER TABLE mediatag_data.%I RENAME TO %I', parent, parent || '_unpartitioned');
    END IF;
    IF kind IS DISTINCT FROM 'p' THEN
        -- Nullable columns, as the score tables' parents: partitions come from CREATE TABLE AS (_build_partition).
        EXECUTE format('CREATE TABLE mediatag_data.%I (dataset_id bigint, asset_id bigint, video_id bigint, position int,
            start_ms int, end_ms int, peak_score real, mean_score real, keyframes int, sources text, enter_threshold real,
            exit_threshold real, version int) PARTITION BY LIST (dataset_id)', parent);
    END IF;
    PERFORM mediatag._replace_view('dt_' || g.slug || '_segment', format('SELECT %s %s', cols,
        mediatag._score_view_from(parent, g.id, 'vt.position = s.position')));
    PERFORM mediatag._replace_view('dt_' || g.slug || '_segment', format('SELECT d.name AS dataset, g.name AS tag_group, %s, a.scored_at %s',
        cols, mediatag._score_view_from(parent, g.id, 'vt.position = s.position', curated => true)), 'mediatag_bi');
    EXECUTE format('GRANT SELECT ON mediatag_data.%1$I, mediatag_bi.%1$I TO mediatag_viewer, mediatag_query',
                   'dt_' || g.slug || '_segment');
    PERFORM mediatag._comment_bi_view('dt_' || g.slug || '_segment', 'segment');
    IF kind = 'r' THEN   -- the views read the new table now: move the rows, one partition per dataset
        FOR d IN EXECUTE format('SELECT DISTINCT dataset_id FROM mediatag_data.%I', parent || '_unpartitioned') LOOP
            PERFORM mediatag._build_partition(parent, d, format(
                'SELECT dataset_id, asset_id, video_id, position, start_ms, end_ms, peak_score, mean_score, keyframes,
                        sources, enter_threshold, exit_threshold, version FROM mediatag_data.%I WHERE dataset_id = %s',
                parent || '_unpartitioned', d), ARRAY['asset_id']);
            PERFORM mediatag._swap_partition(parent, d);
        END LOOP;
        EXECUTE format('DROP TABLE mediatag_data.%I', parent || '_unpartitioned');
    END IF;
END $$;

-- A dataset's live segment partition, made empty where there is none (a dataset that had no segments when its
-- table was converted): the partial refreshes below write into it. Returns its name.
CREATE OR REPLACE FUNCTION mediatag._ensure_segment_partition(g mediatag.tag_group, dataset_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE part text := mediatag._score_table(g, 'segment') || '_ds' || dataset_id;
BEGIN
    IF to_regclass(format('mediatag_data.%I', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE mediatag_data.%I PARTITION OF mediatag_data.%I FOR VALUES IN (%s)', part,
                       mediatag._score_table(g, 'segment'), dataset_id);
        EXECUTE format('CREATE INDEX ON mediatag_data.%I (asset_id)', part);
    END IF;
    RETURN part;
END $$;

-- Per tag of a scored version on a dataset, the same parameters as _segment_params as arrays by position (NULL where
-- a tag is left out), to subscript beside a score array.
CREATE OR REPLACE FUNCTION mediatag._segment_param_arrays(group_id bigint, version int, dataset_id bigint,
    tag_id bigint DEFAULT NULL, OUT enter_at real[], OUT exit_at real[], OUT min_ms int[], OUT gap_ms int[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
    EXECUTE format('SELECT array_agg(o.enter_at ORDER BY p.p), array_agg(o.exit_at ORDER BY p.p),
                           array_agg(o.min_ms ORDER BY p.p), array_agg(o.gap_ms ORDER BY p.p)
                    FROM generate_series(1, (SELECT max(vt.position) FROM mediatag.group_version_tag vt
                                             WHERE vt.group_id = %s AND vt.version = %s)) p(p)
                    LEFT JOIN (VALUES %s) o(position, enter_at, exit_at, min_ms, gap_ms) ON o.position = p.p',
                   group_id, version, mediatag._segment_params(group_id, version, dataset_id, tag_id))
        INTO enter_at, exit_at, min_ms, gap_ms;
END $$;

-- The SELECT of a group's segment rows on a dataset, in the segment table's columns: `version` is the scored version
-- whose keyframe scores `vis` and transcript scores `tx` (partition names) hold. `asset_filtered`: only the assets in
-- $1; `by_rows`: only the rows of `vis` whose addresses are in $2 (where the caller knows them: the incremental job,
-- from its INSERT; the partition has no index to find them by); `tag_id`: one tag's segments. `points`,
-- `points_floors`: where the full job has them, its table of the (keyframe, tag) scores reaching points_floors, each
-- with its keyframe's span and place, read instead of unnesting every score array again; used only where every
-- tag's exit threshold now is at or above its floor there (else `vis`).
CREATE OR REPLACE FUNCTION mediatag._segments_sql(g mediatag.tag_group, dataset_id bigint, version int, vis text, tx text,
                                                  asset_filtered boolean DEFAULT false, by_rows boolean DEFAULT false,
                                                  tag_id bigint DEFAULT NULL, points text DEFAULT NULL,
                                                  points_floors real[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    params text := mediatag._segment_params(g.id, version, dataset_id, tag_id);
    o record := mediatag._segment_param_arrays(g.id, version, dataset_id, tag_id);
    asset_filter text := CASE WHEN asset_filtered THEN ' AND v.asset_id = ANY ($1)' ELSE '' END;
    points_sql text;
BEGIN
    -- The points at or above exit only, each with its keyframe's stored span and place: the only sort left is the
    -- run numbering's, over these points.
    IF points IS NOT NULL AND NOT asset_filtered AND NOT EXISTS (
            SELECT 1 FROM generate_subscripts(o.exit_at, 1) i
            WHERE o.exit_at[i] < coalesce(points_floors[i], 'infinity'::real)) THEN
        points_sql := format('SELECT p.dataset_id, p.asset_id, p.video_id, p.position, p.shot_id, p.keyframe_time_ms AS time_ms,
                                     p.span_start_ms, p.span_end_ms, p.ord, p.score
                              FROM mediatag_data.%I p WHERE p.video_id IS NOT NULL AND p.score >= (%L::real[])[p.position]',
                             points, o.exit_at);
    ELSE
        points_sql := format('SELECT v.dataset_id, v.asset_id, v.video_id, v.position, v.shot_id, v.time_ms,
                                     ks.span_start_ms, ks.span_end_ms, ks.ord, v.score
                              FROM (%s) v JOIN mediatag.keyframe_span ks ON ks.keyframe_id = v.keyframe_id',
                             mediatag._scores_reaching(format(
                                 'SELECT v.dataset_id, v.keyframe_id, v.asset_id, v.video_id, v.shot_id,
                                         v.keyframe_time_ms AS time_ms, v.scores
                                  FROM mediatag_data.%I v WHERE v.video_id IS NOT NULL%s%s', vis, asset_filter,
                                 CASE WHEN by_rows THEN ' AND v.ctid = ANY ($2)' ELSE '' END),
                                 o.exit_at, parallel => false));   -- INSERT ... SELECT runs serially
    END IF;
    RETURN format('SELECT q.dataset_id, q.asset_id, q.video_id, q.position, q.start_ms, q.end_ms, q.peak_score, q.mean_score,
                          q.keyframes, q.sources, o.enter_at AS enter_threshold, o.exit_at AS exit_threshold, %s AS version
                   FROM (%s) q JOIN (VALUES %s) o(position, enter_at, exit_at, min_ms, gap_ms) ON o.position = q.position',
        version, mediatag._segment_query(
            -- Each point with its tag's parameters by position.
            format('SELECT v.dataset_id, v.asset_id, v.video_id, v.position, v.shot_id, v.time_ms,
                           v.span_start_ms AS span_start, v.span_end_ms AS span_end, v.ord, v.score,
                           (%2$L::real[])[v.position] AS enter_at, (%3$L::real[])[v.position] AS exit_at,
                           (%4$L::int[])[v.position] AS min_ms, (%5$L::int[])[v.position] AS gap_ms
                    FROM (%1$s) v', points_sql, o.enter_at, o.exit_at, o.min_ms, o.gap_ms),
            mediatag._segment_transcript_ranges(tx, params, asset_filter)),
        params);
END $$;

-- Recompute some of a group's segments on a dataset from its live score partitions, in place: some assets'
-- (incremental scoring, `keyframe_rows` as in _segments_sql) or one tag's (a threshold or segment option saved), or
-- all of them. Runs in the caller's transaction. The full job builds a new partition instead (_score_group_job).
CREATE OR REPLACE FUNCTION mediatag._refresh_segments(group_id bigint, dataset_id bigint, asset_ids bigint[] DEFAULT NULL,
                                                      tag_id bigint DEFAULT NULL, keyframe_rows tid[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET enable_hashagg = off   -- see _segment_query
AS $$
DECLARE
    g mediatag.tag_group;
    a mediatag.group_application;
    vis text; part text; n bigint;
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = _refresh_segments.group_id;
    SELECT * INTO a FROM mediatag.group_application x
    WHERE x.group_id = _refresh_segments.group_id AND x.dataset_id = _refresh_segments.dataset_id;
    vis := mediatag._score_table(g, 'visual') || '_ds' || _refresh_segments.dataset_id;
    IF g.id IS NULL OR a.scored_version IS NULL OR to_regclass(format('mediatag_data.%I', vis)) IS NULL THEN
        RETURN 0;
    END IF;
    IF mediatag._segment_table_kind(g) IS DISTINCT FROM 'p' THEN
        PERFORM mediatag._ensure_segment_table(g);
    END IF;
    part := mediatag._ensure_segment_partition(g, _refresh_segments.dataset_id);
    EXECUTE format('DELETE FROM mediatag_data.%I s WHERE ($1 IS NULL OR s.asset_id = ANY ($1))
                    AND ($2 IS NULL OR s.position IN (SELECT vt.position FROM mediatag.group_version_tag vt
                                                      WHERE vt.group_id = %s AND vt.tag_id = $2 AND vt.version = %s))',
                   part, g.id, a.scored_version) USING asset_ids, tag_id;
    EXECUTE format('INSERT INTO mediatag_data.%I (dataset_id, asset_id, video_id, position, start_ms, end_ms, peak_score,
                        mean_score, keyframes, sources, enter_threshold, exit_threshold, version) %s',
        part, mediatag._segments_sql(g, _refresh_segments.dataset_id, a.scored_version, vis,
                                     mediatag._score_table(g, 'transcript') || '_ds' || _refresh_segments.dataset_id,
                                     asset_filtered => asset_ids IS NOT NULL, by_rows => keyframe_rows IS NOT NULL,
                                     tag_id => _refresh_segments.tag_id)) USING asset_ids, keyframe_rows;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- What a group's segment table is (pg_class.relkind: 'p' partitioned, 'r' a plain table from before; NULL: none yet).
CREATE OR REPLACE FUNCTION mediatag._segment_table_kind(g mediatag.tag_group) RETURNS "char"
LANGUAGE sql STABLE AS $$
    SELECT c.relkind FROM pg_catalog.pg_class c
    WHERE c.oid = to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'segment')))
$$;

-- A saved threshold moves a tag's segments on every dataset whose scores its group holds.
CREATE OR REPLACE FUNCTION mediatag._refresh_tag_segments(tag_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mediatag._refresh_segments(a.group_id, a.dataset_id, NULL, t.id)
    FROM mediatag.tag t JOIN mediatag.group_application a ON a.group_id = t.group_id
    WHERE t.id = _refresh_tag_segments.tag_id AND a.scored_version IS NOT NULL;
END $$;

CREATE OR REPLACE FUNCTION mediatag.set_segment_options(tag_group text, tag text, exit_threshold real DEFAULT NULL,
                                                        min_length_ms int DEFAULT 1000, max_gap_ms int DEFAULT 2000)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    PERFORM mediatag._require_write(g.training_dataset_id, 'setting segment options');
    IF exit_threshold < 0 OR exit_threshold > 1 OR min_length_ms < 0 OR max_gap_ms < 0 THEN
        RAISE EXCEPTION 'exit_threshold must be between 0 and 1, min_length_ms and max_gap_ms at least 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mediatag.tag_segment_option AS o (tag_id, exit_threshold, min_length_ms, max_gap_ms)
    VALUES (t.id, exit_threshold, coalesce(min_length_ms, 1000), coalesce(max_gap_ms, 2000))
    ON CONFLICT (tag_id) DO UPDATE SET exit_threshold = excluded.exit_threshold, min_length_ms = excluded.min_length_ms,
        max_gap_ms = excluded.max_gap_ms, saved_by = session_user, saved_at = now();
    PERFORM mediatag._refresh_tag_segments(t.id);
END $$;

-- A tag's segments on a dataset (the dt_<group>_segment rows with each video's path and frame rate), for exports.
CREATE OR REPLACE FUNCTION mediatag.tag_segments(dataset text, tag_group text, tag text)
RETURNS TABLE (asset_id bigint, path text, fps real, duration_ms int, start_ms int, end_ms int, peak_score real,
               mean_score real, keyframes int, sources text)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint := mediatag.dataset_id(dataset); g mediatag.tag_group := mediatag._group(tag_group);
        t mediatag.tag := mediatag._tag(g, tag);
BEGIN
    IF to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'segment'))) IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT s.asset_id, x.path, (x.tech ->> %L)::real, x.duration_ms, s.start_ms, s.end_ms, s.peak_score,
                s.mean_score, s.keyframes, s.sources
         FROM mediatag_data.%I s
         JOIN mediatag.group_version_tag vt ON vt.group_id = $1 AND vt.version = s.version AND vt.position = s.position
         JOIN mediatag.asset x ON x.id = s.asset_id
         WHERE s.dataset_id = $2 AND vt.tag_id = $3 AND mediatag._can_read_dataset($2)
         ORDER BY x.path, s.start_ms', 'fps', mediatag._score_table(g, 'segment')) USING g.id, d, t.id;
END $$;

-- A concept's segments, computed when asked from its scores now (concept scores are not stored either).
CREATE OR REPLACE FUNCTION mediatag.concept_segments(concept text, exit_threshold real DEFAULT NULL,
                                                     min_length_ms int DEFAULT 1000, max_gap_ms int DEFAULT 2000)
RETURNS TABLE (asset_id bigint, path text, fps real, duration_ms int, start_ms int, end_ms int, peak_score real,
               mean_score real, keyframes int, sources text)
LANGUAGE plpgsql STABLE
SET enable_hashagg = off   -- see _segment_query
AS $$
DECLARE c mediatag.concept := mediatag._concept(concept); cc mediatag.concept_classifier := mediatag._concept_classifier(c);
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT q.asset_id, x.path, (x.tech ->> %L)::real, x.duration_ms, q.start_ms, q.end_ms, q.peak_score,
                q.mean_score, q.keyframes, q.sources
         FROM (%s) q JOIN mediatag.asset x ON x.id = q.asset_id ORDER BY x.path, q.start_ms', 'fps',
        mediatag._segment_query(format(
            'SELECT k.dataset_id, k.asset_id, k.asset_id AS video_id, 1 AS position, k.shot_id, k.time_ms,
                    ks.span_start_ms AS span_start, ks.span_end_ms AS span_end, ks.ord,
                    (%s)::real AS score, %s::real AS enter_at,
                    %s::real AS exit_at, %s AS min_ms, %s AS gap_ms
             FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id
             JOIN mediatag.keyframe_span ks ON ks.keyframe_id = k.id
             WHERE k.dataset_id = %s AND a.kind = %L', mediatag._concept_score_sql(cc), c.threshold,
            mediatag._segment_exit(c.threshold, exit_threshold), coalesce(min_length_ms, 1000),
            coalesce(max_gap_ms, 2000), c.dataset_id, 'video'),
            mediatag._no_transcript_ranges()));
END $$;

-- One video's segments under every group applied to its dataset that the caller sees (the asset page's list).
CREATE OR REPLACE FUNCTION mediatag.asset_segments(asset bigint)
RETURNS TABLE (tag_group text, tag text, start_ms int, end_ms int, peak_score real, mean_score real, keyframes int,
               sources text)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint; g mediatag.tag_group;
BEGIN
    SELECT x.dataset_id INTO d FROM mediatag.asset x WHERE x.id = asset;
    IF d IS NULL OR NOT mediatag._can_read_dataset(d) THEN
        RAISE EXCEPTION 'unknown asset %', asset USING ERRCODE = 'no_data_found';
    END IF;
    FOR g IN SELECT x.* FROM mediatag.tag_group x JOIN mediatag.group_application a ON a.group_id = x.id
             WHERE a.dataset_id = d AND a.scored_version IS NOT NULL AND x.id = ANY (mediatag._visible_groups())
             ORDER BY x.name LOOP
        IF to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'segment'))) IS NOT NULL THEN
            RETURN QUERY EXECUTE format(
                'SELECT $1, vt.tag_name, s.start_ms, s.end_ms, s.peak_score, s.mean_score, s.keyframes, s.sources
                 FROM mediatag_data.%I s
                 JOIN mediatag.group_version_tag vt ON vt.group_id = $2 AND vt.version = s.version AND vt.position = s.position
                 WHERE s.dataset_id = $3 AND s.asset_id = $4 ORDER BY s.start_ms, vt.position',
                mediatag._score_table(g, 'segment')) USING g.name, g.id, d, asset;
        END IF;
    END LOOP;
END $$;

COMMENT ON FUNCTION mediatag.asset_segments(bigint) IS
'One video''s time segments under every tag group scored on its dataset that the caller sees. Viewers who can read the dataset.
asset: the asset (video) id
Returns: one row per segment, by group then time: tag_group, tag, start_ms, end_ms, peak_score, mean_score, keyframes, sources (visual | transcript | both).';

-- One video's scores against time under one group (the asset page's score timeline): each keyframe's score at its
-- time and each shot's over its range, with the threshold in force at that level (shots: tag_shot_threshold).
CREATE OR REPLACE FUNCTION mediatag.asset_score_timeline(asset bigint, tag_group text)
RETURNS TABLE (tag text, level text, start_ms int, end_ms int, score real, threshold real, threshold_decision boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE d bigint; g mediatag.tag_group := mediatag._group(tag_group);
BEGIN
    SELECT x.dataset_id INTO d FROM mediatag.asset x WHERE x.id = asset;
    IF d IS NULL OR NOT mediatag._can_read_dataset(d) THEN
        RAISE EXCEPTION 'unknown asset %', asset USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mediatag.group_application a
                   WHERE a.group_id = g.id AND a.dataset_id = d AND a.scored_version IS NOT NULL) THEN
        RAISE EXCEPTION 'tag group "%" has no scores on the dataset of asset %', g.name, asset
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'apply the group to the dataset (mediatag.apply_tag_group) and let the worker score it';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT v.tag, %L, v.keyframe_time_ms, v.keyframe_time_ms, v.score, v.threshold, v.threshold_decision
         FROM mediatag_data.%I v WHERE v.dataset_id = $1 AND v.asset_id = $2
         UNION ALL
         SELECT s.tag, %L, s.start_ms, s.end_ms, s.score, s.threshold, s.threshold_decision
         FROM mediatag_data.%I s WHERE s.dataset_id = $1 AND s.asset_id = $2
         ORDER BY 1, 2, 3', 'keyframe', 'dt_' || g.slug || '_visual', 'shot', 'dt_' || g.slug || '_shot') USING d, asset;
END $$;

COMMENT ON FUNCTION mediatag.asset_score_timeline(bigint, text) IS
'One video''s scores against time under a tag group: every keyframe''s and every shot''s, with the threshold in force. Viewers who can read the dataset.
asset: the asset (video) id
tag_group: the group''s name, scored on the asset''s dataset
Returns: one row per tag and keyframe or shot, by tag, level and time: tag, level (keyframe | shot), start_ms, end_ms (a keyframe: its time twice), score, threshold (a shot''s: the shot threshold), threshold_decision.';

-- The segments as text in an export format: the CLI's `mediatag export` in SQL (one renderer, segment_export.py).
CREATE OR REPLACE FUNCTION mediatag.export_segments(dataset text DEFAULT NULL, tag_group text DEFAULT NULL,
                                                    tag text DEFAULT NULL, format mediatag.export_format DEFAULT 'csv',
                                                    concept text DEFAULT NULL)
RETURNS text
LANGUAGE plpython3u STABLE AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_segments
return sql_segments.export(plpy, dataset, tag_group, tag, format, concept)
$$;

COMMENT ON FUNCTION mediatag.export_segments(text, text, text, mediatag.export_format, text) IS
'A tag''s or a concept''s time segments as one text file, frame-accurate at each video''s rate. Viewers who can read the dataset.
dataset: the dataset''s name (with tag_group and tag)
tag_group: the group''s name
tag: the tag''s name
format: csv, json, srt, vtt, edl, otio or fcpxml (these three through the OpenTimelineIO that make -C sql install puts beside the extension) (default csv)
concept: a concept''s segments instead of a tag''s (default NULL)
Returns: the file''s text (CSV and JSON: path, asset_id, start_ms, end_ms, peak_score, mean_score, keyframes, sources, fps).';

COMMENT ON FUNCTION mediatag.set_segment_options(text, text, real, integer, integer) IS
'Saves how a tag''s scores become time segments, then recomputes its segments. Editors of the group''s training dataset.
tag_group: the group''s name
tag: the tag''s name
exit_threshold: a run of keyframes stays in a segment while its scores are at least this (default NULL: the tag''s threshold - 0.1; never above it)
min_length_ms: segments shorter than this are dropped (default 1000)
max_gap_ms: segments less than this apart are merged (default 2000)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.tag_segments(text, text, text) IS
'A tag''s time segments on a dataset (dt_<group>_segment), with each video''s path and frame rate. Viewers who can read the dataset.
dataset: the dataset''s name
tag_group: the group''s name
tag: the tag''s name
Returns: one row per segment in path and time order: asset_id, path, fps, duration_ms, start_ms, end_ms, peak_score, mean_score, keyframes, sources (visual | transcript | both).';

COMMENT ON FUNCTION mediatag.concept_segments(text, real, integer, integer) IS
'A concept''s time segments over its dataset''s videos, from its scores now. Viewers who can read the concept''s dataset.
concept: the concept''s name
exit_threshold: a run of keyframes stays in a segment while its scores are at least this (default NULL: the concept''s threshold - 0.1)
min_length_ms: segments shorter than this are dropped (default 1000)
max_gap_ms: segments less than this apart are merged (default 2000)
Returns: one row per segment in path and time order: asset_id, path, fps, duration_ms, start_ms, end_ms, peak_score, mean_score, keyframes, sources (visual).';
