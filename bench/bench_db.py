"""Plumbing the benchmarks share: a database of their own on the embedded cluster, and (synthetic-vector
benchmarks) the dataset of synthetic models their loaders fill, kept between runs when it already holds the
keyframes asked for (loading 1M keyframes takes minutes)."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from mediatag.cluster import default_cluster

BENCH_DB = "mediatag_bench"


def bench_database_url(name: str = BENCH_DB) -> str:
    """The URL of a bench database (default: the synthetic benchmarks' one), starting the embedded cluster and
    creating the database where needed."""
    cluster = default_cluster()
    cluster.start()
    cluster.ensure_database(name)
    return cluster.url(name)


def run_jobs(c: psycopg.Connection) -> tuple[int, float]:
    """The queued jobs run in this session, as the worker runs them: (how many ran, wall seconds)."""
    t0 = time.perf_counter()
    ran = c.execute("CALL mediatag.run_jobs(10, 'bench', NULL)").fetchone()[0]
    return ran, time.perf_counter() - t0


def last_job_result(c: psycopg.Connection, kind: str) -> dict[str, Any]:
    """The result (its own timing and counts) of the newest job of `kind` that finished."""
    return c.execute(
        "SELECT result FROM mediatag.job WHERE kind = %s AND state = 'done' ORDER BY id DESC LIMIT 1", (kind,)
    ).fetchone()[0]


def reset_synthetic_dataset(conn: psycopg.Connection, dataset: str, dim: int, keyframes: int) -> int | None:
    """The id of `dataset` (created over the synthetic service's models: `synthetic-<dim>` and a 64-d text model)
    emptied of its assets for a fresh load; None when it already holds `keyframes` keyframes, to be reused."""
    did = conn.execute(
        "SELECT mediatag.create_dataset(%s, %s, %s, %s, %s)",
        (dataset, f"synthetic-{dim}", dim, "synthetic-text-64", 64),
    ).fetchone()[0]
    conn.commit()
    have = conn.execute("SELECT count(*) FROM mediatag.keyframe WHERE dataset_id = %s", (did,)).fetchone()[0]
    if have == keyframes:
        print(f"  reusing {keyframes:,} keyframes already loaded")
        return None
    conn.execute("DELETE FROM mediatag.asset WHERE dataset_id = %s", (did,))
    return did
