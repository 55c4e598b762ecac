-- From 0.1.0: table changes the re-run install script cannot make by itself (it creates only what is missing).
-- "Who" columns record the login (session_user), not the role a function runs as.
ALTER TABLE mediatag.tag_group ALTER COLUMN created_by SET DEFAULT session_user;
ALTER TABLE mediatag.visual_label ALTER COLUMN labeled_by SET DEFAULT session_user;
ALTER TABLE mediatag.group_version ALTER COLUMN published_by SET DEFAULT session_user;
ALTER TABLE mediatag.group_application ALTER COLUMN applied_by SET DEFAULT session_user;
ALTER TABLE mediatag.evaluation ALTER COLUMN created_by SET DEFAULT session_user;
