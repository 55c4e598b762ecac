"""`make bench`: every benchmark, one after the other, each printing its own figures. The scale benchmark's sizes come
from SCALE_SIZES (`make bench SCALE_SIZES=20000`; default 1M and 2M keyframes: hours on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ["bench_keyframes.py"],
    ["bench_ingest.py"],
    ["bench_backfill.py"],
    ["bench_offline_model.py"],
    ["bench_zero_shot.py"],
    ["bench_crops.py"],
    ["bench_training.py"],
    ["bench_quality.py"],
    ["bench_label_efficiency.py"],
    ["bench_llm.py"],
    ["bench_asr.py"],
    ["bench_faces.py"],
    ["bench_scoring.py", "--keyframes", "1000000"],
    ["bench_partitions.py"],
    ["bench_ui.py"],
    ["bench_segments.py"],
    ["bench_search.py", "--keyframes", "1000000"],
    ["bench_concepts.py", "--keyframes", "1000000"],
    ["bench_scale.py", "--sizes", os.environ.get("SCALE_SIZES") or "1000000,2000000"],
]

if __name__ == "__main__":
    failed = []
    for args in BENCHES:
        script = HERE / args[0]
        if not script.exists():
            continue
        print(f"\n### {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(script), *args[1:]]).returncode != 0:
            failed.append(args[0])
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")
