CREATE OR REPLACE FUNCTION mediatag.version() RETURNS jsonb
LANGUAGE plpython3u STABLE AS $$
import json
import platform
import sys
if "@PYDIR@" not in sys.path:
    sys.path.insert(0, "@PYDIR@")
import numpy
import scipy
import sklearn
ext = plpy.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('mediatag', 'vector')")
versions = {r["extname"]: r["extversion"] for r in ext}
return json.dumps({
    "mediatag": versions.get("mediatag"),
    "pgvector": versions.get("vector"),
    "postgres": plpy.execute("SELECT current_setting('server_version') AS v")[0]["v"],
    "python": platform.python_version(),
    "numpy": numpy.__version__,
    "scipy": scipy.__version__,
    "sklearn": sklearn.__version__,
    "ml_package": "@PYDIR@",
})
$$;
