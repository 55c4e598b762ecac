-- Privileges, granted last so they cover every object above. Viewers read; editors and admins also write
-- (functions check the role where an operation needs more, e.g. applying a group to another dataset).
GRANT USAGE ON SCHEMA mediatag, mediatag_data TO mediatag_viewer, mediatag_query;
GRANT SELECT ON ALL TABLES IN SCHEMA mediatag TO mediatag_viewer, mediatag_query;
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mediatag TO mediatag_editor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA mediatag TO mediatag_editor;
GRANT CREATE ON SCHEMA mediatag_data TO mediatag_editor;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mediatag TO mediatag_viewer;
