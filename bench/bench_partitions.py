"""Score partitions per dataset: one group applied to 50 small datasets and one bigger one, then rescoring and
dropping one dataset timed. Score tables are LIST-partitioned by dataset (sql/src/scoring.sql), so rescoring or
dropping one dataset touches its own partitions only: its time follows that dataset's size, not how many datasets
the group is applied to. The bench prints the small dataset's rescoring time with the group on 1 dataset and on 51,
the big one's beside it (with the size ratio), the unapply / drop_dataset times, and checks the partitions: one per
dataset holding exactly that dataset's keyframes, the others untouched by a drop, and a query on one dataset
reading one partition (plan pruning).

    python bench/bench_partitions.py [--datasets 50] [--small 2000] [--big 100000] [--dim 128] [--tags 10]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import bench_database_url  # noqa: E402
from bench_scoring import load, synthetic_vectors  # noqa: E402
from synthetic_service import start  # noqa: E402

from mediatag.db import connect  # noqa: E402

BENCH_DB = "mediatag_bench_partitions"
GROUP = "Partitions bench"


def timed(c: psycopg.Connection, sql: str, params: tuple, repeat: int = 1) -> float:
    """The median wall time of `sql` over `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        c.execute(sql, params)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_queue(c: psycopg.Connection) -> int:
    ran = 0
    while True:
        n = c.execute("CALL mediatag.run_jobs(1000, 'bench', NULL)").fetchone()[0]
        ran += n
        if n == 0:
            return ran


def partitions(c: psycopg.Connection, parent: str) -> dict[int, int]:
    """Rows per dataset id in each partition of `parent` (named <parent>_ds<id>), counted."""
    names = [
        r[0]
        for r in c.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            (f"mediatag_data.{parent}",),
        )
    ]
    out = {}
    for name in names:
        did = int(name.rsplit("_ds", 1)[1])
        out[did] = c.execute(f'SELECT count(*) FROM mediatag_data."{name}"').fetchone()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=50, help="small datasets")
    ap.add_argument("--small", type=int, default=2000, help="keyframes per small dataset")
    ap.add_argument("--big", type=int, default=100_000, help="keyframes in the big dataset")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--tags", type=int, default=10)
    args = ap.parse_args()

    total = args.datasets * args.small + args.big
    print(
        f"== score partitions: 1 group ({args.tags} tags) on {args.datasets} datasets x {args.small:,} keyframes "
        f"+ 1 x {args.big:,} ({total:,} keyframes, {args.dim}-d)"
    )
    url = bench_database_url(BENCH_DB)
    model = f"synthetic-{args.dim}"
    X, basis = synthetic_vectors(total, args.dim)
    svc, stop = start({model: args.dim, "synthetic-text-64": 64}, {model: basis})
    small = [f"parts small {i:02d}" for i in range(args.datasets)]
    big = "parts big"
    try:
        t0 = time.perf_counter()
        with connect(url) as conn:
            conn.execute(
                "SELECT mediatag.drop_tag_group(%s) WHERE EXISTS (SELECT 1 FROM mediatag.tag_group "
                "WHERE lower(name) = lower(%s))",
                (GROUP, GROUP),
            )
            conn.commit()
            with contextlib.redirect_stdout(io.StringIO()):  # one "loaded" line per dataset otherwise
                for i, name in enumerate(small):
                    load(conn, name, X[i * args.small : (i + 1) * args.small])
                load(conn, big, X[args.datasets * args.small :])
        print(f"  {args.datasets + 1} datasets loaded or reused: {time.perf_counter() - t0:.1f}s")

        with psycopg.connect(url, autocommit=True) as c:
            c.execute("VACUUM ANALYZE mediatag.keyframe")
            c.execute("SELECT mediatag.set_service(%s)", (svc,))
            c.execute("SELECT mediatag.refresh_samples(%s)", (small[0],))
            c.execute(
                "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => %s, visibility => 'shareable')",
                (small[0], GROUP, [f"concept {i}" for i in range(args.tags)]),
            )
            c.execute("SELECT mediatag.publish_tag_group(%s)", (GROUP,))
            run_queue(c)
            ids = dict(c.execute("SELECT name, id FROM mediatag.dataset WHERE name = ANY(%s)", ([*small, big],)))
            slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (GROUP,)).fetchone()
            parent = f"dt_{slug[0]}_visual_scores"
            segment_parent = f"dt_{slug[0]}_segment_scores"
            rescore = "SELECT mediatag.score_tag_group(%s, %s)"

            one = timed(c, rescore, (GROUP, small[0]), repeat=3)
            print(f"  rescoring {small[0]!r} ({args.small:,} keyframes), group on 1 dataset: {one * 1000:.0f} ms")

            t0 = time.perf_counter()
            for name in [*small[1:], big]:
                c.execute("SELECT mediatag.apply_tag_group(%s, %s)", (GROUP, name))
            jobs = run_queue(c)
            wall = time.perf_counter() - t0
            print(f"  applied to {len(small) - 1} more datasets + the big one: {jobs} scoring jobs in {wall:.1f}s")

            parts = partitions(c, parent)
            kf = dict(
                c.execute(
                    "SELECT dataset_id, count(*) FROM mediatag.keyframe WHERE dataset_id = ANY(%s) GROUP BY 1",
                    (list(ids.values()),),
                )
            )
            assert len(parts) == len(ids), f"{len(parts)} partitions for {len(ids)} datasets"
            assert all(parts[d] == kf[d] for d in ids.values()), "a partition does not hold its dataset's keyframes"
            print(f"  {parent}: {len(parts)} partitions, one per dataset, each holding its dataset's keyframes")
            segs = partitions(c, segment_parent)
            assert set(segs) == set(ids.values()), f"{len(segs)} segment partitions for {len(ids)} datasets"
            print(f"  {segment_parent}: {len(segs)} partitions, one per dataset ({sum(segs.values()):,} segments)")
            plan = "\n".join(
                r[0]
                for r in c.execute(
                    f"EXPLAIN (COSTS OFF) SELECT count(*) FROM mediatag_data.{parent} WHERE dataset_id = {ids[big]}"
                )
            )
            scanned = plan.count(f"{parent}_ds")
            assert scanned == 1, plan
            print(f"  a query on one dataset scans {scanned} partition of {len(parts)} (plan pruning)")

            many = timed(c, rescore, (GROUP, small[0]), repeat=3)
            t0 = time.perf_counter()
            res = c.execute(rescore, (GROUP, big)).fetchone()[0]
            big_t = time.perf_counter() - t0
            print(
                f"  rescoring {small[0]!r}, group on {len(ids)} datasets: {many * 1000:.0f} ms "
                f"({many / one:.2f}x the time with 1 dataset)"
            )
            print(
                f"  rescoring the big dataset ({args.big:,} keyframes, {args.big / args.small:.0f}x the size): "
                f"{big_t * 1000:.0f} ms ({big_t / many:.1f}x the small one): a fixed {many * 1000:.0f} ms per job "
                f"(views, swap, commit) plus {1e6 * (big_t - many) / (args.big - args.small):.1f} us per keyframe"
            )
            steps = dict(res["step_seconds"])
            segments = steps.pop("segments")
            each = ", ".join(f"{k} {v}s" for k, v in steps.items())
            print(
                f"    big job: score tables {sum(steps.values()):.2f}s ({each}), segments {segments:.2f}s,"
                f" the rest {res['seconds'] - sum(steps.values()) - segments:.2f}s"
            )

            before = partitions(c, parent)
            unapply = "SELECT mediatag.unapply_tag_group(%s, %s)"
            drop_small = timed(c, unapply, (GROUP, small[1]))
            drop_big = timed(c, unapply, (GROUP, big))
            after = partitions(c, parent)
            gone = {ids[small[1]], ids[big]}
            assert set(after) == set(before) - gone, "unapply dropped other partitions"
            assert all(after[d] == before[d] for d in after), "unapply changed another dataset's scores"
            assert set(partitions(c, segment_parent)) == set(after), "unapply left segments or dropped others"
            print(
                f"  unapply (drops its partitions): small {drop_small * 1000:.0f} ms, big {drop_big * 1000:.0f} ms; "
                f"the other {len(after)} partitions untouched"
            )
            drop_ds = timed(c, "SELECT mediatag.drop_dataset(%s)", (small[2],))
            left = partitions(c, parent)
            assert set(left) == set(after) - {ids[small[2]]} and all(left[d] == after[d] for d in left)
            assert set(partitions(c, segment_parent)) == set(left), "drop_dataset left segments or dropped others"
            print(f"  drop_dataset of one small dataset: {drop_ds * 1000:.0f} ms; {len(left)} partitions left intact")
    finally:
        stop()


if __name__ == "__main__":
    main()
