-- Search: text-to-image and image-to-image over a dataset's keyframes, and transcript search (semantic and
-- keyword), with filters (concepts, tags, metadata) and per-video grouping.
--
-- How a keyframe search runs:
--   1. The query vector: the text embedded with the dataset's visual model (service), a keyframe's embedding
--      ("more like this") or a vector the caller embedded (e.g. an uploaded file, through the SDK).
--   2. Candidates from the dataset's partial HNSW index (mediatag.build_indexes): the statement names the literal
--      dataset id and dimension, which is what lets the planner match `WHERE dataset_id = N` and
--      `embedding::halfvec(dim)`. hnsw.ef_search comes from the recall target (mediatag._search_ef);
--      hnsw.iterative_scan = relaxed_order lets filtered scans keep walking the graph until enough rows pass.
--   3. Exact re-ranking: the candidates (more than asked for) are sorted again by their exact inner product, which
--      both repairs relaxed_order's slightly shuffled output and lifts recall@k: the true top k are more often
--      among the top 3k of an approximate search than among its top k.
--   4. A filter that leaves too few rows for the graph walk (a rare concept, a single series) falls back to an
--      exact scan of the filtered rows, so a filtered search never returns fewer rows than exist.
--   5. Unfiltered: probes from the dataset's random sample. An image query's walk is checked against them (a probe
--      scoring above the last candidate without being one proves the walk incomplete, and it runs again at the
--      widest beam: recall@100 0.976 -> 0.995 at 1M for ~1 ms); a text query, which lies away from the images,
--      also walks toward its best probes, whose regions hold its top results (recall@100 0.35 -> 0.59 at 1M).
-- Filters are predicates on the keyframe row: a concept or tag filter is its classifier's score,
-- sigmoid(x·w + b) >= threshold (the same definition as concept_scores and the dt_* tables), so filtering costs one
-- more inner product per candidate and needs no score table.

-- Results per call: k between 1 and this, offset below MAX_OFFSET (deeper pages belong to an export, not a search).
CREATE OR REPLACE FUNCTION mediatag._search_max_k() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1000 $$;
CREATE OR REPLACE FUNCTION mediatag._search_max_offset() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 10000 $$;

-- Text queries' walks (see search). How many of the best-scoring probes seed extra walks, by the search's recall
-- target: the seeds' yield falls fast (new top-100 hits from the 1st to the 8th seed at 1M: 16, 6, 6, 2, 3, 3, 2, 1).
-- Each probe walk's ef_search and rows, and the first walk's: with the probe walks to follow, the first walk (on the
-- query itself, off the data) returns 1.5x the rows wanted, at that beam. A walk's cost follows the rows it returns
-- more than its beam (at 1M an ef_search 200 walk asked for 300 rows costs what an ef_search 400 one does).
-- 100 text queries at 1M, interleaved runs, search only (embedding excluded), recall@100 / p50:
--   first walk 300 rows at ef_search 400 + 3 probe walks of 60 rows (before):  0.594 / 44-47 ms
--   first walk 200 rows at ef_search 200 + 3 probe walks of 100 rows:          0.607 / 43-47 ms
--   first walk 150 rows at ef_search 150 + 3 probe walks of 100 rows (now):    0.595 / 43 ms (-4 ms)
--   first walk 200 rows + 3 probe walks of 80 rows:                            0.581 / 41 ms
--   first walk 200 rows + 2 probe walks of 100 rows:                           0.542 / 36 ms
CREATE OR REPLACE FUNCTION mediatag._search_seeds(recall real) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN round(recall::numeric, 4) <= 0.90 THEN 2 WHEN round(recall::numeric, 4) <= 0.97 THEN 3 ELSE 5 END $$;
CREATE OR REPLACE FUNCTION mediatag._search_seed_ef() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 100 $$;
CREATE OR REPLACE FUNCTION mediatag._search_text_ef(wanted int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT least(greatest(ceil(1.5 * wanted)::int, 64), 1000) $$;

-- The probes of a dataset's graph walks: 1,000 rows of its random sample (keyframe_sample), read through its
-- primary key (~3 ms at 1M; a cluster of 0.4 % of the keyframes holds ~4 of them), scored against q. They lean
-- toward early ingests, which only makes them weaker in regions ingested later, never wrong.
-- With a filter index, the probes among those 1,000 that belong to it, found by one key look-up per probe (an id
-- array: ~3.5 ms). Written as EXISTS, the planner hashed the whole filter index instead (100,000 rows: 84 ms).
CREATE OR REPLACE FUNCTION mediatag._search_probes(dataset_id bigint, q halfvec, filter_index bigint DEFAULT NULL)
RETURNS TABLE (keyframe_id bigint, embedding halfvec, score real)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF filter_index IS NULL THEN
        RETURN QUERY
        SELECT s_.keyframe_id, s_.embedding, (-(s_.embedding <#> q))::real FROM mediatag.keyframe_sample s_
        WHERE s_.dataset_id = _search_probes.dataset_id ORDER BY s_.keyframe_id LIMIT 1000;
        RETURN;
    END IF;
    RETURN QUERY
    WITH p AS MATERIALIZED (
        SELECT s_.keyframe_id, s_.embedding FROM mediatag.keyframe_sample s_
        WHERE s_.dataset_id = _search_probes.dataset_id ORDER BY s_.keyframe_id LIMIT 1000)
    SELECT p.keyframe_id, p.embedding, (-(p.embedding <#> q))::real FROM p
    WHERE p.keyframe_id = ANY (ARRAY(SELECT r.keyframe_id FROM mediatag.filter_index_row r
                                     WHERE r.filter_index_id = _search_probes.filter_index
                                       AND r.keyframe_id = ANY (ARRAY(SELECT p2.keyframe_id FROM p p2))));
END $$;

-- hnsw.ef_search for `wanted` results at a recall target. Measured with bench/bench_search.py (structured vectors,
-- top-100 with 3x candidates re-ranked): see docs/concepts-and-search.md for the figures behind these multipliers.
CREATE OR REPLACE FUNCTION mediatag._search_ef(recall real, wanted int) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE m real; r double precision := round(recall::numeric, 4);   -- 0.97::real is 0.97000003
BEGIN
    IF recall IS NULL OR recall <= 0 OR recall > 1 THEN
        RAISE EXCEPTION 'recall must be in (0, 1], got %', recall USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m := CASE WHEN r <= 0.90 THEN 1.5 WHEN r <= 0.95 THEN 2.5 WHEN r <= 0.97 THEN 4 WHEN r <= 0.99 THEN 6
              ELSE 10 END;
    RETURN least(greatest(ceil(m * wanted)::int, 64), 1000);
END $$;

CREATE OR REPLACE FUNCTION mediatag._check_search_window(k int, "offset" int) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF k IS NULL OR k < 1 OR k > mediatag._search_max_k() THEN
        RAISE EXCEPTION 'k must be between 1 and % (got %)', mediatag._search_max_k(), coalesce(k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'page through more results with "offset" => ..., or export a concept''s or tag''s scores';
    END IF;
    IF "offset" IS NULL OR "offset" < 0 OR "offset" > mediatag._search_max_offset() THEN
        RAISE EXCEPTION 'offset must be between 0 and % (got %)', mediatag._search_max_offset(), coalesce("offset"::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION mediatag._check_query_text(query text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE q text := btrim(regexp_replace(coalesce(query, ''), '\s+', ' ', 'g'));
BEGIN
    IF q = '' THEN
        RAISE EXCEPTION 'empty search query: describe what to find, e.g. ''aerial view of a city''' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF length(q) > 1000 THEN
        RAISE EXCEPTION 'search query of % characters: at most 1000 (a description, not a document)', length(q)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF q !~ '[[:alnum:]]' THEN
        RAISE EXCEPTION 'search query % has no letters or digits', quote_literal(q) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN q;
END $$;

CREATE OR REPLACE FUNCTION mediatag._search_filters(d mediatag.dataset, concepts text[], tags text[], metadata jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    preds text := '';
    name text;
    c mediatag.concept;
    cc mediatag.concept_classifier;
    g mediatag.tag_group;
    t mediatag.tag;
    c_tag mediatag.classifier;
    grp text;
    tg text;
BEGIN
    IF metadata IS NOT NULL THEN
        IF jsonb_typeof(metadata) <> 'object' THEN
            RAISE EXCEPTION 'metadata filter must be a JSON object such as {"SeriesName": "..."}, got %', metadata
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF metadata <> '{}' THEN
            -- A subquery on the asset's primary key keeps the keyframe scan the driving (HNSW) side.
            preds := preds || format(' AND (SELECT a2.metadata FROM mediatag.asset a2 WHERE a2.id = k.asset_id) @> %L::jsonb', metadata);
        END IF;
    END IF;
    FOREACH name IN ARRAY coalesce(concepts, '{}') LOOP
        c := mediatag._concept(name);
        IF c.dataset_id <> d.id THEN
            RAISE EXCEPTION 'concept "%" is on dataset "%", not "%": it cannot filter this search', c.name,
                (SELECT x_.name FROM mediatag.dataset x_ WHERE x_.id = c.dataset_id), d.name USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cc := mediatag._concept_classifier(c);
        preds := preds || format(' AND %s >= %s', mediatag._concept_score_sql(cc), c.threshold);
    END LOOP;
    FOREACH name IN ARRAY coalesce(tags, '{}') LOOP
        -- 'group:tag'; tag names have no colon, so the last colon splits (group names may contain one).
        IF name IS NULL OR name !~ ':' THEN
            RAISE EXCEPTION 'tag filter % must be written ''group:tag''', quote_literal(name) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        grp := btrim(substring(name FROM '^(.*):[^:]*$'));
        tg := btrim(substring(name FROM ':([^:]*)$'));
        g := mediatag._group(grp);
        t := mediatag._tag(g, tg);
        -- The version applied to this dataset (what its dt_* tables hold); on the training dataset before any
        -- publish, the draft classifier.
        SELECT cl.* INTO c_tag
        FROM mediatag.group_application a
        JOIN mediatag.group_version_tag vt ON vt.group_id = a.group_id AND vt.version = a.applied_version AND vt.tag_id = t.id
        JOIN mediatag.classifier cl ON cl.id = vt.visual_classifier_id
        WHERE a.group_id = g.id AND a.dataset_id = d.id;
        IF NOT FOUND AND g.training_dataset_id = d.id THEN
            c_tag := mediatag._keyframe_classifier(t.id);   -- a person tag's face classifier (person_tags.sql)
        ELSIF NOT FOUND THEN
            RAISE EXCEPTION 'tag group "%" is not applied to dataset "%": apply it before filtering by its tags', g.name, d.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF c_tag.id IS NULL OR (c_tag.weights IS NULL AND c_tag.modality <> 'face') THEN
            RAISE EXCEPTION 'tag "%" of group "%" has no visual classifier (no positive visual prompt)', t.name, g.name
                USING ERRCODE = 'no_data_found';
        END IF;
        preds := preds || format(' AND %s >= %s', mediatag._classifier_score_sql(c_tag), t.threshold);
    END LOOP;
    RETURN preds;
END $$;

-- The graph walk: the `cand` nearest keyframes of the dataset that pass `preds` through its HNSW index (the
-- session's hnsw.* settings apply), re-scored exactly and sorted by score. With a filter index, the walk is over
-- that index's graph (its keyframes only; `preds` holds what the filter says beyond the index's metadata).
CREATE OR REPLACE FUNCTION mediatag._search_candidates(d mediatag.dataset, q vector, preds text, cand int,
                                                        filter_index bigint DEFAULT NULL,
                                                        OUT ids bigint[], OUT scores real[])
LANGUAGE plpgsql AS $$
DECLARE walk text;
BEGIN
    IF filter_index IS NULL THEN
        walk := format('SELECT k.id, k.embedding FROM mediatag.keyframe k WHERE k.dataset_id = %s %s
                        ORDER BY k.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
                       d.id, preds, d.visual_dim, q::text, d.visual_dim, cand);
    ELSIF preds = '' THEN
        walk := format('SELECT r.keyframe_id AS id, r.embedding FROM mediatag.filter_index_row r WHERE r.filter_index_id = %s
                        ORDER BY r.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
                       filter_index, d.visual_dim, q::text, d.visual_dim, cand);
    ELSE
        walk := format('SELECT k.id, k.embedding FROM mediatag.filter_index_row r JOIN mediatag.keyframe k ON k.id = r.keyframe_id
                        WHERE r.filter_index_id = %s %s ORDER BY r.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s',
                       filter_index, preds, d.visual_dim, q::text, d.visual_dim, cand);
    END IF;
    EXECUTE format(
        'SELECT array_agg(x.id ORDER BY x.score DESC, x.id), array_agg(x.score ORDER BY x.score DESC, x.id) FROM (
           SELECT c.id, (-(c.embedding <#> %L::halfvec))::real AS score FROM (%s) c) x', q::text, walk) INTO ids, scores;
END $$;

-- Walks from seeds (the sample keyframes that scored best against q): one per seed toward the midpoint of q and
-- the seed, each `per_seed` rows scored exactly against q as they are read, merged with the first walk's
-- candidates (their ids and scores, as _search_candidates returned them) and cut to the best `cand`. The
-- session's hnsw.ef_search applies to every walk. One statement, so the walks run as a LATERAL join over the
-- seeds through the same partial index; scoring the rows the walks read (instead of looking the union up again
-- by id) saves ~4 ms at 1M.
CREATE OR REPLACE FUNCTION mediatag._search_seeded(d mediatag.dataset, q vector, first_ids bigint[], first_scores real[],
                                                    seeds halfvec[], cand int, per_seed int,
                                                    filter_index bigint DEFAULT NULL,
                                                    OUT ids bigint[], OUT scores real[])
LANGUAGE plpgsql AS $$
DECLARE src text := CASE WHEN filter_index IS NULL THEN format('mediatag.keyframe k2 WHERE k2.dataset_id = %s', d.id)
                         ELSE format('(SELECT r2.keyframe_id AS id, r2.embedding FROM mediatag.filter_index_row r2
                                      WHERE r2.filter_index_id = %s) k2', filter_index) END;
BEGIN
    EXECUTE format(
        'SELECT array_agg(x.id ORDER BY x.score DESC, x.id), array_agg(x.score ORDER BY x.score DESC, x.id) FROM (
           SELECT u.id, max(u.score) AS score FROM (
             SELECT f.id, f.score FROM unnest(%L::bigint[], %L::real[]) AS f(id, score)
             UNION ALL
             SELECT w.id, w.score FROM unnest(%L::halfvec[]) AS s(e) CROSS JOIN LATERAL (
                 SELECT k2.id, (-(k2.embedding <#> %L::halfvec))::real AS score FROM %s
                 ORDER BY k2.embedding::halfvec(%s) <#> l2_normalize(%L::halfvec + s.e)::halfvec(%s)
                 LIMIT %s) w) u
           GROUP BY u.id ORDER BY 2 DESC, 1 LIMIT %s) x',
        first_ids, first_scores, seeds, q::text, src, d.visual_dim, q::halfvec::text, d.visual_dim, per_seed, cand)
        INTO ids, scores;
END $$;

-- A search score as a cosine: the inner product `ip` of a query of norm `q_norm` (NULL: a unit text query, whose
-- inner products already are cosines) and keyframe embedding `e`; at most 1 also where half precision rounds up.
CREATE OR REPLACE FUNCTION mediatag._cosine(ip real, q_norm float8, e halfvec) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(1, CASE WHEN q_norm IS NULL THEN ip ELSE ip / nullif(q_norm * l2_norm(e), 0) END)::real
$$;

-- search, search_total and search_transcripts (like preview and the listings) are STABLE: they change nothing, so
-- the SDK runs them on the read replica when MEDIATAG_READ_URL names one (embedder/mediatag/sdk_calls.py).
CREATE OR REPLACE FUNCTION mediatag.search(
    dataset text, query text DEFAULT NULL, keyframe bigint DEFAULT NULL, k int DEFAULT 50,
    concepts text[] DEFAULT NULL, tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL,
    group_by_video boolean DEFAULT false, "offset" int DEFAULT 0, embedding vector DEFAULT NULL, recall real DEFAULT 0.97)
RETURNS TABLE (keyframe_id bigint, asset_id bigint, video_id bigint, shot_id bigint, keyframe_time_ms int, path text,
               asset_path text, score real, rank int, matches int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d mediatag.dataset;
    q vector;
    given int := (query IS NOT NULL)::int + (keyframe IS NOT NULL)::int + (embedding IS NOT NULL)::int;
    preds text;
    wanted int;
    cand int;
    walk_rows int;
    ef int;
    ids bigint[];
    scores real[];
    seeds halfvec[];
    missed boolean;
    fi mediatag.filter_index;
    meta_pred text;
    all_preds text;
    q_norm float8;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    PERFORM mediatag._check_search_window(k, "offset");
    IF given <> 1 THEN
        RAISE EXCEPTION 'search needs exactly one of query => text, keyframe => id or embedding => vector (got %)', given
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF query IS NOT NULL THEN
        q := mediatag.embed_text(mediatag._check_query_text(query), d.visual_model);
    ELSIF keyframe IS NOT NULL THEN
        SELECT kf.embedding::vector INTO q FROM mediatag.keyframe kf WHERE kf.id = keyframe AND kf.dataset_id = d.id;
        IF q IS NULL THEN
            RAISE EXCEPTION 'keyframe % is not in dataset "%"', keyframe, d.name USING ERRCODE = 'no_data_found';
        END IF;
    ELSE
        q := embedding;
    END IF;
    IF vector_dims(q) <> d.visual_dim THEN
        RAISE EXCEPTION 'the query vector has % dimensions; dataset "%" (%) has %', vector_dims(q), d.name, d.visual_model,
            d.visual_dim USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF vector_norm(q) = 0 OR vector_norm(q) = 'NaN'::float8 THEN
        RAISE EXCEPTION 'the query vector is zero: nothing to compare with' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Scores are cosines. A text query is a unit vector over the class part only, so its inner product with a
    -- keyframe already is one; an image query is a keyframe-like vector (norm sqrt(2) for the offline models), so
    -- its inner products reach 2 and are divided by both norms on the way out (the walks rank by inner product,
    -- the same order among keyframes of one norm).
    IF query IS NULL THEN
        q_norm := vector_norm(q);
    END IF;
    -- The metadata predicate apart from the concept and tag ones: a filter index that holds exactly the filter's
    -- metadata makes it redundant (its keyframes all match); one that holds less leaves it to be checked per row.
    meta_pred := mediatag._search_filters(d, NULL, NULL, metadata);
    preds := mediatag._search_filters(d, concepts, tags, NULL);
    all_preds := meta_pred || preds;
    IF meta_pred <> '' THEN
        fi := mediatag._search_filter_index(d.id, metadata);
        IF fi.id IS NOT NULL THEN
            RAISE DEBUG 'search: walking filter index % (%)', fi.id, fi.metadata;
        END IF;
    END IF;
    IF fi.id IS NULL OR fi.metadata <> metadata THEN
        preds := all_preds;
    END IF;

    wanted := k + "offset";
    -- Candidates to re-rank. Without a filter, 3x what is wanted costs almost nothing more (ef_search, not the
    -- LIMIT, sets the graph walk). With a filter every further candidate means walking on past ~1/selectivity
    -- rejected rows, which dominates the time: take what is wanted and re-rank only for order.
    -- Grouped: each video contributes its best keyframe, so more keyframes are needed to find `wanted` videos.
    cand := CASE WHEN group_by_video THEN least(10 * wanted, 20000)
                 WHEN preds <> '' THEN wanted
                 ELSE least(3 * wanted, 20000) END;
    -- "More like this" leaves the keyframe itself out: one more candidate, dropped after the search (as a
    -- predicate it would count as a filter and cost the re-ranking margin).
    cand := cand + (keyframe IS NOT NULL)::int;
    ef := mediatag._search_ef(recall, wanted);
    -- Probes for the graph walk (unfiltered searches): 1,000 rows of the dataset's random sample
    -- (mediatag._search_probes). A dataset without a sample yet (drawn by its first tag group or concept, or by
    -- mediatag.refresh_samples) has no probes.
    --  * Text queries lie away from every image cluster (the modality gap): a greedy walk settles in one cluster
    --    while their top results are spread over several, and a wider beam barely helps (ef_search 1000: recall@100
    --    0.44 at 1M). The best-scoring probes say which regions hold the top results; a short walk toward the
    --    midpoint of the query and each of them (an in-distribution point of that region, whose nearest keyframes
    --    are the region's ones leaning toward the query) collects them, merged with the first walk's candidates
    --    (mediatag._search_seeded; a union can only raise recall@k). With the probe walks to follow, the first walk
    --    takes a narrower beam and fewer rows (mediatag._search_text_ef). Measured at 1M: docs/concepts-and-search.md.
    --  * Image queries (a keyframe, or a vector the caller embedded) lie among the keyframes. Every probe that
    --    scores above the last candidate belongs among the candidates (the exact top list holds every keyframe
    --    scoring above its last); one missing proves the walk stayed in the wrong region (at 1M clustered
    --    keyframes, 2 queries in 100 whose neighbourhoods are barely linked to the rest of the graph), and the
    --    widest beam pgvector allows, on the query itself, finds them again (recall 0.00 -> 0.96-0.99).
    --  * Through a filter index without further predicates, the same holds on its graph, with the probes that
    --    belong to the index (~the filter's share of the 1,000).
    IF query IS NOT NULL AND preds = '' THEN
        SELECT array_agg(p.embedding ORDER BY p.score DESC, p.keyframe_id) INTO seeds
        FROM (SELECT pr.keyframe_id, pr.embedding, pr.score FROM mediatag._search_probes(d.id, q::halfvec, fi.id) pr
              ORDER BY pr.score DESC, pr.keyframe_id LIMIT mediatag._search_seeds(recall)) p;
    END IF;
    walk_rows := cand;
    IF seeds IS NOT NULL AND NOT group_by_video THEN  -- grouping needs every keyframe of the first walk
        ef := mediatag._search_text_ef(wanted);
        walk_rows := greatest(wanted, least(cand, ef));
    END IF;
    PERFORM set_config('hnsw.ef_search', ef::text, true);
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    PERFORM set_config('hnsw.max_scan_tuples', greatest(20000, 4 * cand)::text, true);
    -- The planner costs a filtered HNSW scan as if it read the whole index, which switches JIT on: ~60 ms of
    -- compilation for a query that runs in 10.
    PERFORM set_config('jit', 'off', true);

    SELECT c.ids, c.scores INTO ids, scores FROM mediatag._search_candidates(d, q, preds, walk_rows, fi.id) c;
    IF seeds IS NOT NULL AND cardinality(ids) = walk_rows THEN
        RAISE DEBUG 'search: text query; walking again toward the % best-scoring sample keyframes', cardinality(seeds);
        PERFORM set_config('hnsw.ef_search', mediatag._search_seed_ef()::text, true);
        SELECT c.ids, c.scores INTO ids, scores
        FROM mediatag._search_seeded(d, q, ids, scores, seeds, cand, mediatag._search_seed_ef(), fi.id) c;
    ELSIF query IS NULL AND preds = '' AND cardinality(ids) = cand AND ef < 1000 THEN
        SELECT coalesce(bool_or(pr.score > scores[cand] AND pr.keyframe_id <> ALL (ids)), false) INTO missed
        FROM mediatag._search_probes(d.id, q::halfvec, fi.id) pr;
        IF missed THEN
            RAISE DEBUG 'search: the graph walk (ef_search %) missed a sample keyframe; rerunning at ef_search 1000', ef;
            PERFORM set_config('hnsw.ef_search', '1000', true);
            SELECT c.ids, c.scores INTO ids, scores FROM mediatag._search_candidates(d, q, preds, cand, fi.id) c;
        END IF;
    END IF;
    IF coalesce(cardinality(ids), 0) < cand AND all_preds <> '' THEN
        -- The graph walk stopped before enough rows passed the filter: score every row that passes (exact), over
        -- the filter index's own rows where there is one. The distance expression does not match the index, so
        -- this is a scan of the filtered rows.
        EXECUTE format(
            'SELECT array_agg(x.id ORDER BY x.score DESC, x.id), array_agg(x.score ORDER BY x.score DESC, x.id) FROM (
               SELECT k.id, (-(k.embedding <#> %L::halfvec))::real AS score FROM %s %s ORDER BY 2 DESC, 1 LIMIT %s) x',
            q::text,
            CASE WHEN fi.id IS NULL THEN format('mediatag.keyframe k WHERE k.dataset_id = %s', d.id)
                 ELSE format('mediatag.filter_index_row r JOIN mediatag.keyframe k ON k.id = r.keyframe_id
                              WHERE r.filter_index_id = %s', fi.id) END,
            preds, cand) INTO ids, scores;
    END IF;

    IF keyframe IS NOT NULL THEN
        SELECT array_agg(u.id ORDER BY u.o), array_agg(u.score ORDER BY u.o) INTO ids, scores
        FROM unnest(ids, scores) WITH ORDINALITY AS u(id, score, o) WHERE u.id <> keyframe;
    END IF;

    IF group_by_video THEN
        RETURN QUERY
        SELECT g.id, g.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, g.shot_id, g.time_ms, g.image_path, a.path,
               mediatag._cosine(g.score, q_norm, g.embedding), (row_number() OVER (ORDER BY g.score DESC, g.asset_id))::int,
               g.matches
        FROM (SELECT DISTINCT ON (kf.asset_id) kf.id, kf.asset_id, kf.shot_id, kf.time_ms, kf.image_path, kf.embedding, u.score,
                     count(*) OVER (PARTITION BY kf.asset_id)::int AS matches
              FROM unnest(ids, scores) AS u(id, score) JOIN mediatag.keyframe kf ON kf.id = u.id
              ORDER BY kf.asset_id, u.score DESC, kf.id) g
        JOIN mediatag.asset a ON a.id = g.asset_id
        ORDER BY g.score DESC, g.asset_id
        OFFSET "offset" LIMIT k;
    ELSE
        RETURN QUERY
        SELECT kf.id, kf.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, kf.shot_id, kf.time_ms, kf.image_path, a.path,
               mediatag._cosine(u.score, q_norm, kf.embedding), u.ord::int, 1
        FROM unnest(ids, scores) WITH ORDINALITY AS u(id, score, ord)
        JOIN mediatag.keyframe kf ON kf.id = u.id JOIN mediatag.asset a ON a.id = kf.asset_id
        WHERE u.ord > "offset"
        ORDER BY u.ord
        LIMIT k;
    END IF;
END $$;

-- How many results a search with these filters ranks in all (the search page's total): the dataset's keyframes
-- that pass them, or with group_by_video their assets. An exact count: a scan of the filtered keyframes.
CREATE OR REPLACE FUNCTION mediatag.search_total(dataset text, concepts text[] DEFAULT NULL, tags text[] DEFAULT NULL,
                                                 metadata jsonb DEFAULT NULL, group_by_video boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE d mediatag.dataset; n bigint;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    PERFORM set_config('jit', 'off', true);
    EXECUTE format('SELECT count(%s) FROM mediatag.keyframe k WHERE k.dataset_id = %s %s',
                   CASE WHEN group_by_video THEN 'DISTINCT k.asset_id' ELSE '*' END, d.id,
                   mediatag._search_filters(d, concepts, tags, metadata)) INTO n;
    RETURN n;
END $$;

COMMENT ON FUNCTION mediatag.search_total(text, text[], text[], jsonb, boolean) IS
'How many results search() ranks in all with these filters: the keyframes that pass them. Viewers.
dataset: the dataset''s name
concepts: concepts whose decision must be yes (default NULL: none)
tags: ''group:tag'' names whose decision must be yes (default NULL: none)
metadata: a JSON object the asset''s metadata must contain (default NULL: none)
group_by_video: count assets instead of keyframes, as search(group_by_video => true) ranks them (default false)
Returns: the count.';

-- Transcript search. mode 'semantic': the query embedded with the dataset's transcript model, nearest segments
-- through the transcript HNSW index (score = cosine); 'keyword': Postgres full text on the segments' tsv column
-- (websearch syntax: "quoted phrases", OR, -exclusions; score = ts_rank_cd). from_ms / to_ms keep segments that
-- overlap that time range of their video.
CREATE OR REPLACE FUNCTION mediatag.search_transcripts(
    dataset text, query text, k int DEFAULT 50, mode mediatag.search_mode DEFAULT 'semantic', from_ms int DEFAULT NULL,
    to_ms int DEFAULT NULL, metadata jsonb DEFAULT NULL, group_by_video boolean DEFAULT false, "offset" int DEFAULT 0)
RETURNS TABLE (segment_id bigint, asset_id bigint, video_id bigint, start_ms int, end_ms int, text text, score real,
               rank int, matches int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d mediatag.dataset;
    q text;
    preds text := '';
    tsq tsquery;
    qv vector;
    wanted int;
    cand int;
    hit_ids bigint[];
    hit_scores real[];
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    PERFORM mediatag._check_search_window(k, "offset");
    q := mediatag._check_query_text(query);
    PERFORM mediatag._required('search_mode', mode);
    IF from_ms < 0 OR to_ms < 0 OR from_ms > to_ms THEN
        RAISE EXCEPTION 'invalid time range % .. % ms', from_ms, to_ms USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF from_ms IS NOT NULL THEN preds := preds || format(' AND t.end_ms >= %s', from_ms); END IF;
    IF to_ms IS NOT NULL THEN preds := preds || format(' AND t.start_ms <= %s', to_ms); END IF;
    IF metadata IS NOT NULL AND metadata <> '{}' THEN
        IF jsonb_typeof(metadata) <> 'object' THEN
            RAISE EXCEPTION 'metadata filter must be a JSON object, got %', metadata USING ERRCODE = 'invalid_parameter_value';
        END IF;
        preds := preds || format(' AND (SELECT a2.metadata FROM mediatag.asset a2 WHERE a2.id = t.asset_id) @> %L::jsonb', metadata);
    END IF;
    wanted := k + "offset";
    cand := CASE WHEN group_by_video THEN least(10 * wanted, 20000) ELSE least(3 * wanted, 20000) END;
    -- Candidates are kept in arrays, never in a session scratch table: a caller could plant one (with triggers) that this
    -- SECURITY DEFINER function would then write to as the owner.
    IF mode = 'keyword' THEN
        tsq := websearch_to_tsquery('simple', q);
        IF numnode(tsq) = 0 THEN
            RAISE EXCEPTION 'keyword query % has no searchable words', quote_literal(q) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('SELECT array_agg(h.id), array_agg(h.score) FROM (
                          SELECT t.id, ts_rank_cd(t.tsv, %L::tsquery)::real AS score
                          FROM mediatag.transcript_segment t WHERE t.dataset_id = %s AND t.tsv @@ %L::tsquery %s
                          ORDER BY 2 DESC, t.id LIMIT %s) h', tsq::text, d.id, tsq::text, preds, cand)
            INTO hit_ids, hit_scores;
    ELSE
        qv := mediatag.embed_text(q, d.text_model);
        PERFORM set_config('hnsw.ef_search', mediatag._search_ef(0.97, wanted)::text, true);
        PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
        EXECUTE format('SELECT array_agg(c.id), array_agg((-(c.embedding <#> %L::halfvec))::real) FROM (
                          SELECT t.id, t.embedding FROM mediatag.transcript_segment t WHERE t.dataset_id = %s %s
                          ORDER BY t.embedding::halfvec(%s) <#> %L::halfvec(%s) LIMIT %s) c',
                       qv::text, d.id, preds, d.text_dim, qv::text, d.text_dim, cand)
            INTO hit_ids, hit_scores;
    END IF;
    RETURN QUERY
    SELECT x.id, x.asset_id, CASE WHEN a.kind = 'video' THEN a.id END, x.start_ms, x.end_ms, x.text, x.score,
           (row_number() OVER (ORDER BY x.score DESC, x.id))::int, x.matches
    FROM (SELECT DISTINCT ON (CASE WHEN group_by_video THEN t.asset_id ELSE t.id END)
                 t.id, t.asset_id, t.start_ms, t.end_ms, t.text, s.score,
                 CASE WHEN group_by_video THEN count(*) OVER (PARTITION BY t.asset_id) ELSE 1 END::int AS matches
          FROM unnest(hit_ids, hit_scores) AS s(id, score) JOIN mediatag.transcript_segment t ON t.id = s.id
          ORDER BY CASE WHEN group_by_video THEN t.asset_id ELSE t.id END, s.score DESC, t.start_ms) x
    JOIN mediatag.asset a ON a.id = x.asset_id
    ORDER BY x.score DESC, x.id
    OFFSET "offset" LIMIT k;
END $$;
