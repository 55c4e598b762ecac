-- The suite's logins go; its database stays for a look after a failure (pg_regress drops it at the next run).
DROP OWNED BY regress_nobody, regress_query, regress_viewer, regress_editor, regress_admin;
DROP ROLE regress_nobody, regress_query, regress_viewer, regress_editor, regress_admin;
