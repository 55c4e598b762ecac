-- Upgrade prelude: an upgrade changes only what changed and never takes a user's object along.
--
-- A function or procedure of the extension that this version defines again with the same arguments, result and
-- parameter names stays: the install script that follows replaces it in place (CREATE OR REPLACE), so the views,
-- functions, materialized views and grants that users built on it stay too. One that this version drops, or
-- changes in a way CREATE OR REPLACE cannot (its result, a parameter's name, a default removed), is dropped here
-- with whatever is the extension's own that uses it: its views, the triggers and policies on its tables (the install
-- script makes them again) and the generated views in mediatag_data and mediatag_bi that nobody but mediatag's
-- roles was granted (the postlude makes them again). When dropping one would take anything else along — a user's
-- view, function, materialized view, a generated view with a user's grant — the upgrade refuses before changing
-- anything and names each of them.
--
-- What this version defines comes from the headers of its CREATE FUNCTION / PROCEDURE statements (the statement up
-- to its body), spliced in below by upgrade/routine_headers.awk. Postgres reads them, not us: each is created in a
-- scratch schema, to learn its argument types as Postgres resolves them, then run against the extension's own
-- function with those arguments, and both are rolled back. So whether a function can be replaced is Postgres's own
-- answer, with no parsing of types or signatures here (and no list of signatures made at build time, which would
-- need a running server with pgvector and PL/Python where the extension is built).
DO $$
DECLARE
    headers text[] := ARRAY(SELECT btrim(h, E' \n') FROM regexp_split_to_table($headers$
@ROUTINE_HEADERS@
$headers$, '\n;\n') h WHERE btrim(h, E' \n') <> '');
    ext oid := (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'mediatag');
    product_roles text := (SELECT string_agg(quote_ident(r.rolname), ', ') FROM pg_catalog.pg_roles r
                           WHERE r.rolname IN ('mediatag_viewer', 'mediatag_editor', 'mediatag_admin', 'mediatag_query'));
    header text;
    body text;
    old oid;
    why text;
    replaceable oid[] := '{}';
    reasons jsonb := '{}';
    outside jsonb;
    lost text;
    refusals text[] := '{}';
    f record;
BEGIN
    FOREACH header IN ARRAY headers LOOP
        old := NULL;
        why := NULL;
        body := CASE WHEN header !~* '\mLANGUAGE\M' THEN ' LANGUAGE sql' ELSE '' END || ' AS ''''';
        BEGIN
            PERFORM pg_catalog.set_config('check_function_bodies', 'off', true);   -- a header has no body to check
            CREATE SCHEMA mediatag_upgrade_probe;
            EXECUTE regexp_replace(header, '^(CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\s+)([^\s(]+\.)?',
                                   '\1mediatag_upgrade_probe.', 'i') || body;
            SELECT p.oid INTO old FROM pg_catalog.pg_proc p
            JOIN pg_catalog.pg_proc probe ON probe.pronamespace = 'mediatag_upgrade_probe'::regnamespace
                                         AND probe.proname = p.proname AND probe.proargtypes = p.proargtypes
            JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                                       AND d.refobjid = ext AND d.deptype = 'e'
            WHERE p.pronamespace = 'mediatag'::regnamespace;
            IF old IS NOT NULL THEN
                EXECUTE header || body;
            END IF;
            RAISE EXCEPTION 'probe done' USING ERRCODE = 'MTU01';
        EXCEPTION
            WHEN SQLSTATE 'MTU01' THEN NULL;
            -- What CREATE OR REPLACE refuses: a new result, parameter name or kind, a default removed.
            WHEN invalid_function_definition OR wrong_object_type THEN why := SQLERRM;
            -- A type this version adds: no function of the old one has it, so the header is a new function (or
            -- a new result, and the old function with these arguments is dropped below like one this version lacks).
            WHEN undefined_object OR undefined_table THEN old := NULL;
        END;
        IF old IS NOT NULL AND why IS NULL THEN
            replaceable := replaceable || old;
        ELSIF old IS NOT NULL THEN
            reasons := reasons || jsonb_build_object(old::text, why);
        END IF;
    END LOOP;

    -- What a DROP ... CASCADE could take that is not the extension's: relations (views, materialized views, indexes)
    -- and functions outside it, and triggers, policies, rules, defaults and constraints of relations outside it
    -- (oids from 16384 on: not initdb's). Generated views in mediatag_data and mediatag_bi granted to nobody but
    -- mediatag's roles are the extension's to make again (mediatag_bi may not exist yet: matched by name).
    WITH member AS (
        SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE d.refobjid = ext AND d.deptype = 'e'
    ), own_rel AS (
        SELECT m.objid AS oid FROM member m WHERE m.classid = 'pg_catalog.pg_class'::regclass
    ), product AS (
        SELECT r.oid FROM pg_catalog.pg_roles r
        WHERE r.rolname IN ('mediatag_owner', 'mediatag_viewer', 'mediatag_editor', 'mediatag_admin', 'mediatag_query')
    ), objects (classid, objid) AS (
        SELECT 'pg_catalog.pg_class'::regclass, c.oid FROM pg_catalog.pg_class c
        WHERE c.relkind IN ('v', 'm', 'i', 'I') AND c.oid >= 16384 AND c.oid NOT IN (SELECT oid FROM own_rel)
          AND NOT (c.relkind = 'v'
                   AND c.relnamespace IN (SELECT n.oid FROM pg_catalog.pg_namespace n
                                          WHERE n.nspname IN ('mediatag_data', 'mediatag_bi'))
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(c.relacl) a
                                   WHERE a.grantee <> c.relowner AND a.grantee NOT IN (SELECT oid FROM product)))
        UNION ALL
        SELECT 'pg_catalog.pg_proc'::regclass, p.oid FROM pg_catalog.pg_proc p
        WHERE p.oid >= 16384
          AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid)
        UNION ALL
        SELECT 'pg_catalog.pg_trigger'::regclass, t.oid FROM pg_catalog.pg_trigger t
        WHERE NOT t.tgisinternal AND t.tgrelid NOT IN (SELECT oid FROM own_rel)
        UNION ALL
        SELECT 'pg_catalog.pg_policy'::regclass, p.oid FROM pg_catalog.pg_policy p
        WHERE p.polrelid NOT IN (SELECT oid FROM own_rel)
        UNION ALL
        SELECT 'pg_catalog.pg_rewrite'::regclass, r.oid FROM pg_catalog.pg_rewrite r WHERE r.rulename <> '_RETURN'
        UNION ALL
        SELECT 'pg_catalog.pg_attrdef'::regclass, a.oid FROM pg_catalog.pg_attrdef a
        WHERE a.oid >= 16384 AND a.adrelid NOT IN (SELECT oid FROM own_rel)
        UNION ALL
        SELECT 'pg_catalog.pg_constraint'::regclass, c.oid FROM pg_catalog.pg_constraint c
        WHERE c.contype IN ('c', 'x') AND c.conrelid NOT IN (SELECT oid FROM own_rel) AND c.oid >= 16384
    )
    SELECT jsonb_object_agg(o.classid::oid || '/' || o.objid, pg_catalog.pg_describe_object(o.classid, o.objid, 0))
    INTO outside FROM objects o;

    FOR f IN SELECT p.oid, p.oid::regprocedure AS fn, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
                    format('mediatag.%I(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS label
             FROM pg_catalog.pg_proc p
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                                        AND d.refobjid = ext AND d.deptype = 'e'
             WHERE p.oid <> ALL (replaceable) ORDER BY 4 LOOP
        -- Try the drop, see what went with it, undo it.
        lost := NULL;
        BEGIN
            PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
            EXECUTE format('DROP %s %s CASCADE', f.kind, f.fn);
            SELECT string_agg(o.value, ', ' ORDER BY o.value) INTO lost FROM jsonb_each_text(outside) o
            WHERE pg_catalog.pg_describe_object(split_part(o.key, '/', 1)::oid, split_part(o.key, '/', 2)::oid, 0) IS NULL;
            RAISE EXCEPTION 'trial done' USING ERRCODE = 'MTU01';
        EXCEPTION WHEN SQLSTATE 'MTU01' THEN NULL;
        END;
        IF lost IS NOT NULL THEN
            refusals := refusals || format('%s (%s) is used by %s', f.label,
                                           coalesce(reasons ->> f.oid::text, 'mediatag @EXTVERSION@ drops it or changes its arguments or result'),
                                           lost);
        END IF;
    END LOOP;
    IF cardinality(refusals) > 0 THEN
        RAISE EXCEPTION 'cannot update extension mediatag to @EXTVERSION@: it would drop objects that are not mediatag''s'
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = array_to_string(refusals, E'\n'),
                  HINT = 'Nothing was changed. Drop those objects (and create them again afterwards), then update again.';
    END IF;

    FOR f IN SELECT p.oid, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind
             FROM pg_catalog.pg_proc p
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                                        AND d.refobjid = ext AND d.deptype = 'e' LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = f.oid);   -- gone with another
        IF f.oid = ANY (replaceable) THEN
            -- Kept: its grants to mediatag's roles are the install script's to make again (roles.sql), as for a
            -- new function, so none of an older release's survives; grants to anyone else stay.
            IF product_roles IS NOT NULL THEN
                EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC, %s', f.kind, f.oid::regprocedure, product_roles);
            END IF;
        ELSE
            EXECUTE format('DROP %s %s CASCADE', f.kind, f.oid::regprocedure);
        END IF;
    END LOOP;
END $$;
