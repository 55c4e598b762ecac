-- Upgrade postlude: the runtime objects in mediatag_data (score tables, dt_* views, per-dataset views) belong to
-- the owner role, their views are regenerated from this version's definitions, and none of them becomes a member
-- of the extension (members are not dumped by pg_dump; these must be).
DO $$
DECLARE g mediatag.tag_group; d text; r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'mediatag_data'::regnamespace AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO mediatag_owner', r.obj);
        IF r.relkind = 'v' THEN
            EXECUTE format('DROP VIEW %s', r.obj);
        ELSE
            EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, mediatag_viewer, mediatag_editor, mediatag_admin, mediatag_query',
                           r.obj);
        END IF;
    END LOOP;
    FOR g IN SELECT * FROM mediatag.tag_group LOOP
        IF to_regclass(format('mediatag_data.%I', mediatag._score_table(g, 'visual'))) IS NOT NULL THEN
            PERFORM mediatag._ensure_score_tables(g);
        END IF;
    END LOOP;
    FOR d IN SELECT name FROM mediatag.dataset LOOP
        PERFORM mediatag.refresh_dataset_views(d);
    END LOOP;
    -- Views regenerated above and tables a new version adds beside existing groups' (e.g. a new score level).
    FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid
                                          AND dep.deptype = 'e'
             WHERE c.relnamespace = 'mediatag_data'::regnamespace AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format('ALTER EXTENSION mediatag DROP %s %s', CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.obj);
    END LOOP;
END $$;
