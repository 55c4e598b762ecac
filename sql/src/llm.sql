-- LLM features: prompt suggestions and evaluator ground truth from a vision model, through any OpenAI-compatible
-- endpoint configured in the service (`mediatag serve`, see docs/llm.md). Postgres never calls the LLM itself:
--  * suggest_prompts() asks the service over loopback HTTP and waits (seconds); the service calls the LLM, or uses
--    WordNet when none is configured. The suggestions are kept per tag, so add_suggested_prompts() adds exactly
--    what the user saw.
--  * request_ground_truth() queues an 'llm_ground_truth' job. Jobs whose kind starts with 'llm_' are claimed by the
--    service's Python worker (embedder/mediatag/llm/jobs.py), never by CALL mediatag.run_jobs(); the worker writes
--    one answer row per keyframe as it goes, so a restart continues where it stopped and asks nothing twice.

CREATE TABLE IF NOT EXISTS mediatag.prompt_suggestion (
    id          bigserial PRIMARY KEY,
    tag_id      bigint NOT NULL REFERENCES mediatag.tag(id) ON DELETE CASCADE,   -- dataset: the tag's group's training dataset
    polarity    text NOT NULL CHECK (polarity IN ('positive', 'negative')),
    modality    text NOT NULL CHECK (modality IN ('visual', 'transcript')),
    prompt      text NOT NULL CHECK (length(prompt) BETWEEN 1 AND 2000),
    source      text NOT NULL CHECK (source = 'wordnet' OR source LIKE 'llm:%'),
    created_by  text NOT NULL DEFAULT session_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    added_at    timestamptz,                    -- set when add_suggested_prompts() made it a prompt
    UNIQUE (tag_id, modality, polarity, prompt)
);

-- How useful a visual suggestion measured on the training dataset (suggest_prompts): a positive's nearest sample
-- keyframes' mean score under the tag's classifier (does it find what the tag means), a negative's 1 - that mean.
ALTER TABLE mediatag.prompt_suggestion ADD COLUMN IF NOT EXISTS usefulness real;

-- One row per evaluation item the VLM was asked about (keyed like evaluation_item). `answer` is NULL while the
-- item failed; the error says why (timeout, HTTP status after retries, refusal, malformed reply).
CREATE TABLE IF NOT EXISTS mediatag.evaluation_llm_answer (
    evaluation_id      bigint NOT NULL,
    keyframe_id        bigint NOT NULL,
    answer             boolean,
    confidence         real,
    reason             text,
    model              text NOT NULL,
    raw_reply          text,
    error              text,
    error_kind         text CHECK (error_kind IN ('transient', 'refused', 'malformed', 'error')),
    attempts           int NOT NULL DEFAULT 0,     -- HTTP requests made for this item, all runs together
    prompt_tokens      int NOT NULL DEFAULT 0,
    completion_tokens  int NOT NULL DEFAULT 0,
    cost_usd           double precision,
    latency_ms         int,
    job_id             bigint,
    asked_at           timestamptz NOT NULL DEFAULT now(),
    answered_at        timestamptz,
    PRIMARY KEY (evaluation_id, keyframe_id),
    FOREIGN KEY (evaluation_id, keyframe_id) REFERENCES mediatag.evaluation_item (evaluation_id, keyframe_id) ON DELETE CASCADE,
    CHECK (answer IS NOT NULL OR error IS NOT NULL)
);

-- ---- prompt suggestions ----------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.suggest_prompts(tag_group text, tag text, per_list int DEFAULT 5)
RETURNS TABLE (polarity text, modality text, prompt text, source text)
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    t mediatag.tag := mediatag._tag(g, tag);
    c mediatag.classifier := mediatag._latest_classifier(t.id, 'visual');
    res jsonb;
    ids bigint[];
    texts text[];
BEGIN
    PERFORM mediatag._require_editor('suggesting prompts');
    IF per_list IS NULL OR per_list < 1 OR per_list > 20 THEN
        RAISE EXCEPTION 'per_list must be between 1 and 20, got %', per_list USING ERRCODE = 'invalid_parameter_value';
    END IF;
    res := mediatag._service_post('/llm/suggest', jsonb_build_object(
        'group', g.name, 'tag', t.name, 'per_list', per_list,
        'existing', coalesce((SELECT jsonb_agg(jsonb_build_array(p.polarity, p.modality, p.text) ORDER BY p.id)
                              FROM mediatag.tag_prompt p WHERE p.tag_id = t.id), '[]'::jsonb)), 300);
    IF res ->> 'warning' IS NOT NULL THEN
        RAISE NOTICE '%', res ->> 'warning';
    END IF;
    -- The latest suggestions replace the ones not added yet.
    DELETE FROM mediatag.prompt_suggestion s WHERE s.tag_id = t.id AND s.added_at IS NULL;
    INSERT INTO mediatag.prompt_suggestion (tag_id, polarity, modality, prompt, source)
    SELECT t.id, x ->> 'polarity', x ->> 'modality', x ->> 'prompt', x ->> 'source'
    FROM jsonb_array_elements(res -> 'suggestions') WITH ORDINALITY AS a(x, n)
    ORDER BY a.n
    ON CONFLICT DO NOTHING;
    -- Measured, not guessed: each visual suggestion's 8 nearest keyframes of the dataset's sample, scored by the
    -- tag's classifier. A positive is worth more the more of what it finds the tag already calls the tag; a
    -- negative whose nearest keyframes the tag mostly calls positive would push away the tag itself (WordNet's
    -- "wild dog" for dog) and is dropped, the others ranked by how little of the tag they find.
    SELECT array_agg(s.id ORDER BY s.id), array_agg(s.prompt ORDER BY s.id) INTO ids, texts
    FROM mediatag.prompt_suggestion s WHERE s.tag_id = t.id AND s.added_at IS NULL AND s.modality = 'visual';
    IF ids IS NOT NULL AND c.weights IS NOT NULL THEN
        WITH e AS (
            SELECT ids[x.i] AS id, x.v::halfvec AS q
            FROM mediatag.embed_texts(texts, (SELECT d.visual_model FROM mediatag.dataset d WHERE d.id = g.training_dataset_id))
                 WITH ORDINALITY AS x(v, i)
        ), m AS (
            SELECT e.id, (SELECT avg(mediatag.sigmoid(c.bias - (n.embedding <#> c.weights::halfvec)))
                          FROM (SELECT ks.embedding FROM mediatag.keyframe_sample ks
                                WHERE ks.dataset_id = g.training_dataset_id ORDER BY ks.embedding <#> e.q LIMIT 8) n) AS p
            FROM e
        )
        UPDATE mediatag.prompt_suggestion s
        SET usefulness = CASE WHEN s.polarity = 'positive' THEN m.p ELSE 1 - m.p END
        FROM m WHERE s.id = m.id;
        DELETE FROM mediatag.prompt_suggestion s
        WHERE s.tag_id = t.id AND s.added_at IS NULL AND s.polarity = 'negative' AND s.usefulness < 0.5;
    END IF;
    RETURN QUERY
        SELECT s.polarity, s.modality, s.prompt, s.source FROM mediatag.prompt_suggestion s
        WHERE s.tag_id = t.id AND s.added_at IS NULL
        ORDER BY s.modality DESC, s.polarity DESC, s.usefulness DESC NULLS LAST, s.id;
END $$;

-- Adds every suggestion not added yet (asking for suggestions first when there are none) as prompts with
-- origin 'llm', trains the tag once, and returns the number of prompts added. Adding a single one is
-- mediatag.add_prompt(tag_group, tag, prompt, polarity, modality, origin => 'llm').
CREATE OR REPLACE FUNCTION mediatag.add_suggested_prompts(tag_group text, tag text, dataset text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group; t mediatag.tag; n int;
BEGIN
    PERFORM mediatag._require_editor('adding suggested prompts');
    g := mediatag._group(tag_group);
    t := mediatag._tag(g, tag);
    IF NOT EXISTS (SELECT 1 FROM mediatag.prompt_suggestion s WHERE s.tag_id = t.id AND s.added_at IS NULL) THEN
        PERFORM mediatag.suggest_prompts(tag_group, tag);
    END IF;
    g := mediatag._editable_group(tag_group, dataset);
    WITH pending AS (
        UPDATE mediatag.prompt_suggestion s SET added_at = now()
        WHERE s.tag_id = t.id AND s.added_at IS NULL
        RETURNING s.id, s.polarity, s.modality, s.prompt
    ), ins AS (
        INSERT INTO mediatag.tag_prompt (tag_id, modality, polarity, text, origin)
        SELECT t.id, p.modality, p.polarity, p.prompt, 'llm' FROM pending p ORDER BY p.id
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO n FROM ins;
    IF n > 0 THEN
        PERFORM mediatag._train_tags(ARRAY[t.id]);
    END IF;
    RETURN n;
END $$;

-- ---- evaluator ground truth ------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION mediatag.request_ground_truth(evaluation bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation); j bigint;
BEGIN
    PERFORM mediatag._require_write(e.dataset_id, 'asking a vision model for ground truth');
    -- Serialised on the evaluation's row (only the owner can lock it; an advisory key anyone could hold).
    PERFORM 1 FROM mediatag.evaluation x WHERE x.id = e.id FOR UPDATE;
    -- One job per evaluation at a time: asking again while one is queued or running returns that job.
    SELECT x.id INTO j FROM mediatag.job x
    WHERE x.kind = 'llm_ground_truth' AND x.state IN ('queued', 'running') AND (x.payload ->> 'evaluation_id')::bigint = e.id
    ORDER BY x.id LIMIT 1;
    IF j IS NULL THEN
        j := mediatag._enqueue_job('llm_ground_truth', jsonb_build_object('evaluation_id', e.id));
    END IF;
    RETURN j;
END $$;

-- Items the VLM still has to judge: not removed, not judged by a person, no answer yet (failed ones are asked again).
CREATE OR REPLACE FUNCTION mediatag._llm_pending_items(evaluation_id bigint)
RETURNS TABLE (keyframe_id bigint, shot_id bigint, image_path text, time_ms int, shot_start_ms int, shot_end_ms int)
LANGUAGE sql STABLE AS $$
    SELECT i.keyframe_id, i.shot_id, k.image_path, k.time_ms, s.start_ms, s.end_ms
    FROM mediatag.evaluation_item i
    JOIN mediatag.keyframe k ON k.id = i.keyframe_id
    LEFT JOIN mediatag.shot s ON s.id = i.shot_id
    WHERE i.evaluation_id = $1 AND NOT i.removed AND i.truth_source IS DISTINCT FROM 'person'
      AND NOT EXISTS (SELECT 1 FROM mediatag.evaluation_llm_answer a
                      WHERE a.evaluation_id = i.evaluation_id AND a.keyframe_id = i.keyframe_id AND a.answer IS NOT NULL)
    ORDER BY i.bucket, i.keyframe_id
$$;

-- What the VLM is told about the tag: its name, group, and visual prompts.
CREATE OR REPLACE FUNCTION mediatag._llm_evaluation_tag(evaluation_id bigint)
RETURNS TABLE (tag text, tag_group text, positives text[], negatives text[])
LANGUAGE sql STABLE AS $$
    SELECT t.name, g.name,
           ARRAY(SELECT p.text FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.modality = 'visual'
                 AND p.polarity = 'positive' AND p.origin <> 'tag_name' ORDER BY p.id),
           ARRAY(SELECT p.text FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.modality = 'visual'
                 AND p.polarity = 'negative' ORDER BY p.id)
    FROM mediatag.evaluation e JOIN mediatag.tag t ON t.id = e.tag_id JOIN mediatag.tag_group g ON g.id = t.group_id
    WHERE e.id = (mediatag._evaluation($1)).id
$$;

-- Stores one item's outcome (in the caller's transaction, with the item's ground truth when there is an answer).
-- A person's judgement is never overwritten.
CREATE OR REPLACE FUNCTION mediatag._record_llm_answer(evaluation_id bigint, keyframe_id bigint, answer boolean,
        confidence real, reason text, model text, raw_reply text, error text, error_kind text, attempts int,
        prompt_tokens int, completion_tokens int, cost_usd double precision, latency_ms int, job_id bigint)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO mediatag.evaluation_llm_answer AS a (evaluation_id, keyframe_id, answer, confidence, reason, model,
        raw_reply, error, error_kind, attempts, prompt_tokens, completion_tokens, cost_usd, latency_ms, job_id,
        answered_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, CASE WHEN $3 IS NOT NULL THEN now() END)
    ON CONFLICT ON CONSTRAINT evaluation_llm_answer_pkey DO UPDATE SET
        answer = EXCLUDED.answer, confidence = EXCLUDED.confidence, reason = EXCLUDED.reason, model = EXCLUDED.model,
        raw_reply = EXCLUDED.raw_reply, error = EXCLUDED.error, error_kind = EXCLUDED.error_kind,
        attempts = a.attempts + EXCLUDED.attempts,
        prompt_tokens = a.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = a.completion_tokens + EXCLUDED.completion_tokens,
        cost_usd = CASE WHEN a.cost_usd IS NULL AND EXCLUDED.cost_usd IS NULL THEN NULL
                        ELSE coalesce(a.cost_usd, 0) + coalesce(EXCLUDED.cost_usd, 0) END,
        latency_ms = EXCLUDED.latency_ms, job_id = EXCLUDED.job_id, asked_at = now(),
        answered_at = EXCLUDED.answered_at;
    UPDATE mediatag.evaluation_item i SET truth = $3, truth_source = 'llm', judged_by = 'llm:' || $6, judged_at = now()
    WHERE $3 IS NOT NULL AND i.evaluation_id = $1 AND i.keyframe_id = $2 AND i.truth_source IS DISTINCT FROM 'person';
$$;

CREATE OR REPLACE FUNCTION mediatag.evaluation_progress(evaluation_id bigint)
RETURNS TABLE (asked int, answered int, failed int, remaining int, model text, tokens bigint,
               cost_usd double precision, job_state text, line text)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
DECLARE e mediatag.evaluation := mediatag._evaluation(evaluation_id); job_error text;
BEGIN
    SELECT count(*) FILTER (WHERE a.keyframe_id IS NOT NULL),
           count(*) FILTER (WHERE a.answer IS NOT NULL),
           count(*) FILTER (WHERE a.keyframe_id IS NOT NULL AND a.answer IS NULL),
           count(*) FILTER (WHERE a.answer IS NULL AND NOT i.removed AND i.truth_source IS DISTINCT FROM 'person'),
           string_agg(DISTINCT a.model, ', '),
           coalesce(sum(a.prompt_tokens + a.completion_tokens), 0),
           sum(a.cost_usd)
      INTO asked, answered, failed, remaining, model, tokens, cost_usd
      FROM mediatag.evaluation_item i
      LEFT JOIN mediatag.evaluation_llm_answer a ON a.evaluation_id = i.evaluation_id AND a.keyframe_id = i.keyframe_id
     WHERE i.evaluation_id = e.id;
    SELECT x.state, x.error INTO job_state, job_error FROM mediatag.job x
    WHERE x.kind = 'llm_ground_truth' AND (x.payload ->> 'evaluation_id')::bigint = e.id ORDER BY x.id DESC LIMIT 1;
    line := format('evaluation %s: %s asked, %s answered, %s failed, %s remaining; %s tokens%s%s', e.id, asked, answered,
                   failed, remaining, tokens, CASE WHEN cost_usd IS NOT NULL THEN format(', $%s', round(cost_usd::numeric, 4)) ELSE '' END,
                   CASE WHEN job_state = 'error' THEN format(' (job error: %s)', job_error)
                        WHEN job_state IS NOT NULL THEN format(' (job %s)', job_state) ELSE '' END);
    RETURN NEXT;
END $$;

-- ---- the Python worker's side of the job queue -----------------------------------------------------------------

-- Like mediatag._claim_job (same states, attempts and liveness protocol), for the kinds the Python worker runs.
CREATE OR REPLACE FUNCTION mediatag._claim_worker_job(worker_name text, kind_like text) RETURNS mediatag.job
LANGUAGE plpgsql AS $$
DECLARE j mediatag.job;
BEGIN
    FOR j IN SELECT * FROM mediatag.job WHERE state IN ('queued', 'running') AND kind LIKE kind_like
             ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        IF j.state = 'running' AND mediatag._job_worker_alive(j) THEN
            CONTINUE;   -- a live worker is on it
        END IF;
        IF j.attempts >= j.max_attempts THEN
            UPDATE mediatag.job SET state = 'error', finished_at = now(),
                   error = coalesce(error, '') || format(' (gave up after %s attempts; the worker stopped mid-job)', j.attempts)
            WHERE id = j.id;
            CONTINUE;
        END IF;
        RETURN mediatag._job_take(j, worker_name);
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION mediatag._claim_llm_job(worker_name text) RETURNS mediatag.job
LANGUAGE sql AS $$
    SELECT mediatag._claim_worker_job(worker_name, 'llm\_%')
$$;

-- Ends a claimed job: done with its result, or error (an outage is not retried in a loop: the user asks again
-- with request_ground_truth() and the next job continues where this one stopped). Releases the claim.
CREATE OR REPLACE FUNCTION mediatag._finish_llm_job(job_id bigint, result jsonb, error text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mediatag.job j SET state = CASE WHEN _finish_llm_job.error IS NULL THEN 'done' ELSE 'error' END,
           result = _finish_llm_job.result, error = _finish_llm_job.error, finished_at = now()
    WHERE j.id = job_id;
END $$;
