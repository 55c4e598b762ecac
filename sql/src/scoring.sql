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
-- Hits: a long-form side table dt_<group>_hits_scores holds only the keyframes whose score reaches the tag's
-- floor (its threshold at scoring time, at most 0.5), one row per (keyframe, tag), indexed on (position, score).
-- Per-tag questions ("keyframes of tag X above threshold", counts per tag) read it through the dt_<group>_hits
-- view instead of scanning every keyframe's score array; it holds every above-threshold keyframe as long as a
-- tag's live threshold is not lowered below its floor (group_application.hits_floors), after which the next
-- scoring brings it up to date (group_overview then falls back to the full table).

ALTER TABLE mediatag.group_application ADD COLUMN IF NOT EXISTS hits_floors real[];

CREATE OR REPLACE FUNCTION mediatag._score_table(g mediatag.tag_group, level text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'dt_' || g.slug || '_' || level || '_scores' $$;

-- Every level of a group's scores, each a table partitioned by dataset (segments: segments.sql): what the full job
-- swaps in, and what unapplying a group or dropping it removes.
CREATE OR REPLACE FUNCTION mediatag._score_levels() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['visual', 'shot', 'video', 'transcript', 'hits', 'segment'] $$;

-- What a group's score views share after their column lists: each row's tag, classifier and live threshold by its
-- version and position, and the filter to the caller's readable datasets (the views run as their owner, so this
-- filter is their access control). `also`: a further condition. `curated`: also the dataset (d), the group (g) and
-- its application to the dataset (a), whose names and scoring time the mediatag_bi views show.
CREATE OR REPLACE FUNCTION mediatag._score_view_from(score_table text, group_id bigint, also text DEFAULT NULL,
                                                     curated boolean DEFAULT false)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format($f$FROM mediatag_data.%I s
        JOIN mediatag.group_version_tag vt ON vt.group_id = %s AND vt.version = s.version
        JOIN mediatag.tag t ON t.id = vt.tag_id
        LEFT JOIN mediatag.tag_dataset_threshold dt ON dt.tag_id = t.id AND dt.dataset_id = s.dataset_id
        LEFT JOIN mediatag.tag_shot_threshold st ON st.tag_id = t.id AND st.dataset_id = s.dataset_id%s
        WHERE %s s.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[])$f$,
        score_table, group_id,
        CASE WHEN curated THEN format($j$
        JOIN mediatag.dataset d ON d.id = s.dataset_id
        JOIN mediatag.tag_group g ON g.id = %s
        LEFT JOIN mediatag.group_application a ON a.group_id = g.id AND a.dataset_id = s.dataset_id$j$, group_id)
        ELSE '' END,
        coalesce(also || ' AND', ''))
$$;

CREATE OR REPLACE FUNCTION mediatag._ensure_score_tables(g mediatag.tag_group) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE base text := 'dt_' || g.slug; lvl record;
BEGIN
    -- Each table only when missing, not CREATE ... IF NOT EXISTS: inside an extension upgrade (which regenerates
    -- the views through here) that statement refuses tables that are not extension members, and these must not be.
    IF to_regclass(format('mediatag_data.%I', base || '_visual_scores')) IS NULL THEN
        EXECUTE format('CREATE TABLE mediatag_data.%I (dataset_id bigint, keyframe_id bigint,
        asset_id bigint, video_id bigint, shot_id bigint, keyframe_index int, keyframe_time_ms int,
        version int, scores real[]) PARTITION BY LIST (dataset_id)', base || '_visual_scores');
    END IF;
    IF to_regclass(format('mediatag_data.%I', base || '_shot_scores')) IS NULL THEN
        EXECUTE format('CREATE TABLE mediatag_data.%I (dataset_id bigint, shot_id bigint,
        asset_id bigint, video_id bigint, shot_index int, start_ms int, end_ms int, keyframes int,
        version int, scores real[], hits int[]) PARTITION BY LIST (dataset_id)', base || '_shot_scores');
    END IF;
    IF to_regclass(format('mediatag_data.%I', base || '_video_scores')) IS NULL THEN
        EXECUTE format('CREATE TABLE mediatag_data.%I (dataset_id bigint, asset_id bigint,
        video_id bigint, keyframes int, shots int, version int, scores real[], hits int[])
        PARTITION BY LIST (dataset_id)', base || '_video_scores');
    END IF;
    IF to_regclass(format('mediatag_data.%I', base || '_hits_scores')) IS NULL THEN
        EXECUTE format('CREATE TABLE mediatag_data.%I (dataset_id bigint, keyframe_id bigint,
        asset_id bigint, video_id bigint, keyframe_time_ms int, position int, score real, version int)
        PARTITION BY LIST (dataset_id)', base || '_hits_scores');
    END IF;
    IF to_regclass(format('mediatag_data.%I', base || '_transcript_scores')) IS NULL THEN
        EXECUTE format('CREATE TABLE mediatag_data.%I (dataset_id bigint, segment_id bigint,
        asset_id bigint, video_id bigint, start_ms int, end_ms int, text text,
        version int, scores real[]) PARTITION BY LIST (dataset_id)', base || '_transcript_scores');
    END IF;
    -- Each level's view in mediatag_data and its curated twin in mediatag_bi (README "Connect a BI tool"): the same
    -- columns after the dataset's and the group's names, then when the scores were computed and, where a row is a
    -- keyframe, the UI's image of it. The hits view joins its long-form table on the tag's position.
    FOR lvl IN SELECT * FROM (VALUES
        ('visual', $c$s.dataset_id, s.keyframe_id, s.asset_id, s.video_id, s.shot_id, s.keyframe_index, s.keyframe_time_ms,
               vt.tag_name AS tag, s.scores[vt.position] AS score, coalesce(dt.threshold, t.threshold) AS threshold,
               s.scores[vt.position] >= coalesce(dt.threshold, t.threshold) AS threshold_decision, s.version$c$,
         NULL, 's.keyframe_id'),
        ('shot', $c$s.dataset_id, s.shot_id, s.asset_id, s.video_id, s.shot_index, s.start_ms, s.end_ms, s.keyframes,
               s.start_ms AS keyframe_time_ms, vt.tag_name AS tag, s.scores[vt.position] AS score,
               coalesce(st.threshold, dt.threshold, t.threshold) AS threshold,
               s.scores[vt.position] >= coalesce(st.threshold, dt.threshold, t.threshold) AS threshold_decision, s.version$c$,
         NULL, NULL),
        ('video', $c$s.dataset_id, s.asset_id, s.video_id, s.keyframes, vt.tag_name AS tag, s.scores[vt.position] AS score,
               s.shots, s.hits[vt.position] AS shots_above_threshold, coalesce(dt.threshold, t.threshold) AS threshold,
               s.scores[vt.position] >= coalesce(dt.threshold, t.threshold) AS threshold_decision, s.version$c$,
         NULL, NULL),
        ('transcript', $c$s.dataset_id, s.segment_id, s.asset_id, s.video_id, s.start_ms, s.end_ms, s.start_ms AS keyframe_time_ms,
               s.text, vt.tag_name AS tag, s.scores[vt.position] AS score, coalesce(dt.threshold, t.threshold) AS threshold,
               s.scores[vt.position] >= coalesce(dt.threshold, t.threshold) AS threshold_decision, s.version$c$,
         's.scores[vt.position] IS NOT NULL', NULL),
        ('hits', $c$s.dataset_id, s.keyframe_id, s.asset_id, s.video_id, s.keyframe_time_ms, vt.tag_name AS tag,
               s.score, coalesce(dt.threshold, t.threshold) AS threshold, true AS threshold_decision, s.version$c$,
         'vt.position = s.position AND s.score >= coalesce(dt.threshold, t.threshold)', 's.keyframe_id')
    ) x(level, cols, also, keyframe) LOOP
        PERFORM mediatag._replace_view(base || '_' || lvl.level, format('SELECT %s %s', lvl.cols,
            mediatag._score_view_from(mediatag._score_table(g, lvl.level), g.id, lvl.also)));
        PERFORM mediatag._replace_view(base || '_' || lvl.level, format('SELECT d.name AS dataset, g.name AS tag_group, %s, a.scored_at%s %s',
            lvl.cols, coalesce(', ' || mediatag._keyframe_url_sql(lvl.keyframe) || ' AS keyframe_url', ''),
            mediatag._score_view_from(mediatag._score_table(g, lvl.level), g.id, lvl.also,
                                      curated => true)), 'mediatag_bi');
        PERFORM mediatag._comment_bi_view(base || '_' || lvl.level, lvl.level);
        -- The views only (they filter by the caller's datasets); the wide tables behind them stay the owner's.
        EXECUTE format('GRANT SELECT ON mediatag_data.%1$I, mediatag_bi.%1$I TO mediatag_viewer, mediatag_query',
                       base || '_' || lvl.level);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION mediatag._drop_score_partitions(g mediatag.tag_group, dataset_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
    -- Segments too: the upgrade made every group's segment table partitioned (segments.sql, upgrade/postlude.sql).
    FOREACH s IN ARRAY mediatag._score_levels() LOOP
        EXECUTE format('DROP TABLE IF EXISTS mediatag_data.%I', mediatag._score_table(g, s) || '_ds' || dataset_id);
    END LOOP;
END $$;

-- Build one level's new partition beside the live one (no lock on the live one is taken here).
CREATE OR REPLACE FUNCTION mediatag._build_partition(parent text, dataset_id bigint, select_sql text, index_cols text[]) RETURNS bigint
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

-- A BRIN index on asset_id of a new keyframe or shot score partition, for one video's rows (asset_score_timeline):
-- the partition is written in keyframe order, so a video's rows lie in a few block ranges. At 1M keyframes (loaded
-- machine) it took the timeline from 903 to 256 ms p50 (a b-tree: 364 ms, 1.74 s, 7.7 MiB) for a 0.94 s build,
-- 1.5 % of the score-table steps, and a few KB (bench/bench_scale.py). autosummarize: ranges that incremental
-- scoring appends are summarized by autovacuum (until then they are read on every call, still correct).
CREATE OR REPLACE FUNCTION mediatag._index_asset_ranges(partition text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE INDEX ON mediatag_data.%I USING brin (asset_id) WITH (autosummarize = on)', partition);
END $$;

-- Swap the built partition in for the live one: catalog-only statements, so the exclusive lock readers wait
-- behind lasts milliseconds. Runs in the caller's transaction.
CREATE OR REPLACE FUNCTION mediatag._swap_partition(parent text, dataset_id bigint) RETURNS void
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

-- The SQL expression of one keyframe's score (0..1) under a tag classifier, given the SQL of the keyframe's embedding
-- and of its id. Linear classifiers: sigmoid(x·w + b). Person tags ('face' classifiers, person_tags.sql): the best
-- face of the keyframe against the classifier's face exemplars (0 without faces). NULL::real: not scored.
CREATE OR REPLACE FUNCTION mediatag._classifier_score_sql(c mediatag.classifier, embedding text DEFAULT 'k.embedding',
                                                          keyframe_id text DEFAULT 'k.id') RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF c.modality = 'face' THEN
        RETURN mediatag._face_score_sql(mediatag._tag_face_exemplars(c),
                                        coalesce((c.summary ->> 'max_distance')::real, 0.6), keyframe_id);
    ELSIF c.weights IS NULL THEN
        RETURN 'NULL::real';
    END IF;
    RETURN format('mediatag.sigmoid(%s - (%s <#> %L::halfvec))', c.bias, embedding, c.weights::text);
END $$;

-- The SQL expressions of one version's scoring, all tags in one array: keyframe scores (vis), transcript scores
-- (tx), the shot/video aggregates over score rows (max, sum of hits) and the per-row hit flags at the tags'
-- thresholds now. Shared by the full job and the incremental one, so both score alike.
CREATE OR REPLACE FUNCTION mediatag._score_exprs(group_id bigint, version int,
    OUT n_tags int, OUT vis_expr text, OUT tx_expr text, OUT max_expr text, OUT sum_expr text, OUT hit_expr_row text,
    OUT floors real[])
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int,
           'ARRAY[' || string_agg(CASE WHEN vc.id IS NULL THEN 'NULL::real' ELSE mediatag._classifier_score_sql(vc) END,
               ', ' ORDER BY vt.position) || ']::real[]',
           'ARRAY[' || string_agg(CASE WHEN tc.weights IS NULL THEN 'NULL::real'
               ELSE format('mediatag.sigmoid(%s - (s.embedding <#> %L::halfvec))', tc.bias, tc.weights::text) END,
               ', ' ORDER BY vt.position) || ']::real[]',
           'ARRAY[' || string_agg(format('max(v.scores[%s])', vt.position), ', ' ORDER BY vt.position) || ']::real[]',
           'ARRAY[' || string_agg(format('sum(v.hits[%s])', vt.position), ', ' ORDER BY vt.position) || ']::int[]',
           'ARRAY[' || string_agg(format('coalesce((scores[%s] >= %s::real)::int, 0)', vt.position, t.threshold), ', '
                                  ORDER BY vt.position) || ']::int[]',
           array_agg(least(t.threshold, 0.5)::real ORDER BY vt.position)
    FROM mediatag.group_version_tag vt
    JOIN mediatag.tag t ON t.id = vt.tag_id
    LEFT JOIN mediatag.classifier vc ON vc.id = vt.visual_classifier_id
    LEFT JOIN mediatag.classifier tc ON tc.id = vt.transcript_classifier_id
    WHERE vt.group_id = _score_exprs.group_id AND vt.version = _score_exprs.version
$$;

-- One row per tag of each row of `rows_sql` (which has a scores real[] and no score or position column) whose score
-- reaches that tag's floor: the row's columns, `position` (the tag's place) and `score`. `floors`: by position (NULL
-- leaves a tag out). A prefilter first drops the rows that reach no floor (measured at 1M: cheaper than unnesting
-- them); the rest are unnested once each, not subscripted once per tag, and each score compared with its own tag's
-- floor. The prefilter: with a floor for every tag, `lowest floor <= ANY (scores)`, one call over the array, 6x
-- cheaper than a subscript and comparison per tag (an OR of 20 of those was 800 ms of a 3.3-s hits step at 1M);
-- where the floors differ, the per-tag OR after it, on the rows it lets through. With some tags left out (one tag's
-- segments after a saved threshold) the per-tag OR alone: the lowest floor of the others would let most rows
-- through (measured: a one-tag refresh at 1M 2.4 s with it alone, 4.7 s behind ANY). `parallel`: rows_sql is a plain
-- scan that parallel workers run, so the unnest and its filter go in FROM, where they run in the workers too (in the
-- select list the filter lands above the Gather and every unnested row crosses to the leader: 2-3x slower at 1M);
-- false: rows_sql comes out of a serial plan (window functions), where the select-list unnest is the cheaper one.
CREATE OR REPLACE FUNCTION mediatag._scores_reaching(rows_sql text, floors real[], parallel boolean DEFAULT true)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(CASE WHEN parallel THEN
                      'SELECT r_.*, u_.score, u_.position::int AS position
                       FROM (%1$s) r_ CROSS JOIN LATERAL unnest(r_.scores) WITH ORDINALITY AS u_(score, position)
                       WHERE (%2$s) AND u_.score >= (%3$L::real[])[u_.position]'
                  ELSE
                      'SELECT * FROM (SELECT r_.*, unnest(r_.scores) AS score, generate_series(1, cardinality(r_.scores)) AS position
                                      FROM (%1$s) r_ WHERE %2$s) u_
                       WHERE u_.score >= (%3$L::real[])[u_.position]' END,
                  rows_sql,
                  CASE WHEN f.n_set = 0 THEN 'false'
                       WHEN f.n_set < f.n_all THEN f.per_tag
                       WHEN f.lowest = f.highest THEN format('%s::real <= ANY (r_.scores)', f.lowest)
                       ELSE format('%s::real <= ANY (r_.scores) AND (%s)', f.lowest, f.per_tag) END,
                  floors)
    FROM (SELECT count(x.floor) AS n_set, count(*) AS n_all, min(x.floor) AS lowest, max(x.floor) AS highest,
                 string_agg(format('r_.scores[%s] >= %s::real', x.i, x.floor), ' OR ') FILTER (WHERE x.floor IS NOT NULL)
                     AS per_tag
          FROM unnest(floors) WITH ORDINALITY AS x(floor, i)) f
$$;

-- The row lock both scoring jobs (full and incremental) take on a group's application to a dataset, so the two
-- never interleave. NOWAIT under mediatag.job_lock_timeout: a transaction holding this row (a publish or apply left
-- open) must not stall the worker for every other job; run_jobs requeues the job with backoff on
-- lock_not_available. The lock_timeout is transaction-local, so it also bounds the job's later locks (the swap).
-- No such row: a row of NULLs (callers test a.group_id IS NULL).
CREATE OR REPLACE FUNCTION mediatag._lock_group_application(group_id bigint, dataset_id bigint)
RETURNS mediatag.group_application
LANGUAGE plpgsql AS $$
DECLARE a mediatag.group_application;
BEGIN
    PERFORM set_config('lock_timeout', (extract(epoch FROM mediatag._setting_interval('mediatag.job_lock_timeout', '10 seconds')) * 1000)::bigint || 'ms', true);
    SELECT * INTO a FROM mediatag.group_application x
    WHERE x.group_id = _lock_group_application.group_id AND x.dataset_id = _lock_group_application.dataset_id
    FOR UPDATE NOWAIT;
    RETURN a;
END $$;

CREATE OR REPLACE FUNCTION mediatag._score_group_job(group_id bigint, dataset_id bigint, version int, job_id bigint DEFAULT NULL)
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
    floors real[];
    points_floors real[];
    points_new text;   -- the job's own table of hits and segment points, dropped at its end
    exits real[];
    n_hits bigint;
    n_tags int;
    n_kf bigint;
    n_shot bigint;
    n_video bigint;
    n_tx bigint;
    n_seg bigint;
    started timestamptz := clock_timestamp();
    delay text := current_setting('mediatag.fault_delay_before_swap', true);
    hashagg text := current_setting('enable_hashagg');
    steps jsonb := '{}';
    mark timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = _score_group_job.group_id;
    a := mediatag._lock_group_application(_score_group_job.group_id, _score_group_job.dataset_id);
    IF g.id IS NULL OR a.group_id IS NULL OR a.applied_version IS NULL THEN
        RETURN jsonb_build_object('skipped', 'the group is no longer applied to this dataset');
    END IF;
    v := a.applied_version;   -- whatever is applied now; a later apply re-queues anyway
    -- Only when missing: CREATE OR REPLACE VIEW would lock the views readers use for the whole job.
    IF to_regclass(format('mediatag_data.%I', 'dt_' || g.slug || '_hits')) IS NULL THEN
        PERFORM mediatag._ensure_score_tables(g);
    END IF;
    IF mediatag._segment_table_kind(g) IS DISTINCT FROM 'p' THEN
        PERFORM mediatag._ensure_segment_table(g);   -- segments.sql
    END IF;

    SELECT * INTO n_tags, vis_expr, tx_expr, max_expr, sum_expr, hit_expr_row, floors FROM mediatag._score_exprs(g.id, v);

    -- The swap needs a brief exclusive lock on the score tables; a reader (or a publish) holding a transaction
    -- open for longer than mediatag.job_lock_timeout makes the job wait its turn: run_jobs requeues it with
    -- backoff rather than the worker, and every reader queued behind its lock request, waiting.
    SET LOCAL client_min_messages = warning;   -- no "does not exist, skipping" chatter from the rebuild
    -- Parallel scans are ~1.7x faster for this and Postgres will not choose them at default costs.
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;
    -- The shot aggregate and the segments' sorts and hashes over a million rows fit in memory instead of spilling.
    SET LOCAL work_mem = '256MB';
    -- JIT compiles the 20 score expressions for longer than it saves on them (measured at 1M: ~7 % of the keyframe step).
    SET LOCAL jit = off;

    n_kf := mediatag._build_partition(mediatag._score_table(g, 'visual'), a.dataset_id, format(
        'SELECT k.dataset_id, k.id AS keyframe_id, k.asset_id, CASE WHEN a.kind = %L THEN a.id END AS video_id, k.shot_id,
                k.keyframe_index, k.time_ms AS keyframe_time_ms, %s AS version, %s AS scores
         FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id WHERE k.dataset_id = %s',
        'video', v, vis_expr, a.dataset_id), ARRAY[]::text[]);  -- no b-tree: readers scan or hash-join it
    PERFORM mediatag._index_asset_ranges(mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id || '_new');

    steps := steps || jsonb_build_object('visual', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
    mark := clock_timestamp();
    -- Hits and the segments' points from one parallel unnest of the new keyframe scores: every (keyframe, tag) score
    -- reaching the lower of the tag's hits floor and its segment exit threshold, with the keyframe's span and place
    -- (segments.sql), in a table of the job's own; the hits partition is the part reaching the floors, and the
    -- segment refresh after the swap reads the rest instead of unnesting every score array again.
    exits := (mediatag._segment_param_arrays(g.id, v, a.dataset_id)).exit_at;
    points_floors := ARRAY(SELECT least(floors[i], exits[i]) FROM generate_subscripts(floors, 1) i ORDER BY i);
    points_new := mediatag._score_table(g, 'points') || '_ds' || a.dataset_id || '_new';
    PERFORM mediatag._build_partition(mediatag._score_table(g, 'points'), a.dataset_id, format(
        'SELECT v.dataset_id, v.keyframe_id, v.asset_id, v.video_id, v.shot_id, v.keyframe_time_ms, v.position, v.score,
                v.version, ks.span_start_ms, ks.span_end_ms, ks.ord
         FROM (%s) v LEFT JOIN mediatag.keyframe_span ks ON ks.keyframe_id = v.keyframe_id',
        mediatag._scores_reaching(format(
            'SELECT v.dataset_id, v.keyframe_id, v.asset_id, v.video_id, v.shot_id, v.keyframe_time_ms, v.version, v.scores
             FROM mediatag_data.%I v', mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id || '_new'),
            points_floors)), ARRAY[]::text[]);
    n_hits := mediatag._build_partition(mediatag._score_table(g, 'hits'), a.dataset_id, format(
        'SELECT v.dataset_id, v.keyframe_id, v.asset_id, v.video_id, v.keyframe_time_ms, v.position, v.score, v.version
         FROM mediatag_data.%I v WHERE v.score >= (%L::real[])[v.position]', points_new, floors), ARRAY[]::text[]);
    EXECUTE format('CREATE INDEX ON mediatag_data.%I (position, score DESC)',
                   mediatag._score_table(g, 'hits') || '_ds' || a.dataset_id || '_new');
    steps := steps || jsonb_build_object('hits', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
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
    PERFORM mediatag._index_asset_ranges(mediatag._score_table(g, 'shot') || '_ds' || a.dataset_id || '_new');
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
    -- Segments from the points and the new transcript scores, in a partition of their own swapped in with the scores.
    -- Sorted aggregates, not hashed (_segment_query), for this step only.
    PERFORM set_config('enable_hashagg', 'off', true);
    n_seg := mediatag._build_partition(mediatag._score_table(g, 'segment'), a.dataset_id, mediatag._segments_sql(
        g, a.dataset_id, v, mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id || '_new',
        mediatag._score_table(g, 'transcript') || '_ds' || a.dataset_id || '_new',
        points => points_new, points_floors => points_floors), ARRAY['asset_id']);   -- segments.sql
    PERFORM set_config('enable_hashagg', hashagg, true);
    EXECUTE format('DROP TABLE mediatag_data.%I', points_new);
    steps := steps || jsonb_build_object('segments', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));
    mark := clock_timestamp();
    -- Fault injection for the crash-safety test: a pause between building and swapping, where a real job spends
    -- its time; a worker killed here must leave the live tables as they were.
    IF coalesce(delay, '') <> '' THEN PERFORM pg_sleep(delay::double precision); END IF;
    PERFORM mediatag._swap_partition(mediatag._score_table(g, lvl), a.dataset_id)
    FROM unnest(mediatag._score_levels()) AS lvl;
    steps := steps || jsonb_build_object('swap', round(extract(epoch FROM clock_timestamp() - mark)::numeric, 3));

    UPDATE mediatag.group_application x SET status = 'scored', error = NULL, scored_version = v, scored_at = now(),
           score_seconds = extract(epoch FROM clock_timestamp() - started), hits_floors = floors
    WHERE x.group_id = a.group_id AND x.dataset_id = a.dataset_id;
    RETURN jsonb_build_object('group', g.name, 'dataset_id', a.dataset_id, 'version', v, 'tags', n_tags,
                              'keyframes', n_kf, 'shots', n_shot, 'assets', n_video, 'transcript_segments', n_tx,
                              'hits', n_hits, 'segments', n_seg,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3),
                              'step_seconds', steps);
END $$;

-- Score now, in this session (what the worker does for queued jobs), e.g. from psql or tests.
CREATE OR REPLACE FUNCTION mediatag.score_tag_group(tag_group text, dataset text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); d bigint; res jsonb;
BEGIN
    d := CASE WHEN dataset IS NULL THEN g.training_dataset_id ELSE mediatag.dataset_id(dataset) END;
    PERFORM mediatag._require_write(d, 'scoring a tag group');
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

-- Incremental scoring: new assets of a dataset appended to the live version's partitions (keyframes, shots,
-- videos/images, transcript segments) in one transaction, with the classifiers of the version those partitions
-- hold. Cost follows the new assets, not the library. Idempotent: an asset that already has its video row (a
-- full job that ran after it was committed, or an earlier attempt) is skipped, and its transcript rows are
-- replaced rather than duplicated. A group whose partitions do not exist yet is left to its full job.
CREATE OR REPLACE FUNCTION mediatag._score_assets_job(group_id bigint, dataset_id bigint, asset_ids bigint[])
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group;
    a mediatag.group_application;
    e record;
    part_kf text; part_shot text; part_video text; part_tx text; part_hits text;
    n_hits bigint := 0;
    hits_cte text := '';
    todo bigint[];
    n_kf bigint := 0; n_shot bigint := 0; n_video bigint := 0; n_tx bigint := 0;
    kf_rows tid[];
    started timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = _score_assets_job.group_id;
    -- The same row lock as the full job: the two never interleave, so an append cannot land in a partition a
    -- concurrent full job is about to swap out.
    a := mediatag._lock_group_application(_score_assets_job.group_id, _score_assets_job.dataset_id);
    IF g.id IS NULL OR a.group_id IS NULL OR a.scored_version IS NULL THEN
        RETURN jsonb_build_object('skipped', 'not scored yet on this dataset: the full scoring job covers these assets');
    END IF;
    part_kf := mediatag._score_table(g, 'visual') || '_ds' || a.dataset_id;
    part_shot := mediatag._score_table(g, 'shot') || '_ds' || a.dataset_id;
    part_video := mediatag._score_table(g, 'video') || '_ds' || a.dataset_id;
    part_tx := mediatag._score_table(g, 'transcript') || '_ds' || a.dataset_id;
    part_hits := mediatag._score_table(g, 'hits') || '_ds' || a.dataset_id;
    IF to_regclass(format('mediatag_data.%I', part_video)) IS NULL THEN
        RETURN jsonb_build_object('skipped', 'no live score partitions: the full scoring job covers these assets');
    END IF;
    EXECUTE format('SELECT ARRAY(SELECT x.id FROM mediatag.asset x WHERE x.id = ANY ($1) AND x.dataset_id = $2
                                 AND x.status = %L AND NOT EXISTS (SELECT 1 FROM mediatag_data.%I v WHERE v.asset_id = x.id)
                                 ORDER BY x.id)', 'ingested', part_video)
        INTO todo USING asset_ids, a.dataset_id;
    IF cardinality(todo) = 0 THEN
        RETURN jsonb_build_object('group', g.name, 'dataset_id', a.dataset_id, 'version', a.scored_version, 'assets', 0,
                                  'skipped', 'already scored');
    END IF;
    SELECT * INTO e FROM mediatag._score_exprs(g.id, a.scored_version);
    -- Hits with the floors the live partition was built with (none for partitions built before hits existed).
    IF to_regclass(format('mediatag_data.%I', part_hits)) IS NOT NULL AND a.hits_floors IS NOT NULL THEN
        hits_cte := format($h$, hi AS (
            INSERT INTO mediatag_data.%I (dataset_id, keyframe_id, asset_id, video_id, keyframe_time_ms, position, score, version)
            SELECT v.dataset_id, v.keyframe_id, v.asset_id, v.video_id, v.keyframe_time_ms, v.position, v.score, v.version
            FROM (%s) v
            RETURNING 1)$h$, part_hits,
            mediatag._scores_reaching('SELECT dataset_id, keyframe_id, asset_id, video_id, keyframe_time_ms, version, scores
                                       FROM kf', a.hits_floors));
    END IF;

    -- One statement: keyframe rows in, and the shot and video rows aggregated from what was just inserted.
    EXECUTE format($q$
        WITH kf AS (
            INSERT INTO mediatag_data.%1$I (dataset_id, keyframe_id, asset_id, video_id, shot_id, keyframe_index,
                                            keyframe_time_ms, version, scores)
            SELECT k.dataset_id, k.id, k.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, k.shot_id, k.keyframe_index,
                   k.time_ms, %4$s, %5$s
            FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id
            WHERE k.asset_id = ANY ($1)
            RETURNING ctid, dataset_id, keyframe_id, asset_id, video_id, shot_id, keyframe_time_ms, version, scores),
        sh AS (
            INSERT INTO mediatag_data.%2$I (dataset_id, shot_id, asset_id, video_id, shot_index, start_ms, end_ms,
                                            keyframes, version, scores, hits)
            SELECT $2, agg.shot_id, sh.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, sh.shot_index, sh.start_ms,
                   sh.end_ms, agg.keyframes, %4$s, agg.scores, %8$s
            FROM (SELECT v.shot_id, count(*)::int AS keyframes, %6$s AS scores FROM kf v
                  WHERE v.shot_id IS NOT NULL GROUP BY v.shot_id) agg
            JOIN mediatag.shot sh ON sh.id = agg.shot_id JOIN mediatag.asset a ON a.id = sh.asset_id
            RETURNING dataset_id, asset_id, video_id, keyframes, scores, hits),
        vid AS (
            INSERT INTO mediatag_data.%3$I (dataset_id, asset_id, video_id, keyframes, shots, version, scores, hits)
            SELECT v.dataset_id, v.asset_id, v.video_id, sum(v.keyframes)::int, count(*)::int, %4$s, %6$s, %7$s
            FROM (SELECT dataset_id, asset_id, video_id, keyframes, scores, hits FROM sh
                  UNION ALL
                  SELECT dataset_id, asset_id, video_id, 1, scores, %8$s FROM kf WHERE shot_id IS NULL) v
            GROUP BY v.dataset_id, v.asset_id, v.video_id
            RETURNING 1)
        %9$s
        SELECT (SELECT count(*) FROM kf), (SELECT count(*) FROM sh), (SELECT count(*) FROM vid), %10$s,
               ARRAY(SELECT ctid FROM kf)$q$,
        part_kf, part_shot, part_video, a.scored_version, e.vis_expr, e.max_expr, e.sum_expr, e.hit_expr_row,
        hits_cte, CASE WHEN hits_cte = '' THEN '0' ELSE '(SELECT count(*) FROM hi)' END)
        INTO n_kf, n_shot, n_video, n_hits, kf_rows USING todo, a.dataset_id;

    EXECUTE format('DELETE FROM mediatag_data.%I WHERE asset_id = ANY ($1)', part_tx) USING todo;
    EXECUTE format($q$
        INSERT INTO mediatag_data.%I (dataset_id, segment_id, asset_id, video_id, start_ms, end_ms, text, version, scores)
        SELECT s.dataset_id, s.id, s.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, s.start_ms, s.end_ms, s.text,
               %s, %s
        FROM mediatag.transcript_segment s JOIN mediatag.asset a ON a.id = s.asset_id WHERE s.asset_id = ANY ($1)$q$,
        part_tx, a.scored_version, e.tx_expr) USING todo;
    GET DIAGNOSTICS n_tx = ROW_COUNT;
    PERFORM mediatag._refresh_segments(a.group_id, a.dataset_id, todo, NULL, kf_rows);   -- segments.sql

    -- Scored again unless a newer version is applied and its full job is still to come.
    UPDATE mediatag.group_application x
       SET status = CASE WHEN x.applied_version IS NOT DISTINCT FROM x.scored_version
                          AND NOT EXISTS (SELECT 1 FROM mediatag.job j WHERE j.kind = 'score_group'
                                          AND j.state IN ('queued', 'running')
                                          AND (j.payload ->> 'group_id')::bigint = x.group_id
                                          AND (j.payload ->> 'dataset_id')::bigint = x.dataset_id)
                         THEN 'scored' ELSE x.status END,
           error = NULL
    WHERE x.group_id = a.group_id AND x.dataset_id = a.dataset_id;
    RETURN jsonb_build_object('group', g.name, 'dataset_id', a.dataset_id, 'version', a.scored_version,
                              'assets', cardinality(todo), 'keyframes', n_kf, 'shots', n_shot, 'videos', n_video,
                              'hits', n_hits,
                              'transcript_segments', n_tx,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 4));
END $$;
