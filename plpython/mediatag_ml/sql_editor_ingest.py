"""PL/Python of sql/src/editor_ingest.sql: where a path really leads on the database server."""

from __future__ import annotations

import os


def real_path(path: str) -> str | None:
    """`path` with symlinks and ".." resolved (as far as it exists); None for a relative path."""
    if not path.startswith("/"):
        return None
    return os.path.realpath(path)
