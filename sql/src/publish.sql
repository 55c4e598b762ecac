-- Publishing snapshots a version; applying binds a dataset to a version and queues its scoring.

CREATE OR REPLACE FUNCTION mediatag._queue_scoring(group_id bigint, dataset_id bigint, version int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE j bigint;
BEGIN
    -- One pending job per (group, dataset) is enough: it scores whatever version is applied when it runs.
    SELECT id INTO j FROM mediatag.job
    WHERE kind = 'score_group' AND state = 'queued'
      AND (payload ->> 'group_id')::bigint = group_id AND (payload ->> 'dataset_id')::bigint = dataset_id;
    IF j IS NULL THEN
        j := mediatag._enqueue_job('score_group', jsonb_build_object('group_id', group_id, 'dataset_id', dataset_id,
                                                                    'version', version));
    ELSE
        UPDATE mediatag.job SET payload = payload || jsonb_build_object('version', version) WHERE id = j;
    END IF;
    UPDATE mediatag.group_application a SET status = 'queued', error = NULL
    WHERE a.group_id = _queue_scoring.group_id AND a.dataset_id = _queue_scoring.dataset_id;
    RETURN j;
END $$;

-- Who may see and apply a group is no part of its versions: changing it alone scores nothing again.
CREATE OR REPLACE FUNCTION mediatag.set_group_visibility(tag_group text, visibility mediatag.visibility) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group);
BEGIN
    PERFORM mediatag._require_write(g.training_dataset_id, format('changing the visibility of tag group "%s"', g.name));
    PERFORM mediatag._required('visibility', visibility);
    SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = g.id FOR UPDATE;
    IF g.visibility = visibility THEN
        RETURN false;
    END IF;
    IF visibility = 'secret' AND EXISTS (SELECT 1 FROM mediatag.group_application a WHERE a.group_id = g.id AND a.role = 'applied') THEN
        RAISE EXCEPTION 'tag group "%" is applied to other datasets: it cannot become secret', g.name
            USING ERRCODE = 'object_in_use';
    END IF;
    -- No revision bump: the tags and classifiers are as published, so "unpublished changes" stays as it was.
    UPDATE mediatag.tag_group x SET visibility = set_group_visibility.visibility, updated_at = now() WHERE x.id = g.id;
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION mediatag.publish_tag_group(tag_group text, visibility mediatag.visibility DEFAULT NULL, note text DEFAULT '',
                                           dataset text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); v int; missing text;
BEGIN
    -- Nothing edited since the last version and only the visibility asked to change: that is no new version (a
    -- new one would score every dataset again for the same classifiers).
    IF g.state = 'published' AND g.revision = g.published_revision AND visibility IS DISTINCT FROM g.visibility
       AND visibility IS NOT NULL AND (dataset IS NULL OR mediatag.dataset_id(dataset) = g.training_dataset_id) THEN
        PERFORM mediatag.set_group_visibility(tag_group, visibility);
        RETURN g.published_version;
    END IF;
    g := mediatag._editable_group(tag_group, dataset);
    -- Locks in one order, before anything else: the group's row, then its applications' rows, then (below) its
    -- score tables and views. The scoring job takes an application row before the score tables, so neither a
    -- second publish nor the worker can hold a lock this one needs while waiting for one it holds (they used to
    -- deadlock). A second publish of the same group is refused at once rather than queued behind the first.
    BEGIN
        SELECT * INTO g FROM mediatag.tag_group x WHERE x.id = g.id FOR UPDATE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'tag group "%" is being published or edited in another session; try again when it is done',
            g.name USING ERRCODE = 'lock_not_available';
    END;
    PERFORM 1 FROM mediatag.group_application a WHERE a.group_id = g.id ORDER BY a.dataset_id FOR UPDATE;
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
           (mediatag._keyframe_classifier(t.id)).id, (mediatag._latest_classifier(t.id, 'transcript')).id
    FROM mediatag.tag t WHERE t.group_id = g.id;
    PERFORM mediatag._ensure_score_tables(g);
    -- The training dataset always follows the latest version.
    UPDATE mediatag.group_application a SET applied_version = v, applied_at = now(), applied_by = session_user
    WHERE a.group_id = g.id AND a.role = 'training';
    PERFORM mediatag._queue_scoring(g.id, g.training_dataset_id, v);
    RETURN v;
END $$;

-- Tags nobody has looked at since the group was made: no label, no evaluation, no prompt but the tag's name. The
-- UI asks before publishing them (their scores are the bare keyword's, e.g. "cat" flagging photos of no cat).
CREATE OR REPLACE FUNCTION mediatag.unreviewed_tags(tag_group text) RETURNS TABLE (tag text)
LANGUAGE sql STABLE AS $$
    SELECT t.name FROM mediatag._group(tag_group) g JOIN mediatag.tag t ON t.group_id = g.id
    WHERE NOT EXISTS (SELECT 1 FROM mediatag.visual_label l WHERE l.tag_id = t.id)
      AND NOT EXISTS (SELECT 1 FROM mediatag.evaluation e WHERE e.tag_id = t.id)
      AND NOT EXISTS (SELECT 1 FROM mediatag.tag_prompt p WHERE p.tag_id = t.id AND p.origin <> 'tag_name')
    ORDER BY t.position
$$;

-- How many job workers are connected to this database: `mediatag serve` (its heartbeat connection, named by
-- service/periodic.py) or a session inside CALL mediatag.run_jobs(). Queued work with none waits forever, and the
-- UI says so. The owner reads other logins' backends through pg_read_all_stats (roles.sql).
CREATE OR REPLACE FUNCTION mediatag.job_workers() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int FROM pg_catalog.pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND (a.application_name = 'mediatag-heartbeat'
           OR (a.state = 'active' AND a.query ~* '\mrun_jobs\M'))
$$;

CREATE OR REPLACE FUNCTION mediatag._require_editor(what text) RETURNS void
LANGUAGE sql STABLE AS $$ SELECT mediatag._require_role('mediatag_editor', what) $$;

CREATE OR REPLACE FUNCTION mediatag.apply_tag_group(tag_group text, dataset text, version int DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g mediatag.tag_group := mediatag._group(tag_group);
    d mediatag.dataset;
    td mediatag.dataset;
    v int;
BEGIN
    SELECT x_.* INTO d FROM mediatag.dataset x_ WHERE x_.id = mediatag.dataset_id(dataset);
    PERFORM mediatag._require_write(d.id, 'applying a tag group');
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
        SET applied_version = excluded.applied_version, applied_at = now(), applied_by = session_user;
    RETURN mediatag._queue_scoring(g.id, d.id, v);
END $$;

-- Take the newest published version where "update available" shows.
CREATE OR REPLACE FUNCTION mediatag.update_tag_group(tag_group text, dataset text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT mediatag.apply_tag_group(tag_group => tag_group, dataset => dataset, version => NULL)
$$;

CREATE OR REPLACE FUNCTION mediatag.unapply_tag_group(tag_group text, dataset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._group(tag_group); d bigint := mediatag.dataset_id(dataset);
BEGIN
    PERFORM mediatag._require_write(d, 'removing a tag group from a dataset');
    IF d = g.training_dataset_id THEN
        RAISE EXCEPTION 'dataset "%" is the training dataset of "%": drop the group instead', dataset, g.name
            USING ERRCODE = 'object_in_use';
    END IF;
    PERFORM mediatag._drop_score_partitions(g, d);
    DELETE FROM mediatag.group_application a WHERE a.group_id = g.id AND a.dataset_id = d;
END $$;

CREATE OR REPLACE FUNCTION mediatag.tag_group_status(tag_group text)
RETURNS TABLE (dataset text, role text, applied_version int, scored_version int, latest_version int,
               update_available boolean, status text, error text, scored_at timestamptz, score_seconds real)
LANGUAGE sql STABLE AS $$
    SELECT d.name, a.role, a.applied_version, a.scored_version, g.published_version,
           coalesce(a.applied_version < g.published_version, false), a.status, a.error, a.scored_at, a.score_seconds
    FROM mediatag._group(tag_group) g
    JOIN mediatag.group_application a ON a.group_id = g.id
    JOIN mediatag.dataset d ON d.id = a.dataset_id
    WHERE mediatag._can_read_dataset(d.id)   -- a shareable group's use on datasets the caller may not see stays unseen
    ORDER BY a.role DESC, d.name
$$;

CREATE OR REPLACE FUNCTION mediatag.drop_tag_group(tag_group text, dataset text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g mediatag.tag_group := mediatag._editable_group(tag_group, dataset); s text;
BEGIN
    FOREACH s IN ARRAY mediatag._score_levels() LOOP   -- scoring.sql
        -- The views without CASCADE (a user's view over one stops the drop), the curated one too: its table's
        -- CASCADE below would take along what users built on it.
        EXECUTE format('DROP VIEW IF EXISTS mediatag_bi.%1$I, mediatag_data.%1$I', 'dt_' || g.slug || '_' || s);
        EXECUTE format('DROP TABLE IF EXISTS mediatag_data.%I CASCADE', 'dt_' || g.slug || '_' || s || '_scores');
    END LOOP;
    DELETE FROM mediatag.job WHERE kind = 'score_group' AND state IN ('queued', 'error')
      AND (payload ->> 'group_id')::bigint = g.id;
    DELETE FROM mediatag.tag_group WHERE id = g.id;
END $$;

-- New assets in a dataset: queue their scoring (alone, appended to the live partitions: see _score_assets_job)
-- for every group applied there. A group whose full job is still queued needs nothing: that job reads the
-- whole dataset when it runs, after these assets were committed. Pending asset lists of one (group, dataset)
-- are merged into one queued job. Returns the number of groups queued for. `payload_key` 'rescore_asset_ids' queues
-- assets that were scored already (their transcript arrived later: transcription.sql) to be scored again.
CREATE OR REPLACE FUNCTION mediatag._queue_scoring_for_new_assets(dataset_id bigint, new_assets bigint[],
                                                                  payload_key text DEFAULT 'asset_ids') RETURNS int
LANGUAGE plpgsql AS $$
DECLARE a record; n int := 0; j bigint;
BEGIN
    IF coalesce(cardinality(new_assets), 0) = 0 THEN
        RETURN 0;
    END IF;
    FOR a IN SELECT * FROM mediatag.group_application x
             WHERE x.dataset_id = _queue_scoring_for_new_assets.dataset_id AND x.applied_version IS NOT NULL LOOP
        n := n + 1;
        CONTINUE WHEN EXISTS (SELECT 1 FROM mediatag.job q WHERE q.kind = 'score_group' AND q.state = 'queued'
                              AND (q.payload ->> 'group_id')::bigint = a.group_id
                              AND (q.payload ->> 'dataset_id')::bigint = a.dataset_id);
        SELECT q.id INTO j FROM mediatag.job q
        WHERE q.kind = 'score_assets' AND q.state = 'queued' AND q.attempts = 0
          AND (q.payload ->> 'group_id')::bigint = a.group_id AND (q.payload ->> 'dataset_id')::bigint = a.dataset_id
        ORDER BY q.id LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF j IS NULL THEN
            PERFORM mediatag._enqueue_job('score_assets', jsonb_build_object('group_id', a.group_id,
                    'dataset_id', a.dataset_id, 'asset_ids', '[]'::jsonb) || jsonb_build_object(payload_key, to_jsonb(new_assets)));
        ELSE
            UPDATE mediatag.job q
               SET payload = jsonb_set(q.payload, ARRAY[payload_key], coalesce(q.payload -> payload_key, '[]') || to_jsonb(new_assets))
             WHERE q.id = j;
        END IF;
        UPDATE mediatag.group_application x SET status = 'queued'
        WHERE x.group_id = a.group_id AND x.dataset_id = a.dataset_id AND x.status <> 'error';
    END LOOP;
    RETURN n;
END $$;
