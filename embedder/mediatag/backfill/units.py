"""Work units: id ranges of the rows that lack a vector of a model, read from Postgres (mediatag.backfill_units).
A unit is small and self-describing, so any worker anywhere can take it; its rows are re-read when it runs, so a
unit that an earlier, killed run finished is empty and costs nothing."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True, slots=True)
class WorkUnit:
    first_id: int
    last_id: int
    rows: int


def list_units(conn: psycopg.Connection, dataset: str, modality: str, model: str, unit_rows: int) -> list[WorkUnit]:
    rows = conn.execute(
        "SELECT first_id, last_id, rows FROM mediatag.backfill_units(%s, %s, %s, %s)",
        (dataset, modality, model, unit_rows),
    ).fetchall()
    conn.commit()
    return [WorkUnit(*r) for r in rows]


def unit_inputs(
    conn: psycopg.Connection, dataset: str, modality: str, model: str, first_id: int, last_id: int
) -> list[tuple[int, str]]:
    """(row id, image path or segment text) of the unit's rows still lacking a vector, by id."""
    rows = conn.execute(
        "SELECT id, input FROM mediatag.backfill_inputs(%s, %s, %s, %s, %s)",
        (dataset, modality, model, first_id, last_id),
    ).fetchall()
    conn.commit()
    return rows
