"""The PL/Python body of sql/src/version.sql: the versions of everything the extension runs on (mediatag.version)."""

from __future__ import annotations

import json
import platform

import numpy
import scipy
import sklearn

from .plpy_support import Plpy


def version(plpy: Plpy, package_dir: str) -> str:
    """mediatag.version as JSON text: mediatag, pgvector, PostgreSQL, Python and the numeric libraries, and
    package_dir, the folder the SQL body loads this package from (one per installed extension version)."""
    ext = plpy.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('mediatag', 'vector')")
    versions = {r["extname"]: r["extversion"] for r in ext}
    return json.dumps(
        {
            "mediatag": versions.get("mediatag"),
            "pgvector": versions.get("vector"),
            "postgres": plpy.execute("SELECT current_setting('server_version') AS v")[0]["v"],
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "sklearn": sklearn.__version__,
            "ml_package": package_dir,
        }
    )
