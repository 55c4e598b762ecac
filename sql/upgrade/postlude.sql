-- Upgrade postlude: the runtime objects in mediatag_data (score tables, dt_* views, per-dataset views) and in
-- mediatag_bi (the same views curated for BI tools) belong to the owner role, their views are regenerated from this
-- version's definitions in place (mediatag._replace_view: the grants and whatever users built on them stay, or the
-- upgrade refuses naming what depends on a view that must change its columns), and none of them stays a member of
-- the extension (members are not dumped by pg_dump; these must be).
DO $$
DECLARE
    g mediatag.tag_group; d text; r record;
    runtime oid[] := ARRAY['mediatag_data'::regnamespace, 'mediatag_bi'::regnamespace]::oid[];
    -- mediatag_bi also holds the catalog views of the install script that just ran (extension members by now):
    -- those are its own, grants included, and stay members.
    catalog oid[] := ARRAY(SELECT dep.objid FROM pg_catalog.pg_depend dep JOIN pg_catalog.pg_class c ON c.oid = dep.objid
                           WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.deptype = 'e'
                             AND c.relnamespace = 'mediatag_bi'::regnamespace);
BEGIN
    -- A group's segment table from before segments were partitioned becomes partitioned (segments.sql) ahead of the
    -- ownership pass below, so that what the conversion creates belongs to the owner role too.
    FOR g IN SELECT * FROM mediatag.tag_group LOOP
        IF mediatag._segment_table_kind(g) = 'r' THEN
            PERFORM mediatag._ensure_segment_table(g);
        END IF;
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS obj, c.relkind,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                            WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid
                              AND dep.deptype = 'e') AS member
             FROM pg_catalog.pg_class c
             WHERE c.relnamespace = ANY (runtime) AND c.oid <> ALL (catalog) AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO mediatag_owner', r.obj);
        -- What an older release granted mediatag's roles is this version's to grant again; others' grants stay.
        EXECUTE format('REVOKE ALL ON %s FROM %s mediatag_viewer, mediatag_editor, mediatag_admin, mediatag_query',
                       r.obj, CASE WHEN r.relkind = 'v' THEN '' ELSE 'PUBLIC,' END);
        -- An extension script may replace only the extension's own objects: a view joins it while it is
        -- regenerated and leaves it below.
        IF r.relkind = 'v' AND NOT r.member THEN
            EXECUTE format('ALTER EXTENSION mediatag ADD VIEW %s', r.obj);
        END IF;
    END LOOP;
    FOR g IN SELECT * FROM mediatag.tag_group LOOP
        IF to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'visual'))) IS NOT NULL THEN
            PERFORM mediatag._ensure_score_tables(g);
        END IF;
        IF mediatag._segment_table_kind(g) IS NOT NULL THEN   -- its views again
            PERFORM mediatag._ensure_segment_table(g);
        END IF;
    END LOOP;
    FOR d IN SELECT name FROM mediatag.dataset LOOP
        PERFORM mediatag.refresh_dataset_views(d);
    END LOOP;
    -- Views regenerated above and tables a new version adds beside existing groups' (e.g. a new score level).
    FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid
                                          AND dep.deptype = 'e'
             WHERE c.relnamespace = ANY (runtime) AND c.oid <> ALL (catalog) AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format('ALTER EXTENSION mediatag DROP %s %s', CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.obj);
    END LOOP;
END $$;
