-- The public API as the catalog shows it: every mediatag.* function and procedure whose name does not start
-- with "_", with its arguments and defaults, result and comment. Adding, changing or documenting a function
-- changes this file's expected output, so an API change shows as a diff in review (after an intended change:
-- make -C sql installcheck; make -C sql regress-accept).
CREATE EXTENSION mediatag CASCADE;

\pset format unaligned
\pset tuples_only on
SELECT format(E'%s(%s)\n    %s\n    %s\n', p.proname, pg_get_function_arguments(p.oid),
              CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'returns ' || pg_get_function_result(p.oid) END,
              replace(coalesce(obj_description(p.oid, 'pg_proc'), '(no comment)'), E'\n', E'\n    '))
FROM pg_proc p
WHERE p.pronamespace = 'mediatag'::regnamespace AND p.proname !~ '^_'
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid);

-- The words enum-like arguments allow (sql/src/types.sql): each domain and its CHECK.
SELECT format('%s: %s', t.typname, pg_get_constraintdef(c.oid))
FROM pg_type t JOIN pg_constraint c ON c.contypid = t.oid
WHERE t.typnamespace = 'mediatag'::regnamespace AND t.typtype = 'd'
ORDER BY t.typname, c.conname;
