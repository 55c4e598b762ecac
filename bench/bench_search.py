"""Search benchmark: mediatag.search over N keyframes (default 1,000,000) of structured synthetic 512-d vectors
(clustered, low-rank: uniform random vectors make HNSW look useless and benchmarks meaningless).

For each recall target (which picks hnsw.ef_search) it prints top-100 latency p50/p95 and recall@100 against
exact search, without a filter and with a metadata filter that keeps 10 % of the rows (over the dataset's graph,
then through a filter index on that value); then a text query end to
end (embedding service round trip + search) through the synthetic service, and, with --real-model, the offline
model's text embedding latency in the real service (the part a real deployment adds).

The dataset and its HNSW index stay in the bench database between runs (built once: ~11 min at 1M on 2 cores).

    python bench/bench_search.py [--keyframes 1000000] [--queries 100] [--real-model]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector import HalfVector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import bench_database_url, reset_synthetic_dataset  # noqa: E402
from synthetic_service import start, text_vector  # noqa: E402

from mediatag.db import connect  # noqa: E402

DIM = 512
KF_PER_VIDEO = 100
SERIES = 10  # metadata SeriesName takes 10 values round-robin over videos: one value keeps 10 %
RANK, CLUSTERS = 64, 256
RECALL_TARGETS = (0.9, 0.95, 0.97, 0.99)


def structure(dim: int = DIM, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((RANK, dim)).astype(np.float32)
    centers = rng.standard_normal((CLUSTERS, RANK)).astype(np.float32)
    return basis, centers


def vectors(n: int, basis: np.ndarray, centers: np.ndarray, seed: int) -> np.ndarray:
    """Clustered low-rank unit vectors plus isotropic noise (the shape of real image embeddings)."""
    rng = np.random.default_rng(seed)
    z = centers[rng.integers(0, CLUSTERS, n)] + 0.5 * rng.standard_normal((n, RANK)).astype(np.float32)
    x = z @ basis + 0.3 * rng.standard_normal((n, basis.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def load(url: str, dataset: str, n: int, basis: np.ndarray, centers: np.ndarray) -> None:
    with connect(url) as conn:
        did = reset_synthetic_dataset(conn, dataset, DIM, n)
        if did is None:
            return
        conn.execute(f"DROP INDEX IF EXISTS mediatag.keyframe_hnsw_ds{did}")
        t0 = time.perf_counter()
        videos = (n + KF_PER_VIDEO - 1) // KF_PER_VIDEO
        asset_ids = [
            r[0]
            for r in conn.execute(
                "INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, metadata) "
                "SELECT %s, 'video', '/bench/s' || i || '.mp4', encode(sha256(('search' || i)::bytea), 'hex'), "
                "jsonb_build_object('SeriesName', 'Series ' || (i %% %s)) FROM generate_series(0, %s) i ORDER BY i "
                "RETURNING id",
                (did, SERIES, videos - 1),
            ).fetchall()
        ]
        with conn.cursor().copy(
            "COPY mediatag.keyframe (dataset_id, asset_id, keyframe_index, time_ms, image_path, embedding) "
            "FROM STDIN WITH (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["int8", "int8", "int4", "int4", "text", "halfvec"])
            step = 50_000
            for s in range(0, n, step):
                X = vectors(min(step, n - s), basis, centers, seed=1000 + s)
                for i in range(X.shape[0]):
                    j = s + i
                    cp.write_row(
                        (
                            did,
                            asset_ids[j // KF_PER_VIDEO],
                            j % KF_PER_VIDEO,
                            (j % KF_PER_VIDEO) * 2000,
                            f"/bench/kf{j}.jpg",
                            HalfVector(X[i]),
                        )
                    )
        conn.commit()
        print(f"  loaded {n:,} keyframes in {time.perf_counter() - t0:.1f}s")


def build_index(url: str, dataset: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE mediatag.keyframe, mediatag.asset")
        t0 = time.perf_counter()
        c.execute("SET maintenance_work_mem = '3GB'")
        c.execute("SET max_parallel_maintenance_workers = 2")
        c.execute("SELECT mediatag.build_indexes(%s)", (dataset,))
        opts = c.execute(
            "SELECT array_to_string(c.reloptions, ', ') FROM pg_class c "
            "WHERE c.oid = format('mediatag.keyframe_hnsw_ds%%s', mediatag.dataset_id(%s))::regclass",
            (dataset,),
        ).fetchone()[0]
        print(
            f"  HNSW index ({opts or 'pgvector defaults m=16, ef_construction=64'}) built or present: "
            f"{time.perf_counter() - t0:.1f}s"
        )


def draw_sample(url: str, dataset: str) -> None:
    """The loader's keyframes go through the post-ingest step an ingest ends with, and the dataset gets the random
    sample its first tag group or concept would draw: search() checks its walks against 1,000 of those rows."""
    with connect(url) as c:
        c.execute("SELECT mediatag.after_ingest(%s)", (dataset,))
        did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
        if not c.execute("SELECT count(*) FROM mediatag.keyframe_sample WHERE dataset_id = %s", (did,)).fetchone()[0]:
            n = c.execute("SELECT mediatag.refresh_samples(%s)", (dataset,)).fetchone()[0]
            print(f"  drew the dataset's random sample ({n:,} keyframes)")
        c.commit()


def vec(q: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in q) + "]"


def exact_top(c: psycopg.Connection, did: int, q: np.ndarray, k: int, series: str | None) -> list[int]:
    """Exact top-k by a full scan (the distance expression does not match the index)."""
    filt = " AND a.metadata @> %s::jsonb" if series else ""
    params = [did] + ([json.dumps({"SeriesName": series})] if series else []) + [vec(q), k]
    rows = c.execute(
        "SELECT k.id FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id "
        f"WHERE k.dataset_id = %s{filt} ORDER BY k.embedding <#> %s::halfvec, k.id LIMIT %s",
        params,
    ).fetchall()
    return [r[0] for r in rows]


def timed_search(c: psycopg.Connection, dataset: str, q: np.ndarray, k: int, recall: float, series: str | None):
    meta = json.dumps({"SeriesName": series}) if series else None
    t0 = time.perf_counter()
    rows = c.execute(
        "SELECT keyframe_id FROM mediatag.search(dataset => %s, embedding => %s::vector, k => %s, "
        "metadata => %s::jsonb, recall => %s::real)",
        (dataset, vec(q), k, meta, recall),
    ).fetchall()
    return time.perf_counter() - t0, [r[0] for r in rows]


def pct(t: list[float], p: float) -> float:
    return float(np.percentile(np.array(t) * 1000, p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyframes", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--real-model", action="store_true", help="also time text embedding with the real offline model")
    args = ap.parse_args()

    url = bench_database_url()
    dataset = f"search_{args.keyframes}"
    print(f"== search benchmark: {args.keyframes:,} keyframes, {DIM}-d halfvec (clustered low-rank), top-{args.k}")
    basis, centers = structure()
    load(url, dataset, args.keyframes, basis, centers)
    build_index(url, dataset)
    draw_sample(url, dataset)
    svc, stop = start({f"synthetic-{DIM}": DIM, "synthetic-text-64": 64}, {f"synthetic-{DIM}": basis})

    Q = vectors(args.queries, basis, centers, seed=7)  # held-out points of the same distribution
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        c.execute("SELECT mediatag.set_service(%s)", (svc,))  # an admin's setting, not a GUC
        # The generic filtered path first: a filter index left by an earlier run would serve the filter instead.
        c.execute("SELECT mediatag.drop_filter_index(%s, %s::jsonb)", (dataset, json.dumps({"SeriesName": "Series 3"})))
        did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
        t0 = time.perf_counter()
        c.execute("SET max_parallel_workers_per_gather = 2")
        truth = {None: [exact_top(c, did, q, args.k, None) for q in Q]}
        t_exact = (time.perf_counter() - t0) / len(Q)
        truth["Series 3"] = [exact_top(c, did, q, args.k, "Series 3") for q in Q]
        c.execute("RESET max_parallel_workers_per_gather")
        print(f"  exact top-{args.k} (sequential scan): {t_exact * 1000:.0f} ms per query")
        # Warming first: the exact scans above pushed the index out of shared buffers.
        image_rows(c, dataset, Q, truth[None], args.k, None, "no filter")
        image_rows(c, dataset, Q, truth["Series 3"], args.k, "Series 3", "metadata filter keeping 10 %")
        # Text queries with the filter, over the dataset's graph, then (below) through the filter index.
        text_truth = [
            exact_top(c, did, text_vector(f"query number {i}", DIM, basis), args.k, "Series 3")
            for i in range(args.queries)
        ]
        filtered_text_row(c, dataset, text_truth, args.k, "10 % filter, the dataset's graph")
        # The same filter through a filter index (a graph of its own over the 10 %: mediatag.create_filter_index).
        filter_index_rows(c, dataset, Q, truth["Series 3"], args.k)
        filtered_text_row(c, dataset, text_truth, args.k, "10 % filter, filter index")
        # Text query end to end: the service embeds the text (synthetic: a deterministic vector in the data's
        # low-rank space, away from the clusters, as text embeddings lie away from image ones), search runs as above.
        exact_text = [
            exact_top(c, did, text_vector(f"query number {i}", DIM, basis), args.k, None) for i in range(args.queries)
        ]
        text_sql = "SELECT keyframe_id FROM mediatag.search(dataset => %s, query => %s, k => %s, recall => %s::real)"
        for i in range(args.queries):  # warm the cache again after the exact scans
            c.execute(text_sql, (dataset, f"query number {i}", args.k, 0.97)).fetchall()
        for target in (0.9, 0.97, 0.99):  # the recall target also sets how many probe walks a text query takes
            seeds = c.execute("SELECT mediatag._search_seeds(%s::real)", (target,)).fetchone()[0]
            times, recalls = [], []
            for i in range(args.queries):
                t0 = time.perf_counter()
                got = c.execute(text_sql, (dataset, f"query number {i}", args.k, target)).fetchall()
                times.append(time.perf_counter() - t0)
                recalls.append(len({r[0] for r in got} & set(exact_text[i])) / max(len(exact_text[i]), 1))
            print(
                f"  text query end to end (synthetic service + search, k={args.k}), recall target {target:.2f} "
                f"({seeds} probe walks): p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, "
                f"recall@{args.k} {np.mean(recalls):.3f} (min {np.min(recalls):.2f})"
            )
    stop()
    if args.real_model:
        real_text_latency(args.queries)


def filtered_text_row(c: psycopg.Connection, dataset: str, truth: list[list[int]], k: int, label: str) -> None:
    """Text queries end to end with the 10 % metadata filter, at the default recall target."""
    sql = "SELECT keyframe_id FROM mediatag.search(dataset => %s, query => %s, k => %s, metadata => %s::jsonb)"
    meta = json.dumps({"SeriesName": "Series 3"})
    for i in range(len(truth)):  # warm
        c.execute(sql, (dataset, f"query number {i}", k, meta)).fetchall()
    times, recalls = [], []
    for i, t in enumerate(truth):
        t0 = time.perf_counter()
        got = c.execute(sql, (dataset, f"query number {i}", k, meta)).fetchall()
        times.append(time.perf_counter() - t0)
        recalls.append(len({r[0] for r in got} & set(t)) / max(len(t), 1))
    print(
        f"  text query end to end, {label}: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, "
        f"recall@{k} {np.mean(recalls):.3f} (min {np.min(recalls):.2f})"
    )


def filter_index_rows(c: psycopg.Connection, dataset: str, Q: np.ndarray, truth: list[list[int]], k: int) -> None:
    meta = json.dumps({"SeriesName": "Series 3"})
    t0 = time.perf_counter()
    c.execute("SET maintenance_work_mem = '3GB'")
    c.execute("SET max_parallel_maintenance_workers = 2")
    c.execute("SELECT mediatag.create_filter_index(%s, %s::jsonb)", (dataset, meta))
    n = c.execute(
        "SELECT keyframes FROM mediatag.filter_indexes(%s) WHERE metadata = %s::jsonb", (dataset, meta)
    ).fetchone()[0]
    print(f"  filter index on {meta} ({n:,} keyframes) built: {time.perf_counter() - t0:.1f}s")
    # Steady state, as for the dataset's graph: autovacuum's first pass over the 100,000 new rows (which walks the
    # whole new graph) otherwise lands in the middle of the timings (one run: p95 616 ms in one row).
    t0 = time.perf_counter()
    c.execute("VACUUM ANALYZE mediatag.filter_index_row")
    print(f"  VACUUM ANALYZE of the filter index rows: {time.perf_counter() - t0:.1f}s")
    image_rows(c, dataset, Q, truth, k, "Series 3", "10 % filter, filter index")


def image_rows(
    c: psycopg.Connection,
    dataset: str,
    Q: np.ndarray,
    truth: list[list[int]],
    k: int,
    series: str | None,
    label: str,
    targets: tuple[float, ...] = RECALL_TARGETS,
) -> list[dict]:
    """Image queries at each recall target, after one warming pass: latency p50/p95 and recall@k, printed and
    returned (one dict per target)."""
    for q in Q:
        timed_search(c, dataset, q, k, 0.97, series)
    rows = []
    for target in targets:
        ef = c.execute("SELECT mediatag._search_ef(%s::real, %s::int)", (target, k)).fetchone()[0]
        times, recalls = [], []
        for q, t in zip(Q, truth, strict=True):
            dt, got = timed_search(c, dataset, q, k, target, series)
            times.append(dt)
            recalls.append(len(set(got) & set(t)) / max(len(t), 1))
        print(
            f"  {label:30s} recall target {target:.2f} (ef_search {ef:4d}): p50 {pct(times, 50):5.1f} ms, "
            f"p95 {pct(times, 95):5.1f} ms, recall@{k} {np.mean(recalls):.3f} (min {np.min(recalls):.2f})"
        )
        rows.append(
            {"target": target, "ef_search": ef, "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
             "recall": float(np.mean(recalls))}
        )  # fmt: skip
    return rows


def real_text_latency(n: int) -> None:
    """The offline model's text embedding through the real service's HTTP endpoint (what embed_text adds)."""
    import threading
    import urllib.request

    from mediatag.models.registry import default_visual_model
    from mediatag.service.http import ServiceConfig, make_server, new_token

    token = new_token()
    server = make_server("127.0.0.1", 0, ServiceConfig(token=token))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/embed/text"
    model = default_visual_model()

    def embed(t: str) -> None:
        body = json.dumps({"texts": [t], "model": model}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        req = urllib.request.Request(url, data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=300) as r:
            r.read()

    embed("warm up")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        embed(f"a photo of something number {i}")
        times.append(time.perf_counter() - t0)
    server.shutdown()
    print(f"  real service, {model} text embedding: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms")


if __name__ == "__main__":
    main()
