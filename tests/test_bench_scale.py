"""The scale benchmark (bench/bench_scale.py) at a small size, so the figures `make bench` prints at 1M and 2M
keyframes cannot silently rot: it loads 20,000 keyframes through the ingest staging path into a real dataset,
builds the HNSW graph with 1 and 0 parallel maintenance workers, searches, scores a 20-tag group, times the score
timeline with and without an asset_id index, saves its figures and prints the cost model from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_scale.py"
N = 20_000


def test_bench_scale_small(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", str(N), "--queries", "10", "--fresh", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    r = json.loads((tmp_path / f"{N}.json").read_text())
    assert r["n"] == N

    # Storage: a 512-d halfvec is 1,024 bytes, so a keyframe row is more than that; the graph holds the vectors too.
    s = r["storage"]
    assert 1024 < s["heap"] / N < 4096, s
    assert 1024 < s["hnsw"] / N < 8192, s
    assert s["scores"]["visual"] > 0 and s["scores"]["shot"] > 0, s
    assert "storage per keyframe: heap" in out

    # Both builds ran; the parallel one really got its worker, the serial one none.
    builds = {b["workers"]: b for b in r["builds"]}
    assert builds[1]["workers_seen"] == 1 and builds[0]["workers_seen"] == 0, builds
    assert all(b["seconds"] > 0 and b["bytes"] > 0 and "m=" in b["options"] for b in builds.values()), builds
    assert "HNSW build speed-up with 2 processes" in out

    # Search against exact results: the highest recall target is met on clustered vectors, filtered or not.
    for key in ("plain", "filtered"):
        best = max(r["search"][key], key=lambda x: x["target"])
        assert best["recall"] >= 0.9, (key, best)
        assert 0 < best["p50_ms"] <= best["p95_ms"], (key, best)

    assert r["scoring"]["seconds"] > 0 and "visual" in r["scoring"]["steps"]
    # The scoring job built the shipped BRIN index on asset_id in the keyframe and shot partitions.
    tl = r["timeline"]
    assert len(tl["shipped"]) == 2 and all("asset_id" in name for name in tl["shipped"]), tl["shipped"]
    assert all(tl[k]["build_s"] > 0 and tl[k]["p50_ms"] > 0 for k in ("btree", "brin")) and tl["none"]["p50_ms"] > 0

    # The cost model from these figures, in this run and again from the saved file alone.
    for text in (out, _model_only(tmp_path)):
        assert "at 100,000,000 keyframes" in text
        assert "hours of video per minute" in text
        assert "HNSW build, 2 processes (s)" in text


def _model_only(results: Path) -> str:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--model-only", "--results", str(results)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return run.stdout
