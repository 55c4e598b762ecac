CREATE OR REPLACE FUNCTION mediatag.version() RETURNS jsonb
LANGUAGE plpython3u STABLE AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_version
return sql_version.version(plpy, "@PYDIR@")
$$;
