-- Row-level security: what a role sees when it reads the base tables directly (psql, BI tools). Functions run as
-- the owner role, which owns the tables and so is not subject to these policies: they check access themselves
-- through the lookups (mediatag.dataset_id, mediatag._group, mediatag._evaluation) and _require_write.
-- Every table gets RLS; a table with a dataset_id column is readable where its dataset is; the others have the
-- policies below, and a table with no policy shows no rows to anyone but the owner (so a new table is closed
-- until someone decides otherwise).

CREATE OR REPLACE FUNCTION mediatag._set_policy(tbl regclass, name text, using_expr text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP POLICY IF EXISTS %I ON %s', name, tbl);
    EXECUTE format('CREATE POLICY %I ON %s FOR SELECT USING (%s)', name, tbl, using_expr);
END $$;

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS tbl,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'dataset_id'
                            AND NOT a.attisdropped) AS has_dataset
             FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'mediatag'::regnamespace AND c.relkind IN ('r', 'p')
               -- COPY FROM refuses tables under RLS: the ingest staging tables are fenced by privileges instead
               -- (INSERT only, no SELECT; editor_ingest.sql).
               AND c.relname NOT LIKE 'ingest\_stage\_%' LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.tbl);
        IF r.has_dataset THEN
            PERFORM mediatag._set_policy(r.tbl, 'read_by_dataset',
                                         'dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[])');
        END IF;
    END LOOP;
END $$;

SELECT mediatag._set_policy('mediatag.dataset', 'read_by_dataset', 'id = ANY ((SELECT mediatag._readable_datasets())::bigint[])');
SELECT mediatag._set_policy('mediatag.shot', 'read_by_dataset',
    'asset_id IN (SELECT a.id FROM mediatag.asset a WHERE a.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]))');
SELECT mediatag._set_policy('mediatag.tag_group', 'read_visible', 'id = ANY ((SELECT mediatag._visible_groups())::bigint[])');
SELECT mediatag._set_policy('mediatag.tag', 'read_visible', 'group_id = ANY ((SELECT mediatag._visible_groups())::bigint[])');
SELECT mediatag._set_policy('mediatag.group_version', 'read_visible', 'group_id = ANY ((SELECT mediatag._visible_groups())::bigint[])');
SELECT mediatag._set_policy('mediatag.group_version_tag', 'read_visible',
                            'group_id = ANY ((SELECT mediatag._visible_groups())::bigint[])');
SELECT mediatag._set_policy('mediatag.tag_prompt', 'read_visible',
    'tag_id IN (SELECT t.id FROM mediatag.tag t WHERE t.group_id = ANY ((SELECT mediatag._visible_groups())::bigint[]))');
SELECT mediatag._set_policy('mediatag.classifier', 'read_visible',
    'tag_id IN (SELECT t.id FROM mediatag.tag t WHERE t.group_id = ANY ((SELECT mediatag._visible_groups())::bigint[]))');
SELECT mediatag._set_policy('mediatag.visual_label', 'read_by_dataset',
    'tag_id IN (SELECT t.id FROM mediatag.tag t WHERE t.group_id = ANY ((SELECT mediatag._groups_of_readable_datasets())::bigint[]))');
SELECT mediatag._set_policy('mediatag.evaluation_item', 'read_by_dataset',
    'evaluation_id IN (SELECT e.id FROM mediatag.evaluation e WHERE e.dataset_id = ANY ((SELECT mediatag._readable_datasets())::bigint[]))');
SELECT mediatag._set_policy('mediatag.baseline_prompt', 'read_all', 'true');
SELECT mediatag._set_policy('mediatag.dataset_access', 'read_by_dataset',
    'mediatag._is_admin() OR pg_catalog.pg_has_role(session_user, grantee::oid, ''MEMBER'')');
SELECT mediatag._set_policy('mediatag.job', 'read_admin', 'mediatag._is_admin()');
