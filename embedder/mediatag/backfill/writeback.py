"""Writing a unit's vectors back: binary COPY into this session's own scratch table, then one call of
mediatag.backfill_store with the rows as arrays, in one transaction. The scratch table is the caller's, read by the
caller's own query; the SECURITY DEFINER function only ever sees plain array arguments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psycopg
from pgvector import HalfVector

_SCRATCH = "pg_temp.mediatag_backfill_rows"


def store_vectors(
    conn: psycopg.Connection, dataset: str, modality: str, model: str, ids: Sequence[int], vectors: np.ndarray
) -> int:
    """Stores one vector per id for (dataset, modality, model); commits on its own. Returns the rows stored."""
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids but {len(vectors)} vectors")
    with conn.transaction():
        conn.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_SCRATCH} (id bigint, embedding halfvec) ON COMMIT DELETE ROWS"
        )
        with conn.cursor().copy(f"COPY {_SCRATCH} (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "halfvec"])
            for i, v in zip(ids, vectors, strict=True):
                copy.write_row((int(i), HalfVector(v)))
        stored = conn.execute(
            f"""SELECT mediatag.backfill_store(%s, %s, %s, coalesce(array_agg(id ORDER BY id), '{{}}'),
                                               coalesce(array_agg(embedding ORDER BY id), '{{}}'))
                FROM {_SCRATCH}""",
            (dataset, modality, model),
        ).fetchone()[0]
    return stored
