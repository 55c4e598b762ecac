"""LLM features: ground-truth throughput against a local chat-completions server with a fixed latency, by
concurrency and with rate limiting (429 + Retry-After); WordNet suggestion latency (cold load, then per tag).

    .venv/bin/python bench/bench_llm.py [--latency 0.1] [--images 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediatag.llm.client import ChatClient  # noqa: E402
from mediatag.llm.config import LLMConfig  # noqa: E402
from mediatag.llm.ground_truth import Item, ask  # noqa: E402
from tests.llm_server import FakeLLM, Reply, judge  # noqa: E402

TAG = {"tag": "bright scene", "tag_group": "Bench", "positives": ["a sunny beach"], "negatives": ["a night street"]}


def run(fake: FakeLLM, paths: list[Path], concurrency: int) -> tuple[float, int, int]:
    from concurrent.futures import ThreadPoolExecutor

    cfg = LLMConfig(
        url=fake.url,
        model="bench",
        concurrency=concurrency,
        max_retries=6,
        backoff_s=0.05,
        max_backoff_s=1.0,
        timeout_s=10,
    )
    fake.requests.clear()
    fake.counts.clear()
    t0 = time.perf_counter()
    with ChatClient(cfg) as client, ThreadPoolExecutor(concurrency) as pool:
        outs = list(pool.map(lambda p: ask(client, "bench", TAG, Item(0, None, str(p), 0, None, None), 768), paths))
    dt = time.perf_counter() - t0
    return len(paths) / dt, sum(o.answer is not None for o in outs), len(fake.requests)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.1, help="seconds the fake server takes per reply")
    ap.add_argument("--images", type=int, default=64)
    args = ap.parse_args()
    paths = sorted((ROOT / "samples" / "coco64" / "images").glob("*.jpg"))[: args.images]
    fake = FakeLLM()
    try:
        fake.behaviour = lambda req, n: Reply(200, judge(req, n).body, delay=args.latency)
        print(f"ground truth, {len(paths)} images, server latency {args.latency * 1000:.0f} ms per reply")
        for c in (1, 4, 8):
            rate, answered, requests = run(fake, paths, c)
            print(f"  concurrency {c}: {rate:6.1f} items/s  answered {answered}/{len(paths)}  requests {requests}")

        def limited(req, n):
            if n == 1:  # every item is rate-limited once
                return Reply(429, {"error": "slow down"}, headers={"Retry-After": "0.2"})
            return Reply(200, judge(req, n).body, delay=args.latency)

        fake.behaviour = limited
        rate, answered, requests = run(fake, paths, 4)
        print(
            f"  concurrency 4, each item 429 once (Retry-After 0.2 s): {rate:6.1f} items/s  answered "
            f"{answered}/{len(paths)}  requests {requests}"
        )
    finally:
        fake.close()

    from mediatag.llm.wordnet import reader, wordnet_suggestions

    t0 = time.perf_counter()
    reader()
    print(f"WordNet: database loaded in {time.perf_counter() - t0:.2f} s (once per service process)")
    tags = ["dog", "scary scenes", "red car", "ice cream", "beach", "person", "birthday party", "Will Smith"]
    t0 = time.perf_counter()
    counts = [len(wordnet_suggestions(t)) for t in tags]
    dt = (time.perf_counter() - t0) / len(tags)
    print(
        f"WordNet suggestions: {dt * 1000:.1f} ms per tag, {sum(counts) / len(counts):.1f} prompts per tag "
        f"({', '.join(f'{t}: {n}' for t, n in zip(tags, counts, strict=True))})"
    )


if __name__ == "__main__":
    main()
