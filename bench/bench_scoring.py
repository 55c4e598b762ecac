"""Scoring benchmark: one group of 20 tags over N keyframes (default 1,000,000 synthetic 512-d unit vectors with
low-rank structure), against a numpy matrix-multiply lower bound over the same vectors in the same run; and the
retrain + re-preview latency after one more label.

    python bench/bench_scoring.py [--keyframes 1000000] [--dim 512] [--tags 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector import HalfVector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_service import start  # noqa: E402

from mediatag.cluster import default_cluster  # noqa: E402
from mediatag.db import connect  # noqa: E402

BENCH_DB = "mediatag_bench"
KF_PER_VIDEO = 1000
KF_PER_SHOT = 10


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
    did = conn.execute(
        "SELECT mediatag.create_dataset(%s, %s, %s, %s, %s)",
        (dataset, f"synthetic-{dim}", dim, "synthetic-text-64", 64),
    ).fetchone()[0]
    have = conn.execute("SELECT count(*) FROM mediatag.keyframe WHERE dataset_id = %s", (did,)).fetchone()[0]
    if have == n:
        print(f"  reusing {n:,} keyframes already loaded")
        return
    conn.execute("DELETE FROM mediatag.asset WHERE dataset_id = %s", (did,))
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
    conn.execute("VACUUM ANALYZE mediatag.keyframe") if conn.autocommit else None
    print(f"  loaded {n:,} keyframes in {time.perf_counter() - t0:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyframes", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--tags", type=int, default=20)
    ap.add_argument("--hnsw", action="store_true", help="build the dataset's HNSW index, so previews use it")
    args = ap.parse_args()

    cluster = default_cluster()
    cluster.start()
    cluster.ensure_database(BENCH_DB)
    url = cluster.url(BENCH_DB)
    print(f"== scoring benchmark: {args.tags} tags x {args.keyframes:,} keyframes, {args.dim}-d halfvec")
    X, basis = synthetic_vectors(args.keyframes, args.dim)
    svc, stop = start({f"synthetic-{args.dim}": args.dim, "synthetic-text-64": 64}, {f"synthetic-{args.dim}": basis})
    dataset = f"bench_{args.keyframes}_{args.dim}"
    with connect(url) as conn:
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

    with psycopg.connect(url, autocommit=True) as c:
        t0 = time.perf_counter()
        ran = c.execute("CALL mediatag.run_jobs(10, 'bench', NULL)").fetchone()[0]
        wall = time.perf_counter() - t0
        res = c.execute(
            "SELECT result FROM mediatag.job WHERE kind = 'score_group' ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
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
        f"  steps: keyframe scores {steps['visual']}s ({steps['visual'] / bound:.1f}x the bound), shots "
        f"{steps['shot']}s, videos {steps['video']}s, transcripts {steps['transcript']}s, swap {steps['swap']}s"
    )

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
