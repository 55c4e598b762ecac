"""The Python SDK: `mediatag.Client`, a thin layer over the SQL functions.

Every public SQL function `mediatag.<name>` is the method `Client.<name>` with the same arguments
(`client.preview(tag_group=..., tag=...)` is `SELECT * FROM mediatag.preview(tag_group => ..., tag => ...)`), built
from the catalog when the client connects (see sdk_functions.py; `sdk_functions.pyi` types them for editors).
Written here by hand are only the methods that add something: files (`ingest`, the concept files of
sdk_concepts.py), a group from a list or from lines of text, reflected SQLAlchemy tables and DataFrames.
Built on a SQLAlchemy 2 engine (psycopg 3 underneath): pass any SQLAlchemy/libpq URL.

`read_url` (default: MEDIATAG_READ_URL) names a streaming replica (`mediatag db replica`): calls of functions
declared STABLE or IMMUTABLE run there, everything else on `url` (see sdk_calls.CatalogCalls). `query` and
`dataframe` take any SQL, so they run on the primary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, text
from sqlalchemy.engine import Engine

from .catalog import Catalog, load
from .cluster import database_url
from .sdk_calls import CatalogCalls
from .sdk_concepts import ConceptFiles
from .sdk_faces import FacePhotos
from .sdk_functions import SqlFunctions


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Client(ConceptFiles, FacePhotos, SqlFunctions, CatalogCalls):
    def __init__(self, url: str | None = None, *, engine: Engine | None = None, read_url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = engine or create_engine(_sqlalchemy_url(self.url), pool_pre_ping=True)
        self.read_url = read_url or os.environ.get("MEDIATAG_READ_URL") or None
        self.read_engine = create_engine(_sqlalchemy_url(self.read_url), pool_pre_ping=True) if self.read_url else None
        self._metadata = MetaData()
        self.catalog = self._connect()

    def _connect(self) -> Catalog:
        from .db import ensure_extension

        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            ensure_extension(driver)
            catalog = load(driver)
            driver.rollback()  # the catalog's read-only transaction, so the pooled connection goes back idle
            return catalog

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text(sql), params)]
        self._wrote()  # any SQL may write: later reads wait for the replica to have it
        return rows

    def table(self, name: str, schema: str = "mediatag_data") -> Table:
        """A reflected SQLAlchemy Table for a view or score table (e.g. 'dt_celebrities_visual'), with pgvector's
        types for vector columns, to compose your own queries."""
        import pgvector.sqlalchemy  # noqa: F401 — registers vector/halfvec types for reflection

        return Table(name, self._metadata, schema=schema, autoload_with=self.engine)

    def dataframe(self, sql: str, **params: Any):
        import pandas as pd

        with self.engine.connect() as conn:
            return pd.read_sql(text(sql), conn, params=params)

    def ingest(self, dataset: str, paths: Sequence[str | Path], **options: Any):
        from .db import connect
        from .ingest import IngestOptions, ingest

        with connect(self.url) as conn:
            done = ingest(conn, dataset, paths, IngestOptions(progress=False, **options))
        self._wrote()
        return done

    def create_tag_group(self, dataset: str, name: str, tags: Sequence[str] | str, visibility: str = "secret") -> int:
        """A group with one tag per keyword: `tags` is a list, or text with one keyword per line (SQL's `keywords`
        overload, which reports a bad line by its number)."""
        if isinstance(tags, str):
            return self.call("create_tag_group", dataset=dataset, name=name, keywords=tags, visibility=visibility)
        return self.call("create_tag_group", dataset=dataset, name=name, tags=list(tags), visibility=visibility)
