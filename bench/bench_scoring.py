"""Scoring benchmark: one group of 20 tags over N keyframes (default 1,000,000 synthetic 512-d unit vectors with
low-rank structure), against a numpy matrix-multiply lower bound and pgvector's own wide CREATE TABLE AS over the
same vectors in the same run, and the least SQL each further output of the job needs (the floor of any SQL form of
the job); then the same job again over its own results (a rescoring); 1,000 new keyframes ingested and scored
incrementally (printed beside the full job's time); per-tag queries with their EXPLAIN ANALYZE plans (the full score
table vs the hits table); and the retrain + re-preview latency after one more label.

    python bench/bench_scoring.py [--keyframes 1000000] [--dim 512] [--tags 20]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector import HalfVector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import BENCH_DB, bench_database_url, last_job_result, reset_synthetic_dataset, run_jobs  # noqa: E402
from synthetic_service import start  # noqa: E402

from mediatag.db import connect  # noqa: E402

KF_PER_VIDEO = 1000
KF_PER_SHOT = 10
# The scoring job's settings (_score_group_job): parallel plans at any size, and its sorts in memory without JIT.
PARALLEL = (("parallel_setup_cost", "0"), ("parallel_tuple_cost", "0"), ("min_parallel_table_scan_size", "0"))
SORTS = (("work_mem", "'256MB'"), ("jit", "off"))


def set_local(c: psycopg.Connection, *settings: tuple[str, str]) -> None:
    for name, value in settings:
        c.execute(f"SET LOCAL {name} = {value}")


def synthetic_vectors(n: int, dim: int, rank: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered, low-rank unit vectors (real embeddings are far from uniform)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, dim)).astype(np.float32)
    centers = rng.standard_normal((256, rank)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):
        m = min(step, n - s)
        z = centers[rng.integers(0, 256, m)] + 0.5 * rng.standard_normal((m, rank)).astype(np.float32)
        x = z @ basis + 0.3 * rng.standard_normal((m, dim)).astype(np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out, basis


def load(conn: psycopg.Connection, dataset: str, X: np.ndarray) -> None:
    n, dim = X.shape
    did = reset_synthetic_dataset(conn, dataset, dim, n)
    if did is None:
        return
    t0 = time.perf_counter()
    videos = (n + KF_PER_VIDEO - 1) // KF_PER_VIDEO
    asset_ids = [
        r[0]
        for r in conn.execute(
            "INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, metadata) "
            "SELECT %s, 'video', '/bench/v' || i || '.mp4', encode(sha256(('bench' || i)::bytea), 'hex'), "
            "jsonb_build_object('SeriesName', 'Series ' || (i %% 10), 'EpisodeName', 'Episode ' || i) "
            "FROM generate_series(1, %s) i RETURNING id",
            (did, videos),
        ).fetchall()
    ]
    shots = conn.execute(
        "INSERT INTO mediatag.shot (asset_id, shot_index, start_ms, end_ms) "
        "SELECT a, s, s * 10000, s * 10000 + 9999 FROM unnest(%s::bigint[]) a, generate_series(0, %s) s "
        "RETURNING id, asset_id, shot_index",
        (asset_ids, KF_PER_VIDEO // KF_PER_SHOT - 1),
    ).fetchall()
    shot_of = {(a, s): i for i, a, s in shots}
    with conn.cursor().copy(
        "COPY mediatag.keyframe (dataset_id, asset_id, shot_id, keyframe_index, time_ms, "
        "image_path, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as cp:
        cp.set_types(["int8", "int8", "int8", "int4", "int4", "text", "halfvec"])
        for i in range(n):
            a = asset_ids[i // KF_PER_VIDEO]
            j = i % KF_PER_VIDEO
            cp.write_row((did, a, shot_of[(a, j // KF_PER_SHOT)], j, j * 1000, f"/bench/kf{i}.jpg", HalfVector(X[i])))
    conn.commit()
    conn.execute("SELECT mediatag.after_ingest(%s)", (dataset,))  # their post-ingest step: nothing applied yet
    conn.commit()
    conn.execute("VACUUM ANALYZE mediatag.keyframe") if conn.autocommit else None
    print(f"  loaded {n:,} keyframes in {time.perf_counter() - t0:.1f}s")


def add_video(conn: psycopg.Connection, dataset: str, X: np.ndarray, tag: str) -> int:
    """One more video of len(X) keyframes (10 per shot), written as the ingester writes it; returns its asset id."""
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
    asset = conn.execute(
        "INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, metadata) VALUES (%s, 'video', %s, "
        "encode(sha256(%s::bytea), 'hex'), '{\"SeriesName\": \"New\"}') RETURNING id",
        (did, f"/bench/new/{tag}.mp4", f"new {tag}"),
    ).fetchone()[0]
    shots = dict(
        conn.execute(
            "INSERT INTO mediatag.shot (asset_id, shot_index, start_ms, end_ms) "
            "SELECT %s, s, s * 10000, s * 10000 + 9999 FROM generate_series(0, %s) s RETURNING shot_index, id",
            (asset, (len(X) - 1) // KF_PER_SHOT),
        ).fetchall()
    )
    with conn.cursor().copy(
        "COPY mediatag.keyframe (dataset_id, asset_id, shot_id, keyframe_index, time_ms, image_path, embedding) "
        "FROM STDIN WITH (FORMAT BINARY)"
    ) as cp:
        cp.set_types(["int8", "int8", "int8", "int4", "int4", "text", "halfvec"])
        for j in range(len(X)):
            path = f"/bench/new/{tag}/{j}.jpg"
            cp.write_row((did, asset, shots[j // KF_PER_SHOT], j, j * 1000, path, HalfVector(X[j])))
    conn.commit()
    return asset


def pgvector_wide(c: psycopg.Connection, dataset: str, group: str) -> float:
    """Seconds for pgvector's own one-pass wide score table over the dataset (keyframe id and one real[] of every
    tag's sigmoid(x·w + b)), with the parallel settings the scoring job uses: the floor the job is measured against."""
    terms = [
        f"(1 / (1 + exp(-({b} - (k.embedding <#> '{w}'::halfvec)))))::real"
        for w, b in c.execute(
            "SELECT c.weights::text, c.bias FROM mediatag.group_version_tag vt JOIN mediatag.classifier c ON c.id = "
            "vt.visual_classifier_id JOIN mediatag.tag_group g ON g.id = vt.group_id WHERE lower(g.name) = lower(%s) "
            "AND vt.version = (SELECT max(version) FROM mediatag.group_version_tag x WHERE x.group_id = g.id) "
            "ORDER BY vt.position",
            (group,),
        )
    ]
    did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
    with c.transaction():
        set_local(c, *PARALLEL)
        c.execute("DROP TABLE IF EXISTS public.bench_pgvector_wide")
        t0 = time.perf_counter()
        c.execute(
            f"CREATE TABLE public.bench_pgvector_wide AS SELECT k.id, ARRAY[{', '.join(terms)}] AS scores "
            f"FROM mediatag.keyframe k WHERE k.dataset_id = {did}"
        )
        secs = time.perf_counter() - t0
        c.execute("DROP TABLE public.bench_pgvector_wide")
    return secs


def least_sql(c: psycopg.Connection, dataset: str, group: str) -> dict[str, float]:
    """Seconds of the least SQL each further output of the scoring job needs, over the live keyframe score partition
    with the job's settings: how far below the job a SQL formulation could go at all. `shots`: one max per tag per
    shot, nothing joined; `points`: the scores reaching the job's point floors, unnested (hits are a subset); `runs`:
    the points numbered into runs, the one window the segments need (no grouping, no gap merging after it). Each is
    a plain CREATE TABLE AS, rolled back."""
    gid, slug = c.execute("SELECT id, slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()
    did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
    part = f"mediatag_data.dt_{slug}_visual_scores_ds{did}"
    max_expr, points = c.execute(
        "SELECT e.max_expr, mediatag._scores_reaching(%s, ARRAY(SELECT least(e.floors[i], s.exit_at[i]) "
        "FROM generate_subscripts(e.floors, 1) i ORDER BY i)) "
        "FROM mediatag.group_application a, mediatag._score_exprs(a.group_id, a.scored_version) e, "
        "mediatag._segment_param_arrays(a.group_id, a.scored_version, a.dataset_id) s "
        "WHERE a.group_id = %s AND a.dataset_id = %s",
        (f"SELECT v.keyframe_id, v.asset_id, v.scores FROM {part} v", gid, did),
    ).fetchone()
    statements = {
        "shots": f"SELECT v.shot_id, {max_expr} AS scores FROM {part} v GROUP BY v.shot_id",
        "points": points,
        "runs": "SELECT p.asset_id, p.position, ks.ord - count(*) OVER (PARTITION BY p.asset_id, p.position "
        "ORDER BY ks.ord) AS run FROM public.bench_least_points p JOIN mediatag.keyframe_span ks "
        "ON ks.keyframe_id = p.keyframe_id",
    }
    secs = {}
    with c.transaction() as tx:
        set_local(c, *PARALLEL, *SORTS)
        for name, sql in statements.items():
            t0 = time.perf_counter()
            c.execute(f"CREATE TABLE public.bench_least_{name} AS {sql}")
            secs[name] = time.perf_counter() - t0
        raise psycopg.Rollback(tx)
    return secs


def segments_against_window_definition(url: str, dataset: str, group: str, step: float) -> str:
    """The job's segments against the window definition they replace (every keyframe's span and place sorted out
    of the score partition at each scoring, mediatag._segments_by_window): equal row by row, and the definition's
    time in this run beside the job's segment step."""
    cols = "dataset_id, asset_id, video_id, position, start_ms, end_ms, peak_score, mean_score, keyframes, sources"
    with psycopg.connect(url, prepare_threshold=None) as c:
        gid, slug = c.execute(
            "SELECT id, slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)
        ).fetchone()
        did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
        if c.execute("SELECT to_regproc('mediatag._segments_by_window') IS NULL").fetchone()[0]:
            return "segments: not compared (a build before mediatag._segments_by_window)"
        reference = c.execute("SELECT mediatag._segments_by_window(%s, %s)", (gid, did)).fetchone()[0]
        set_local(c, *SORTS)  # as the job
        t0 = time.perf_counter()
        c.execute(f"CREATE TEMP TABLE bench_window_segments AS SELECT {cols} FROM ({reference}) q")
        secs = time.perf_counter() - t0
        stored = f"SELECT {cols} FROM mediatag_data.dt_{slug}_segment_scores WHERE dataset_id = {did}"
        n = c.execute(f"SELECT count(*) FROM ({stored}) s").fetchone()[0]
        differ = c.execute(
            f"SELECT (SELECT count(*) FROM (({stored}) EXCEPT ALL TABLE bench_window_segments) a) + "
            f"(SELECT count(*) FROM (TABLE bench_window_segments EXCEPT ALL ({stored})) b)"
        ).fetchone()[0]
        c.rollback()
    assert differ == 0, f"{differ} segment rows differ from the window definition"
    return (
        f"segments: {n:,} rows, equal row by row to the window definition over every keyframe; "
        f"that definition alone {secs:.2f}s in this run vs the job's segment step {step:.2f}s"
    )


class ReadStalls:
    """A reader running `query` every 20 ms on its own connection while the block runs: how many reads it made and
    the longest one (a scoring job's exclusive locks make readers wait)."""

    def __init__(self, url: str, query: str) -> None:
        self.url, self.query = url, query
        self.reads, self.longest = 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as r:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                r.execute(self.query)
                self.longest = max(self.longest, time.perf_counter() - t0)
                self.reads += 1
                self._stop.wait(0.02)

    def __enter__(self) -> ReadStalls:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def explain(c: psycopg.Connection, query: str) -> tuple[float, str]:
    plan = [r[0] for r in c.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + query)]
    t0 = time.perf_counter()
    c.execute(query).fetchall()
    return time.perf_counter() - t0, "\n".join("      " + line for line in plan)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyframes", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--tags", type=int, default=20)
    ap.add_argument("--hnsw", action="store_true", help="build the dataset's HNSW index, so previews use it")
    ap.add_argument("--database", default=BENCH_DB, help="the bench database (another name keeps another build's)")
    args = ap.parse_args()

    url = bench_database_url(args.database)
    print(f"== scoring benchmark: {args.tags} tags x {args.keyframes:,} keyframes, {args.dim}-d halfvec")
    X, basis = synthetic_vectors(args.keyframes, args.dim)
    svc, stop = start({f"synthetic-{args.dim}": args.dim, "synthetic-text-64": 64}, {f"synthetic-{args.dim}": basis})
    dataset = f"bench_{args.keyframes}_{args.dim}"
    with connect(url) as conn:
        # New videos of an earlier run of this benchmark go, so the library is the N keyframes again.
        conn.execute("DELETE FROM mediatag.asset WHERE path LIKE '/bench/new/%%'")
        conn.commit()
        load(conn, dataset, X)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE mediatag.keyframe")
        if args.hnsw:
            t0 = time.perf_counter()
            c.execute("SET maintenance_work_mem = '4GB'")
            c.execute("SELECT mediatag.build_indexes(%s)", (dataset,))
            print(f"  HNSW index (m=16, ef_construction=64) built or present: {time.perf_counter() - t0:.1f}s")
        c.execute("SELECT mediatag.set_service(%s)", (svc,))

    group = f"Bench {args.keyframes} {args.dim}"
    with connect(url) as conn:
        conn.execute(
            "SELECT mediatag.drop_tag_group(%s) WHERE EXISTS (SELECT 1 FROM mediatag.tag_group "
            "WHERE lower(name) = lower(%s))",
            (group, group),
        )
        conn.execute("SELECT mediatag.refresh_samples(%s)", (dataset,))
        t0 = time.perf_counter()
        conn.execute(
            "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s)",
            (dataset, group, [f"concept {i}" for i in range(args.tags)]),
        )
        conn.commit()
        print(f"  create group + train {args.tags} tags (zero-shot): {time.perf_counter() - t0:.2f}s")
        conn.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
        conn.commit()

    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        wide = [pgvector_wide(c, dataset, group)]
        ran, wall = run_jobs(c)
        wide.append(pgvector_wide(c, dataset, group))
        res = last_job_result(c, "score_group")
        c.execute("VACUUM ANALYZE")  # as autovacuum would, before the queries below
        W = np.vstack(
            [
                np.array(r[0], dtype=np.float32)
                for r in c.execute(
                    "SELECT c.weights::real[] FROM mediatag.group_version_tag vt JOIN mediatag.classifier c ON c.id = "
                    "vt.visual_classifier_id JOIN mediatag.tag_group g ON g.id = vt.group_id "
                    "WHERE lower(g.name) = lower(%s) "
                    "ORDER BY vt.position",
                    (group,),
                )
            ]
        )
    Xh = X.astype(np.float16).astype(np.float32)
    t0 = time.perf_counter()
    S = 1 / (1 + np.exp(-(Xh @ W.T)))
    bound = time.perf_counter() - t0
    print(
        f"  scoring job ({ran} job): {wall:.2f}s wall (visual+shot+video+transcript tables, swapped in); "
        f"in-job {res['seconds']}s"
    )
    print(
        f"  numpy lower bound (in-memory float32 matmul + sigmoid, {S.shape}): {bound:.2f}s "
        f"-> ratio {wall / bound:.1f}x"
    )
    steps = res["step_seconds"]
    print(
        "  steps: "
        + ", ".join(f"{k} {v}s" for k, v in steps.items())
        + f" (keyframe scores {steps['visual'] / bound:.1f}x the bound)"
    )
    base = sum(wide) / len(wide)
    print(
        f"  pgvector's own wide CREATE TABLE AS (keyframe id + real[] of {args.tags} scores, parallel plan), "
        f"before and after the job: {' / '.join(f'{w:.2f}s' for w in wide)}; mediatag whole job "
        f"{res['seconds']:.2f}s = {res['seconds'] / base:.2f}x (target 2.5x), keyframe step "
        f"{steps['visual']:.2f}s = {steps['visual'] / base:.2f}x (target 1.5x)"
    )

    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        least = least_sql(c, dataset, group)
    floor = base + sum(least.values())
    print(
        "  the least SQL of each further output, after the wide CREATE TABLE AS (the keyframe table): "
        + ", ".join(f"{k} {v:.2f}s" for k, v in least.items())
        + f"; with the wide CREATE TABLE AS {floor:.2f}s = {floor / base:.2f}x, before the segments' grouping, "
        "the hits table, shot facts, the video table and indexes"
    )
    print("  " + segments_against_window_definition(url, dataset, group, steps["segments"]))
    # The same job again over what it left (what a rescoring costs: a new version, a model switch, a re-apply),
    # with a reader of the group's video scores beside it, as a UI or BI tool would be.
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
        with ReadStalls(url, f"SELECT count(*) FROM (SELECT 1 FROM mediatag_data.dt_{slug}_video LIMIT 10) x") as r:
            again = c.execute("SELECT mediatag.score_tag_group(%s, %s)", (group, dataset)).fetchone()[0]
    print(
        f"  the job again over its own scores and segments (a rescoring): {again['seconds']:.2f}s; steps: "
        + ", ".join(f"{k} {v}s" for k, v in again["step_seconds"].items())
    )
    print(f"  a reader of dt_*_video beside it: {r.reads} reads, the longest {r.longest * 1000:.0f} ms")

    # ---- 1,000 new keyframes: ingested, then scored alone (appended to the live partitions) ----------------
    new_n = 1000
    Xn, _ = synthetic_vectors(new_n, args.dim, seed=1)
    with connect(url) as conn:
        add_video(conn, dataset, Xn, f"v{time.time_ns()}")
        t0 = time.perf_counter()
        queued = conn.execute("SELECT mediatag.after_ingest(%s)", (dataset,)).fetchone()[0]
        conn.commit()
        post = time.perf_counter() - t0
    with psycopg.connect(url, autocommit=True) as c:
        kinds = c.execute("SELECT kind FROM mediatag.job WHERE state = 'queued' ORDER BY id").fetchall()
        _, inc_wall = run_jobs(c)
        inc = last_job_result(c, "score_assets")
    print(
        f"  {new_n:,} new keyframes: after_ingest {post * 1000:.0f} ms "
        f"(queued {queued} group, jobs {[k[0] for k in kinds]}); "
        f"incremental scoring {inc_wall * 1000:.0f} ms wall, in-job {inc['seconds'] * 1000:.0f} ms "
        f"({inc['keyframes']} keyframes, {inc['shots']} shots, {inc['hits']} hits)"
    )
    print(
        f"  full job {res['seconds']:.2f}s vs incremental {inc['seconds'] * 1000:.0f} ms in-job: "
        f"{100 * inc['seconds'] / res['seconds']:.2f}% of the full job ({100 * inc_wall / wall:.2f}% wall to wall)"
    )

    # ---- per-tag queries: the long-form view over every keyframe vs the hits table ------------------------------
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        ds_slug = c.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (dataset,)).fetchone()[0]
        c.execute(f"ANALYZE mediatag_data.dt_{slug}_hits_scores")
        n_hits = c.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_hits_scores").fetchone()[0]
        print(f"  hits table: {n_hits:,} rows ({n_hits / (args.keyframes + new_n):.3f} per keyframe, all tags)")
        pick = (
            'SELECT k."SeriesName", v.video_id, v.keyframe_time_ms, v.score FROM mediatag_data.{t} v '
            f"JOIN mediatag_data.{ds_slug}_keyframes k USING (keyframe_id) "
            "WHERE v.tag = 'concept 3' AND v.threshold_decision AND v.keyframe_time_ms BETWEEN 60000 AND 120000 "
            "ORDER BY v.video_id, v.keyframe_time_ms"
        )
        top = "SELECT keyframe_id, score FROM mediatag_data.{t} WHERE tag = 'concept 3' ORDER BY score DESC LIMIT 50"
        for label, q in (("tag in a time range (README)", pick), ("top 50 of a tag", top)):
            for table in (f"dt_{slug}_visual", f"dt_{slug}_hits"):
                secs, plan = explain(c, q.format(t=table))
                print(f"  {label}, {table.removeprefix('dt_' + slug)}: {secs * 1000:.0f} ms\n{plan}")
        t0 = time.perf_counter()
        c.execute("SELECT * FROM mediatag.group_overview(%s)", (group,)).fetchall()
        print(f"  group_overview (counts per tag from the hits table): {(time.perf_counter() - t0) * 1000:.0f} ms")

    with connect(url) as conn:
        kf = conn.execute(
            "SELECT keyframe_id FROM mediatag.keyframe_sample s JOIN mediatag.dataset d ON "
            "d.id = s.dataset_id WHERE d.name = %s LIMIT 60",
            (dataset,),
        ).fetchall()
        times = []
        for i, (k,) in enumerate(kf[:50]):
            t0 = time.perf_counter()
            conn.execute("SELECT mediatag.label_keyframes(%s, 'concept 0', %s, %s)", (group, [k], i % 3 == 0))
            rows = conn.execute("SELECT * FROM mediatag.preview(%s, 'concept 0', n => 24)", (group,)).fetchall()
            conn.commit()
            times.append(time.perf_counter() - t0)
        t = np.array(times)
        print(
            f"  retrain + re-preview after one more label ({len(rows)} preview rows): "
            f"median {np.median(t) * 1000:.0f} ms, p95 {np.percentile(t, 95) * 1000:.0f} ms, "
            f"max {t.max() * 1000:.0f} ms"
        )
    stop()


if __name__ == "__main__":
    main()
