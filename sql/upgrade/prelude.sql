-- Upgrade prelude: drop every function and procedure of the extension; the install script that follows creates
-- them all again, so an upgrade may change any signature or return type. Objects that depend on them (triggers,
-- policies, views) are recreated by the install script too, and the runtime views by the postlude.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind
             FROM pg_catalog.pg_proc p
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                                        AND d.deptype = 'e'
             JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'mediatag' LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.fn);
    END LOOP;
END $$;
