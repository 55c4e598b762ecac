"""Scale benchmark: N keyframes of 512-d halfvec (default 1M and 2M) loaded into a real dataset through the product's
bulk path (binary COPY into the ingest staging tables, moved into place by mediatag.ingest_staged, as every ingest
does), then per size:

- storage per keyframe: keyframe heap, its b-tree indexes, the HNSW graph, and the score tables once a 20-tag group
  is scored;
- HNSW build time (mediatag.build_indexes) with max_parallel_maintenance_workers 1 (2 processes) and 0 (1 process),
  with the parallel workers seen in pg_stat_activity while it builds and pgvector's notices (a graph that outgrows
  maintenance_work_mem says so);
- search p50/p95 and recall@100 against exact search, per recall target (hnsw.ef_search), without a filter and with
  a metadata filter keeping 10 % (hnsw.iterative_scan);
- the scoring job of a 20-tag group over the dataset (the worker's job, as published groups are scored);
- mediatag.asset_score_timeline on one hour-long video, with and without an index on the score partitions' asset_id
  (what the index costs to build in each scoring job against what it saves per call).

Then a stated cost model, fitted on the measured sizes: storage and scoring linear in N, HNSW build N log N, search
log N. The model is fitted on the smallest size and its prediction for each larger one printed beside the
measurement, then fitted on all sizes and extrapolated to 10M and 100M keyframes on a number of cores, and the
embedding cost converted to hours of video per minute on M GPU workers (assumptions printed beside the figures).

Vectors are clustered and low-rank (bench_search.vectors): uniform random vectors give meaningless HNSW recall. Each
size gets a database of its own (mediatag_bench_scale_<N>), kept between runs: a rerun reuses the load (and an HNSW
index already there for the searches). Each size's figures are saved under ~/.cache/mediatag/bench_scale/, so
`--model-only` reprints the cost model from every size measured so far.

    python bench/bench_scale.py [--sizes 1000000,2000000] [--queries 50] [--cores 8,32,64] [--gpus 1,8,32]
                                [--hnsw-max N] [--one-process-max N] [--fresh] [--results DIR]
    python bench/bench_scale.py --sizes 20000 --queries 10 --fresh  # a quick run (tests/test_bench_scale.py)
    python bench/bench_scale.py --model-only                        # the cost model from the saved figures
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector import HalfVector
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import bench_database_url, last_job_result, reset_synthetic_dataset, run_jobs  # noqa: E402
from bench_search import DIM, SERIES, draw_sample, exact_top, image_rows, structure, vectors  # noqa: E402
from synthetic_service import start  # noqa: E402

from mediatag.cluster import default_cluster  # noqa: E402
from mediatag.db import connect, extension_versions, upgrade_extension  # noqa: E402
from mediatag.ingest.staging import move_batch  # noqa: E402
from mediatag.media.split import DEFAULT_EVERY_S  # noqa: E402

RESULTS = Path.home() / ".cache" / "mediatag" / "bench_scale"
KF_PER_VIDEO = 1000  # about an hour of video at the ingest defaults (KEYFRAMES_PER_HOUR below)
KF_PER_SHOT = 10
BATCH_VIDEOS = 16  # files per staged batch, as the ingester batches them (IngestOptions.batch_files)
TAGS = 20
FILTER = "Series 3"  # SeriesName takes SERIES values round-robin over videos: one keeps 10 % of the keyframes
TARGETS = (0.9, 0.95, 0.97, 0.99)
HEADLINE = 0.97  # the recall target the cost model follows (mediatag.search's default)

# ---- assumptions of the cost model (printed with it) --------------------------------------------------------------
# Keyframes per hour of video: the ingester keeps one keyframe per shot and one at least every DEFAULT_EVERY_S inside
# longer shots (media/split.py), so 3600 / 5 = 720 an hour is the floor; at a 4-s average shot (one keyframe per
# shot, a second in shots over 5 s) it is about 1,000. ASSUMED, not measured here.
KEYFRAMES_PER_HOUR = 1000
# Keyframes embedded per second by one GPU worker (ViT-B-class image encoder at fp16, batches of 256, JPEG decode
# in its own processes). ASSUMED: no GPU on this machine; measure with bench_backfill.py on the target GPU.
GPU_KEYFRAMES_PER_S = 1000
# Measured by bench_ingest.py on the 2 cores with nothing else running (2026-12-06/07, ONNX Runtime): photos 6.96
# keyframes/s (0.20 CPU-s a keyframe; ~3/s on PyTorch before); a 60-s 720p H.264 video with cuts at 11.8 Mbit/s (a
# hard clip: fractals and cellular automata) 5.5 s of video per second end to end, against 7.0 s/s for decoding it
# alone: the decode of every frame (for the shots) is ~80 % of a video's ingest, embedding its 12 keyframes the rest.
# (Until 2026-12-07 the bench timed the encoding of its test clip too and printed 1.2 s/s.)
CPU_KEYFRAMES_PER_S = 6.96
CPU_VIDEO_S_PER_S = 5.5


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---- load ----------------------------------------------------------------------------------------------------------


def load(url: str, dataset: str, n: int, basis: np.ndarray, centers: np.ndarray) -> dict:
    """N keyframes in videos of KF_PER_VIDEO (shots of KF_PER_SHOT), staged and moved batch by batch as an ingest
    does; reused when the dataset already holds them."""
    with connect(url) as conn:
        did = reset_synthetic_dataset(conn, dataset, DIM, n)
        if did is None:
            return {"reused": True}
        conn.execute(f"DROP INDEX IF EXISTS mediatag.keyframe_hnsw_ds{did}")
        run = conn.execute("SELECT mediatag.start_ingest(%s)", (dataset,)).fetchone()[0]
        conn.commit()
        t0 = time.perf_counter()
        videos = math.ceil(n / KF_PER_VIDEO)
        for first in range(0, videos, BATCH_VIDEOS):
            assets, shots, keyframes = [], [], []
            for item, v in enumerate(range(first, min(videos, first + BATCH_VIDEOS))):
                count = min(KF_PER_VIDEO, n - v * KF_PER_VIDEO)
                path = f"/bench/scale/{n}/v{v}.mp4"
                assets.append((item, "video", path, sha(path), None, count * 3600, 1920, 1080, Jsonb({}),
                               Jsonb({"SeriesName": f"Series {v % SERIES}"}), "ingested", None, None))  # fmt: skip
                shots.extend(
                    (item, s, s * KF_PER_SHOT * 3600, (s + 1) * KF_PER_SHOT * 3600 - 1)
                    for s in range(math.ceil(count / KF_PER_SHOT))
                )
                X = vectors(count, basis, centers, seed=v)
                keyframes.extend(
                    (item, j // KF_PER_SHOT, j, j * 3600, f"{path}/kf{j}.jpg", 320, 180, HalfVector(X[j]))
                    for j in range(count)
                )
            with conn.transaction():
                move_batch(conn, run, assets, shots, keyframes, [])
        conn.execute("SELECT mediatag.after_ingest(%s, NULL, %s)", (dataset, run))
        conn.execute("SELECT mediatag.finish_ingest(%s)", (run,))
        conn.commit()
        secs = time.perf_counter() - t0
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE mediatag.keyframe, mediatag.shot, mediatag.asset")
    print(f"  loaded {n:,} keyframes through the staging path in {secs:.1f}s ({n / secs:,.0f} keyframes/s)")
    return {"reused": False, "seconds": secs}


# ---- storage -------------------------------------------------------------------------------------------------------


def keyframe_storage(c: psycopg.Connection, did: int) -> dict:
    """Bytes of the keyframe table (heap + TOAST), its b-tree indexes and the dataset's HNSW graph. The database
    holds this one dataset, so the shared keyframe table is this dataset's."""
    heap = c.execute("SELECT pg_table_size('mediatag.keyframe')").fetchone()[0]
    idx = dict(
        c.execute(
            "SELECT am.amname = 'hnsw', sum(pg_relation_size(i.indexrelid))::bigint FROM pg_index i "
            "JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam "
            "WHERE i.indrelid = 'mediatag.keyframe'::regclass GROUP BY 1"
        ).fetchall()
    )
    hnsw = c.execute("SELECT pg_relation_size(to_regclass(%s))", (f"mediatag.keyframe_hnsw_ds{did}",)).fetchone()[0]
    return {"heap": heap, "btree": idx.get(False, 0), "hnsw": hnsw or 0}


def score_storage(c: psycopg.Connection, slug: str, did: int) -> dict:
    """Bytes (with their indexes) of the dataset's partition of each of the group's score tables."""
    out = {}
    for level in ("visual", "hits", "shot", "video", "transcript"):
        name = f"mediatag_data.dt_{slug}_{level}_scores_ds{did}"
        out[level] = c.execute("SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", (name,)).fetchone()[0]
    return out


# ---- HNSW build ----------------------------------------------------------------------------------------------------


def maintenance_mb(n: int) -> int:
    """maintenance_work_mem for an in-memory build: pgvector's graph takes ~1.5 KB per 512-d halfvec (m=16), more
    than the finished index; a graph that outgrows it is finished on disk, several times slower (pgvector notices)."""
    return max(1024, math.ceil(n * 2.2 / 1024))


def build_hnsw(url: str, dataset: str, did: int, workers: int, n: int) -> dict:
    """Drops and builds the dataset's keyframe graph through mediatag.build_indexes with `workers` parallel
    maintenance workers, watching pg_stat_activity for the workers that actually join."""
    mwm = maintenance_mb(n)
    seen = [0]
    done = threading.Event()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f"DROP INDEX IF EXISTS mediatag.keyframe_hnsw_ds{did}")
        c.execute(f"SET maintenance_work_mem = '{mwm}MB'")
        c.execute(f"SET max_parallel_maintenance_workers = {workers}")
        notices: list[str] = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        leader = c.info.backend_pid

        def watch() -> None:
            with psycopg.connect(url, autocommit=True) as w:
                while not done.wait(0.5):
                    k = w.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE leader_pid = %s AND backend_type = "
                        "'parallel worker'",
                        (leader,),
                    ).fetchone()[0]
                    seen[0] = max(seen[0], k)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t0 = time.perf_counter()
        try:
            c.execute("SELECT mediatag.build_indexes(%s)", (dataset,))
        finally:
            secs = time.perf_counter() - t0
            done.set()
            watcher.join()
        size, opts = c.execute(
            "SELECT pg_relation_size(x.oid), array_to_string(x.reloptions, ', ') FROM pg_class x "
            "WHERE x.oid = %s::regclass",
            (f"mediatag.keyframe_hnsw_ds{did}",),
        ).fetchone()
    graph = [m for m in notices if "maintenance_work_mem" in m]
    print(
        f"  HNSW build ({opts or 'pgvector defaults'}), max_parallel_maintenance_workers {workers} "
        f"({workers + 1} process{'es' if workers else ''}), maintenance_work_mem {mwm} MB: {secs:.1f}s; "
        f"parallel workers seen {seen[0]}; index {size / 2**20:,.0f} MiB"
        + (f"; pgvector: {graph[0]}" if graph else "; graph built in memory")
    )
    return {
        "workers": workers,
        "seconds": secs,
        "workers_seen": seen[0],
        "maintenance_mb": mwm,
        "options": opts,
        "bytes": size,
        "notices": graph,
    }


# ---- search --------------------------------------------------------------------------------------------------------


def search(url: str, dataset: str, did: int, Q: np.ndarray, k: int) -> dict:
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
        c.execute("SET max_parallel_workers_per_gather = 2")
        t0 = time.perf_counter()
        truth = [exact_top(c, did, q, k, None) for q in Q]
        exact_ms = 1000 * (time.perf_counter() - t0) / len(Q)
        truth_filtered = [exact_top(c, did, q, k, FILTER) for q in Q]
        c.execute("RESET max_parallel_workers_per_gather")
        print(f"  exact top-{k} (parallel sequential scan): {exact_ms:.0f} ms per query")
        plain = image_rows(c, dataset, Q, truth, k, None, "no filter", TARGETS)
        filtered = image_rows(c, dataset, Q, truth_filtered, k, FILTER, "10 % filter (iterative scan)", TARGETS)
    return {"exact_ms": exact_ms, "plain": plain, "filtered": filtered}


# ---- scoring -------------------------------------------------------------------------------------------------------


def score(url: str, dataset: str, basis: np.ndarray) -> dict:
    """A 20-tag zero-shot group created, published and scored by the worker's job; the job's own timing."""
    svc, stop = start({f"synthetic-{DIM}": DIM, "synthetic-text-64": 64}, {f"synthetic-{DIM}": basis})
    group = f"Scale {dataset}"
    try:
        with connect(url) as conn:
            conn.execute("SELECT mediatag.set_service(%s)", (svc,))
            conn.execute(
                "SELECT mediatag.drop_tag_group(%s) WHERE EXISTS (SELECT 1 FROM mediatag.tag_group "
                "WHERE lower(name) = lower(%s))",
                (group, group),
            )
            conn.execute("SELECT mediatag.refresh_samples(%s)", (dataset,))
            conn.execute(
                "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s)",
                (dataset, group, [f"concept {i}" for i in range(TAGS)]),
            )
            conn.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
            conn.commit()
        with psycopg.connect(url, autocommit=True) as c:
            _, wall = run_jobs(c)
            res = last_job_result(c, "score_group")
            slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[
                0
            ]
            c.execute("VACUUM ANALYZE")  # as autovacuum would, before the reads below
    finally:
        stop()
    steps = ", ".join(f"{k} {v}s" for k, v in res["step_seconds"].items())
    print(f"  scoring job, {TAGS} tags: {res['seconds']:.2f}s in-job, {wall:.2f}s wall ({steps})")
    return {"group": group, "slug": slug, "seconds": float(res["seconds"]), "wall": wall, "steps": res["step_seconds"]}


# ---- asset_score_timeline and an asset_id index on the score partitions ---------------------------------------------


def timeline(url: str, did: int, group: str, slug: str, scoring: dict, calls: int = 20) -> dict:
    """asset_score_timeline over `calls` videos with no index on asset_id in the dataset's keyframe and shot score
    partitions (it scans them), with a b-tree and with a BRIN index there (what the scoring job builds: see
    mediatag._index_asset_ranges): each index's build time, which every scoring job adds as it rebuilds the
    partitions, against the time it saves per call. Each variant runs in a transaction rolled back after."""
    parts = [f"dt_{slug}_visual_scores_ds{did}", f"dt_{slug}_shot_scores_ds{did}"]
    steps = sum(scoring["steps"].values())
    with psycopg.connect(url, prepare_threshold=None) as c:
        assets = [
            r[0]
            for r in c.execute("SELECT id FROM mediatag.asset WHERE dataset_id = %s ORDER BY id", (did,)).fetchall()
        ]
        shipped = [
            r[0]
            for r in c.execute(
                "SELECT format('mediatag_data.%%I', x.relname) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "WHERE i.indrelid = ANY(%s::regclass[]) AND a.attname = 'asset_id'",
                ([f"mediatag_data.{p}" for p in parts],),
            )
        ]
        c.rollback()
        picks = [assets[i * len(assets) // calls] for i in range(min(calls, len(assets)))]

        def measure() -> tuple[float, float, int]:
            times, rows = [], 0
            for a in [picks[0], *picks]:  # the first call warms the cache
                t0 = time.perf_counter()
                rows = len(c.execute("SELECT * FROM mediatag.asset_score_timeline(%s, %s)", (a, group)).fetchall())
                times.append(time.perf_counter() - t0)
            t = np.array(times[1:]) * 1000
            return float(np.median(t)), float(np.percentile(t, 95)), rows

        out: dict = {"shipped": shipped}
        for kind in (None, "btree", "brin"):
            for name in shipped:
                c.execute(f"DROP INDEX {name}")
            t0 = time.perf_counter()
            for p in parts:
                if kind:
                    c.execute(f"CREATE INDEX {p}_bench_asset ON mediatag_data.{p} USING {kind} (asset_id)")
            build = time.perf_counter() - t0
            size = sum(
                c.execute("SELECT pg_relation_size(%s::regclass)", (f"mediatag_data.{p}_bench_asset",)).fetchone()[0]
                for p in parts
                if kind
            )
            c.execute(f"ANALYZE mediatag_data.{parts[0]}, mediatag_data.{parts[1]}")
            p50, p95, rows = measure()
            c.rollback()
            out[kind or "none"] = {"p50_ms": p50, "p95_ms": p95, "build_s": build, "bytes": size}
            if not kind:
                print(f"  asset_score_timeline ({rows:,} rows a video), no index: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
                continue
            saved = out["none"]["p50_ms"] - p50
            payback = f"pays back after {1000 * build / saved:,.0f} calls per rescoring" if saved > 0 else "no gain"
            print(
                f"  asset_score_timeline, {kind} on asset_id: p50 {p50:.1f} ms, p95 {p95:.1f} ms; build {build:.2f}s "
                f"({100 * build / steps:.1f}% of the score-table steps, {100 * build / scoring['seconds']:.1f}% of "
                f"the job), {size / 2**10:,.0f} KiB; {payback}"
            )
        print(f"  shipped asset_id indexes on the partitions: {', '.join(shipped) or 'none'}")
    return out


# ---- one size ------------------------------------------------------------------------------------------------------


def scale_database_url(n: int, fresh: bool) -> str:
    """The size's own bench database, its extension brought to the installed version (data kept between runs);
    `fresh`: made anew, so the extension's functions are the installed files' (same version, other SQL)."""
    cluster = default_cluster()
    name = f"mediatag_bench_scale_{n}"
    if fresh:
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    url = bench_database_url(name)
    with psycopg.connect(url) as c:
        if extension_versions(c)[0] is not None:
            upgrade_extension(c)
    return url


def measure_size(n: int, queries: int, k: int, results: Path, hnsw_max: int, one_process_max: int, fresh: bool) -> dict:
    url = scale_database_url(n, fresh)
    dataset = f"scale_{n}"
    basis, centers = structure()
    print(f"\n== {n:,} keyframes, {DIM}-d halfvec (clustered low-rank), {KF_PER_VIDEO:,} a video", flush=True)
    loaded = load(url, dataset, n, basis, centers)
    with psycopg.connect(url, autocommit=True) as c:
        did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
        pgv = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        print(f"  pgvector {pgv} (parallel HNSW builds since 0.6)")
    builds, found = [], None
    if n <= hnsw_max:
        # Parallel first: its graph serves the searches; the one-process build (the longest step) comes last.
        builds.append(build_hnsw(url, dataset, did, 1, n))
        draw_sample(url, dataset)
        Q = vectors(queries, basis, centers, seed=10**9)  # held-out points of the same distribution
        found = search(url, dataset, did, Q, k)
    else:
        print(f"  HNSW build and search skipped above --hnsw-max {hnsw_max:,}")
    scored = score(url, dataset, basis)
    with psycopg.connect(url, autocommit=True) as c:
        storage = keyframe_storage(c, did) | {"scores": score_storage(c, scored["slug"], did)}
    print_storage(n, storage)
    tl = timeline(url, did, scored["group"], scored["slug"], scored)
    if builds and n <= one_process_max:
        builds.append(build_hnsw(url, dataset, did, 0, n))
        one, two = builds[1]["seconds"], builds[0]["seconds"]
        print(f"  HNSW build speed-up with 2 processes: {one / two:.2f}x ({one:.0f}s -> {two:.0f}s)")
    elif builds:
        print(f"  HNSW build with 1 process skipped above --one-process-max {one_process_max:,}")
    result = {
        "n": n,
        "pgvector": pgv,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": loaded,
        "storage": storage,
        "builds": builds,
        "search": found,
        "scoring": {k: v for k, v in scored.items() if k != "slug"},
        "timeline": tl,
    }
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{n}.json").write_text(json.dumps(result, indent=1))
    return result


def print_storage(n: int, s: dict) -> None:
    scores = sum(s["scores"].values())
    each = ", ".join(f"{k} {v / n:.0f}" for k, v in s["scores"].items())
    total = s["heap"] + s["btree"] + s["hnsw"] + scores
    print(
        f"  storage per keyframe: heap {s['heap'] / n:.0f} B, b-tree indexes {s['btree'] / n:.0f} B, "
        f"HNSW {s['hnsw'] / n:.0f} B, scores of one {TAGS}-tag group {scores / n:.0f} B ({each}); "
        f"total {total / n:.0f} B ({total / 2**30:.2f} GiB)"
    )


# ---- cost model ----------------------------------------------------------------------------------------------------

SHAPES = {"N": lambda n: n, "N log N": lambda n: n * math.log2(n), "log N": lambda n: math.log2(n)}


def figures(r: dict) -> dict[str, tuple[str, float]]:
    """The quantities the model follows, each with its shape in N (those a size measured: the HNSW builds and
    searches can be skipped at the larger sizes)."""
    s = r["storage"]
    build = {b["workers"]: b["seconds"] for b in r["builds"]}
    out = {
        "heap + b-tree (GiB)": ("N", (s["heap"] + s["btree"]) / 2**30),
        "HNSW index (GiB)": ("N", s["hnsw"] / 2**30 if build else None),
        f"scores, one {TAGS}-tag group (GiB)": ("N", sum(s["scores"].values()) / 2**30),
        "HNSW build, 2 processes (s)": ("N log N", build.get(1)),
        "HNSW build, 1 process (s)": ("N log N", build.get(0)),
        f"scoring job, {TAGS} tags, 2 cores (s)": ("N", r["scoring"]["seconds"]),
    }
    if r["search"]:
        plain = next(x for x in r["search"]["plain"] if x["target"] == HEADLINE)
        filt = next(x for x in r["search"]["filtered"] if x["target"] == HEADLINE)
        out[f"search p95, recall target {HEADLINE} (ms)"] = ("log N", plain["p95_ms"])
        out["search p95, 10 % filter (ms)"] = ("log N", filt["p95_ms"])
    return {k: v for k, v in out.items() if v[1] is not None}


def fit(points: list[tuple[int, float]], shape: str) -> float:
    """Least-squares c of y = c * shape(N) (through the origin: no fixed cost is assumed)."""
    f = SHAPES[shape]
    return sum(f(n) * y for n, y in points) / sum(f(n) ** 2 for n, _ in points)


def amdahl(results: list[dict]) -> tuple[int, float]:
    """The serial fraction s of the HNSW build, T(p) = T1 * (s + (1 - s) / p), from the 1- and 2-process builds
    at the largest size that has both."""
    both = [r for r in results if {b["workers"] for b in r["builds"]} >= {0, 1}]
    if not both:
        return 0, 0.5  # no 1-process build measured: assume half of the build is serial (stated)
    r = max(both, key=lambda x: x["n"])
    t = {b["workers"]: b["seconds"] for b in r["builds"]}
    return r["n"], min(1.0, max(0.0, 2 * t[1] / t[0] - 1))


def cost_model(results: list[dict], cores: list[int], gpus: list[int]) -> None:
    results = sorted(results, key=lambda r: r["n"])
    table = {r["n"]: figures(r) for r in results}
    names = list(dict.fromkeys(name for f in table.values() for name in f))
    have = {name: [(n, f[name][1]) for n, f in table.items() if name in f] for name in names}
    shape = {name: next(f[name][0] for f in table.values() if name in f) for name in names}
    print(f"\n== cost model from {', '.join(f'{n:,}' for n in table)} keyframes")
    print("  shapes: storage and scoring c*N, HNSW build c*N*log2(N), search p95 c*log2(N); c by least squares")
    if len(results) > 1:
        print("  check: fitted on the smallest size alone, predicted vs measured at the larger ones")
        for name in names:
            (n0, y0), *rest = have[name]
            c0 = fit([(n0, y0)], shape[name])
            cells = [
                f"{n0:,} -> {n:,}: predicted {c0 * SHAPES[shape[name]](n):,.2f}, measured {y:,.2f} "
                f"({100 * (c0 * SHAPES[shape[name]](n) / y - 1):+.0f}%)"
                for n, y in rest
            ]
            print(f"    {name:40s} {'; '.join(cells) or 'one size only'}")
    at, serial = amdahl(results)
    largest = max((r for r in results if r["search"]), key=lambda r: r["n"], default=None)
    p50 = next(x["p50_ms"] for x in largest["search"]["plain"] if x["target"] == HEADLINE) if largest else math.nan
    print(
        f"  extrapolated (fitted on every size measured). HNSW build on p cores: the 2-process fit, scaled by Amdahl's "
        f"law with serial fraction {serial:.2f} (from the 1- vs 2-process builds at {at:,}); scoring on p cores: the "
        "2-core time x 2/p (parallel scans scale with cores until memory bandwidth: optimistic); search p95 is one "
        f"query on one core (throughput ~ cores / p50: {p50:.0f} ms p50 at {largest['n'] if largest else 0:,}). "
        "Assumes the HNSW graph fits in RAM (shared_buffers + page cache) for search and in maintenance_work_mem for "
        "the build (else pgvector finishes it on disk, several times slower); no fixed costs (fits through the origin)"
    )
    for target in (10_000_000, 100_000_000):
        print(f"  at {target:,} keyframes:")
        for name in names:
            y = fit(have[name], shape[name]) * SHAPES[shape[name]](target)
            extra = ""
            if name.startswith("HNSW build, 2"):
                t1 = y / (serial + (1 - serial) / 2)
                extra = "; " + ", ".join(f"{p} cores {t1 * (serial + (1 - serial) / p) / 3600:,.1f} h" for p in cores)
            elif name.startswith("scoring"):
                extra = "; " + ", ".join(f"{p} cores {y * 2 / p:,.0f} s" for p in cores)
            unit = f" ({y / 3600:,.1f} h)" if name.endswith("(s)") and y > 3600 else ""
            print(f"    {name:40s} {y:,.2f}{unit}{extra}")
        graph = fit(have.get("HNSW index (GiB)") or [(1, math.nan)], "N") * target
        heap = fit(have["heap + b-tree (GiB)"], "N") * target
        print(
            f"    RAM to search from memory >= {graph:,.0f} GiB (the graph) plus the heap pages results read; "
            f"the build's maintenance_work_mem >= {1.2 * graph:,.0f} GiB; disk >= {graph + heap:,.0f} GiB + scores"
        )
    gpu_h = KEYFRAMES_PER_HOUR / (GPU_KEYFRAMES_PER_S * 3600)
    print(
        f"  embedding (ASSUMED: {KEYFRAMES_PER_HOUR:,} keyframes per hour of video at the ingest defaults of one "
        f"keyframe per shot and one at least every {DEFAULT_EVERY_S:.0f} s, floor {3600 / DEFAULT_EVERY_S:.0f}; "
        f"ASSUMED: {GPU_KEYFRAMES_PER_S:,} keyframes/s per GPU worker, not measured here; measured: "
        f"{CPU_KEYFRAMES_PER_S:g} keyframes/s on 2 CPU cores): {gpu_h * 3600:.1f} "
        "GPU-seconds per hour of video"
    )
    for m in gpus:
        per_min = m * GPU_KEYFRAMES_PER_S * 60 / KEYFRAMES_PER_HOUR
        print(
            f"    {m:3d} GPU workers: {per_min:,.0f} hours of video per minute; 10M keyframes in "
            f"{1e7 / (m * GPU_KEYFRAMES_PER_S) / 60:,.1f} min, 100M in {1e8 / (m * GPU_KEYFRAMES_PER_S) / 3600:,.2f} h"
        )
    print(
        f"    CPU (2 cores, measured): embedding {CPU_KEYFRAMES_PER_S * 60 / KEYFRAMES_PER_HOUR:.2f} hours of video "
        f"per minute (1M keyframes in {1e6 / CPU_KEYFRAMES_PER_S / 3600:,.0f} h); a whole 720p video ingest "
        f"{CPU_VIDEO_S_PER_S * 60 / 3600:.2f} hours of video per minute: decoding, not the model, is the CPU's wall "
        "for video"
    )
    cores_per_gpu = GPU_KEYFRAMES_PER_S / KEYFRAMES_PER_HOUR * 3600 / (CPU_VIDEO_S_PER_S / 2)
    print(
        f"    so a GPU worker's {GPU_KEYFRAMES_PER_S * 60 / KEYFRAMES_PER_HOUR:,.0f} hours of video per minute also "
        f"needs that video decoded: ~{cores_per_gpu:,.0f} CPU cores at this decode path's measured rate (every frame "
        "at full size, for the shots), or the GPU's video decoder; the GPU figures above assume decoding keeps up"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,2000000", help="keyframe counts, comma-separated")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--cores", default="8,32,64", help="core counts for the extrapolation")
    ap.add_argument("--gpus", default="1,8,32", help="GPU worker counts for the embedding figures")
    ap.add_argument("--model-only", action="store_true", help="the cost model from every size saved so far")
    ap.add_argument(
        "--hnsw-max",
        type=int,
        default=10**12,
        help="sizes above this skip the HNSW builds and the searches (storage, scoring and the timeline still run)",
    )
    ap.add_argument(
        "--one-process-max",
        type=int,
        default=10**12,
        help="sizes above this skip the 1-process HNSW build (the longest step); the model takes its speed-up "
        "from a smaller size",
    )
    ap.add_argument("--fresh", action="store_true", help="drop each size's bench database first (no reuse)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where each size's figures are saved")
    args = ap.parse_args()
    cores = [int(x) for x in args.cores.split(",")]
    gpus = [int(x) for x in args.gpus.split(",")]
    if args.model_only:
        results = [json.loads(p.read_text()) for p in sorted(args.results.glob("*.json"))]
        if not results:
            sys.exit(f"no saved figures under {args.results}: run bench/bench_scale.py --sizes N first")
    else:
        sizes = [int(n) for n in args.sizes.split(",")]
        results = [
            measure_size(n, args.queries, args.k, args.results, args.hnsw_max, args.one_process_max, args.fresh)
            for n in sizes
        ]
    cost_model(results, cores, gpus)


if __name__ == "__main__":
    main()
