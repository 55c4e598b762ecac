"""Writing a batch as any editor: COPY its rows into the staging tables the extension provides, then move them into
place with mediatag.ingest_staged (editor_ingest.sql), in the caller's transaction. No login but the extension's
owner writes the asset, shot, keyframe or transcript tables themselves; the move checks the login's rights."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

ASSET_COLUMNS = (
    ("ingest_run_id", "int8"),
    ("item", "int4"),
    ("kind", "text"),
    ("path", "text"),
    ("sha256", "text"),
    ("size_bytes", "int8"),
    ("duration_ms", "int4"),
    ("width", "int4"),
    ("height", "int4"),
    ("tech", "jsonb"),
    ("metadata", "jsonb"),
    ("status", "text"),
    ("error", "text"),
    ("replaces", "int8"),
)
SHOT_COLUMNS = (("ingest_run_id", "int8"), ("item", "int4"), ("shot_index", "int4"), ("start_ms", "int4"),
                ("end_ms", "int4"))  # fmt: skip
KEYFRAME_COLUMNS = (
    ("ingest_run_id", "int8"),
    ("item", "int4"),
    ("shot_index", "int4"),
    ("keyframe_index", "int4"),
    ("time_ms", "int4"),
    ("image_path", "text"),
    ("width", "int4"),
    ("height", "int4"),
    ("embedding", "halfvec"),
)
# A transcript segment's own columns, staged here and COPYed straight by the operator's back-fill (pipeline.py).
SEGMENT_FIELDS = (
    ("segment_index", "int4"),
    ("start_ms", "int4"),
    ("end_ms", "int4"),
    ("text", "text"),
    ("source", "text"),
    ("language", "text"),
    ("embedding", "halfvec"),
)
SEGMENT_COLUMNS = (("ingest_run_id", "int8"), ("item", "int4"), *SEGMENT_FIELDS)


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> None:
    """Binary COPY of `rows` (one value per column, in order) into mediatag.<table>, in the caller's transaction."""
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    with conn.cursor().copy(f"COPY mediatag.{table} ({names}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types([kind for _, kind in columns])
        for r in rows:
            copy.write_row(r)


def move_batch(
    conn: psycopg.Connection,
    run_id: int,
    assets: Sequence[tuple],
    shots: Sequence[tuple],
    keyframes: Sequence[tuple],
    segments: Sequence[tuple],
) -> dict[int, int]:
    """Stages one batch (rows without their leading run id: it is added here) and moves it into the dataset, in
    the caller's transaction. Returns item -> asset id of the files stored (not those another ingest stored first,
    nor error assets)."""
    for table, columns, rows in (
        ("ingest_stage_asset", ASSET_COLUMNS, assets),
        ("ingest_stage_shot", SHOT_COLUMNS, shots),
        ("ingest_stage_keyframe", KEYFRAME_COLUMNS, keyframes),
        ("ingest_stage_segment", SEGMENT_COLUMNS, segments),
    ):
        copy_rows(conn, table, columns, [(run_id, *r) for r in rows])
    return dict(conn.execute("SELECT item, asset_id FROM mediatag.ingest_staged(%s)", (run_id,)).fetchall())
