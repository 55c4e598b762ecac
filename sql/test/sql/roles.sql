-- Who may do what, as the README's access section says: one login per mediatag role (fixtures.sql), each call
-- made as that login (session_user, which mediatag's checks look at).
\set SHOW_CONTEXT never

-- Runs stmt as login in a subtransaction that is always rolled back, so the matrix changes nothing (the
-- session's authorization reverts with it). Says ok, or why not: denied (42501), unknown (P0002: what the login
-- may not see does not exist for it) or the SQLSTATE. What cannot be rolled back is kept from doing anything:
-- cancel_overdue_queries gets a limit no statement on this shared cluster has reached.
CREATE FUNCTION regress.try_as(login text, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM set_config('session_authorization', login, true);
        EXECUTE stmt;
        RAISE EXCEPTION USING ERRCODE = 'RGROK';
    EXCEPTION WHEN OTHERS THEN
        RETURN CASE SQLSTATE WHEN 'RGROK' THEN 'ok' WHEN '42501' THEN 'denied' WHEN 'P0002' THEN 'unknown'
                             ELSE SQLSTATE END;
    END;
END $$;

SELECT op, regress.try_as('regress_nobody', stmt) AS nobody, regress.try_as('regress_query', stmt) AS query,
       regress.try_as('regress_viewer', stmt) AS viewer, regress.try_as('regress_editor', stmt) AS editor,
       regress.try_as('regress_admin', stmt) AS admin
FROM (VALUES
    (1, 'read a dt_* view', 'SELECT count(*) FROM mediatag_data.dt_celebrities_visual'),
    (2, 'read a per-dataset view', 'SELECT count(*) FROM mediatag_data.trailers_keyframes'),
    (3, 'read a base table', 'SELECT count(*) FROM mediatag.keyframe'),
    (4, 'read the settings', 'SELECT count(*) FROM mediatag.setting'),
    (5, 'call a read function', 'SELECT * FROM mediatag.dataset_summary()'),
    (6, 'see a restricted dataset', $$SELECT mediatag.dataset_id('vault')$$),
    (7, 'preview a tag', $$SELECT * FROM mediatag.preview('Celebrities', 'Will Smith')$$),
    (8, 'search by text', $$SELECT * FROM mediatag.search('trailers', query => 'Will Smith', k => 5)$$),
    (9, 'write a base table', 'UPDATE mediatag.tag SET threshold = 0.4'),
    (10, 'create in mediatag_data', 'CREATE VIEW mediatag_data.planted AS SELECT 1'),
    (11, 'create a temporary table', 'CREATE TEMP TABLE planted (x int)'),
    (12, 'create a large object', 'SELECT lo_create(0)'),
    (13, 'create a dataset', $$SELECT mediatag.create_dataset('matrix', 'regress-visual', 32, 'regress-text', 32)$$),
    (14, 'create a tag group', $$SELECT mediatag.create_tag_group('trailers', 'Matrix', ARRAY['dog'])$$),
    (15, 'add a prompt', $$SELECT mediatag.add_prompt('Celebrities', 'Will Smith', 'a tuxedo')$$),
    (16, 'label keyframes', $$SELECT mediatag.label_keyframes('Celebrities', 'Will Smith', ARRAY[103], true)$$),
    (17, 'set a threshold', $$SELECT mediatag.set_threshold('Celebrities', 'Taylor Swift', 0.6)$$),
    (18, 'publish a group', $$SELECT mediatag.publish_tag_group('Celebrities')$$),
    (19, 'apply a shareable group', $$SELECT mediatag.apply_tag_group('Celebrities', 'vault')$$),
    (20, 'start an evaluation', $$SELECT mediatag.start_evaluation('Celebrities', 'Will Smith', size => 10)$$),
    (21, 'create a filter index', $$SELECT mediatag.create_filter_index('episodes', '{"EpisodeName": "Pilot"}')$$),
    (22, 'purge jobs (default age)', 'SELECT mediatag.purge_jobs()'),
    (23, 'purge jobs (1 minute)', $$SELECT mediatag.purge_jobs(interval '1 minute')$$),
    (24, 'grant dataset access', $$SELECT mediatag.grant_dataset_access('trailers', 'regress_viewer')$$),
    (25, 'set the embedding service', $$SELECT mediatag.set_service('http://127.0.0.1:8765')$$),
    (26, 'cancel overdue queries', $$SELECT * FROM mediatag.cancel_overdue_queries(interval '100 years')$$),
    (27, 'drop a dataset', $$SELECT mediatag.drop_dataset('episodes')$$)
) AS ops(n, op, stmt)
ORDER BY n;

-- Secret groups exist only for those who see their training dataset. Vault is open to regress_editor alone (and
-- admins); its group stays secret, and Celebrities (shareable) is applied there too.
SELECT mediatag.create_tag_group('vault', 'Vault Secrets', ARRAY['Will Smith']) > 0 AS created;
SELECT mediatag.publish_tag_group('Vault Secrets');
SELECT mediatag.apply_tag_group('Celebrities', 'vault') > 0 AS queued;
CALL mediatag.run_jobs();

SET SESSION AUTHORIZATION regress_viewer;
SELECT name, training_dataset, visibility FROM mediatag.list_tag_groups() ORDER BY name;
SELECT * FROM mediatag.group_overview('Vault Secrets');
SELECT mediatag.apply_tag_group('Vault Secrets', 'trailers');
SELECT (SELECT count(*) FROM mediatag.tag_group) AS groups, (SELECT count(*) FROM mediatag.tag_prompt) AS prompts,
       (SELECT count(*) FROM mediatag.dataset) AS datasets, (SELECT count(*) FROM mediatag.keyframe) AS keyframes;
SELECT count(*) FROM mediatag_data.dt_vault_secrets_visual;
-- The shareable group's scores show only for the datasets the login sees.
SELECT dataset_id, count(*) FROM mediatag_data.dt_celebrities_visual GROUP BY 1 ORDER BY 1;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION regress_query;
SELECT count(*) FROM mediatag_data.dt_vault_secrets_visual;
SELECT dataset_id, count(*) FROM mediatag_data.dt_celebrities_visual GROUP BY 1 ORDER BY 1;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION regress_editor;
SELECT name, training_dataset, visibility FROM mediatag.list_tag_groups() ORDER BY name;
SELECT tag, visual_positive FROM mediatag.group_overview('Vault Secrets');
SELECT count(*) FROM mediatag_data.dt_vault_secrets_visual;
SELECT dataset_id, count(*) FROM mediatag_data.dt_celebrities_visual GROUP BY 1 ORDER BY 1;
-- A secret group is used on its training dataset only.
SELECT mediatag.apply_tag_group('Vault Secrets', 'trailers');
RESET SESSION AUTHORIZATION;

-- An editor who may only read a dataset is told who can give more.
SELECT mediatag.grant_dataset_access('vault', 'regress_editor', level => 'viewer');
SET SESSION AUTHORIZATION regress_editor;
SELECT mediatag.add_prompt('Vault Secrets', 'Will Smith', 'a tuxedo');
RESET SESSION AUTHORIZATION;
SELECT mediatag.grant_dataset_access('vault', 'regress_editor', level => 'editor');
