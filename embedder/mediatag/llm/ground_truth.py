"""Evaluator ground truth from a vision model: for each sampled keyframe of an evaluation, ask whether the tag
applies (the image as a base64 data URL, the tag's name and its positive/negative prompts in the question).

Every item's outcome is committed as soon as it arrives (answer, model, raw reply, tokens, or the failure), so a
run that stops — crash, outage, restart — loses nothing, and the next run asks only what has no answer yet.
Requests run `concurrency` at a time; each retries on 429/5xx/timeouts (see client.py). When `breaker` items in a
row fail even after their retries, the endpoint is taken to be down and the run stops early with an error instead
of burning through the rest of the sample.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import psycopg
from PIL import Image

from ..media import MediaError, load_image
from .client import ChatClient, ChatResult, LLMError
from .config import LLMConfig
from .parse import ReplyError, parse_verdict

log = logging.getLogger("mediatag.llm")

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "applies": {"type": "boolean"},
        "confidence": {"type": "number"},
        "reason": {"type": "string"},
    },
    "required": ["applies", "confidence", "reason"],
    "additionalProperties": False,
}
SYSTEM = (
    "You are a careful annotator checking tags on a media library. Judge only what the image shows. "
    'Reply with JSON only: {"applies": true or false, "confidence": a number from 0 to 1, "reason": "a few words"}.'
)


class EndpointDown(RuntimeError):
    pass


@dataclass
class Item:
    keyframe_id: int
    shot_id: int | None
    image_path: str
    time_ms: int | None
    shot_start_ms: int | None
    shot_end_ms: int | None


@dataclass
class Outcome:
    item: Item
    answer: bool | None = None
    confidence: float | None = None
    reason: str | None = None
    model: str = ""
    raw_reply: str | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int | None = None


def image_data_url(path: str, max_side: int) -> str:
    img = load_image(path)
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def question(tag: str, group: str, positives: list[str], negatives: list[str], item: Item) -> str:
    lines = [f'Does the tag "{tag}" (from the tag group "{group}") apply to this image?']
    if positives:
        lines.append("The tag covers images like: " + "; ".join(positives[:12]) + ".")
    if negatives:
        lines.append("It does NOT cover: " + "; ".join(negatives[:12]) + ".")
    if item.shot_start_ms is not None and item.shot_end_ms is not None:
        lines.append(
            f"The image is a keyframe of a video shot ({item.shot_start_ms / 1000:.1f}-"
            f"{item.shot_end_ms / 1000:.1f} s); answer for that shot as this frame shows it."
        )
    lines.append('Answer with JSON: {"applies": true|false, "confidence": 0..1, "reason": "..."}.')
    return "\n".join(lines)


def ask(client: ChatClient, model: str, tag: dict[str, Any], item: Item, max_side: int) -> Outcome:
    out = Outcome(item=item, model=model)
    try:
        url = image_data_url(item.image_path, max_side)
    except MediaError as e:
        out.error, out.error_kind = f"cannot read the keyframe image: {e}", "error"
        return out
    messages = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": question(tag["tag"], tag["tag_group"], tag["positives"], tag["negatives"], item),
                },
                {"type": "image_url", "image_url": {"url": url}},
            ],
        },
    ]
    try:
        res: ChatResult = client.chat(messages, model=model, schema=VERDICT_SCHEMA, max_tokens=200)
    except LLMError as e:
        out.error, out.error_kind, out.attempts = str(e), "transient" if e.transient else "error", e.attempts
        return out
    out.model = res.model or model
    out.raw_reply = res.content if res.refusal is None else (res.content or res.refusal)
    out.attempts, out.latency_ms = res.attempts, res.latency_ms
    out.prompt_tokens, out.completion_tokens = res.prompt_tokens, res.completion_tokens
    try:
        v = parse_verdict(res.content, res.refusal, res.finish_reason)
        out.answer, out.confidence, out.reason = v.applies, v.confidence, v.reason
    except ReplyError as e:
        out.error, out.error_kind = str(e), e.kind
    return out


def _record(conn: psycopg.Connection, evaluation_id: int, o: Outcome, cost: float | None, job_id: int | None) -> None:
    conn.execute(
        "SELECT mediatag._record_llm_answer(%s::bigint, %s::bigint, %s::boolean, %s::real, %s::text, %s::text, "
        "%s::text, %s::text, %s::text, %s::int, %s::int, %s::int, %s::float8, %s::int, %s::bigint)",
        (
            evaluation_id,
            o.item.keyframe_id,
            o.answer,
            o.confidence,
            o.reason,
            o.model,
            o.raw_reply,
            o.error,
            o.error_kind,
            o.attempts,
            o.prompt_tokens,
            o.completion_tokens,
            cost,
            o.latency_ms,
            job_id,
        ),
    )


def progress_line(conn: psycopg.Connection, evaluation_id: int) -> str:
    return conn.execute("SELECT line FROM mediatag.evaluation_progress(%s)", (evaluation_id,)).fetchone()[0]


def run_ground_truth(
    conn: psycopg.Connection,
    evaluation_id: int,
    config: LLMConfig,
    job_id: int | None = None,
    client: ChatClient | None = None,
) -> dict[str, Any]:
    """Ask the VLM about every pending item of the evaluation; returns counts for this run. `conn` is autocommit."""
    if not config.configured:
        raise LLMError(
            "no vision model configured: set MEDIATAG_LLM_URL and MEDIATAG_VLM_MODEL (or MEDIATAG_LLM_MODEL)"
            " for `mediatag serve`, or record ground truth by hand with mediatag.set_ground_truth()",
            transient=False,
        )
    model = config.vision_model or ""
    tag = conn.execute(
        "SELECT tag, tag_group, positives, negatives FROM mediatag._llm_evaluation_tag(%s)", (evaluation_id,)
    ).fetchone()
    tag = dict(zip(("tag", "tag_group", "positives", "negatives"), tag, strict=True))
    items = [Item(*r) for r in conn.execute("SELECT * FROM mediatag._llm_pending_items(%s)", (evaluation_id,))]
    log.info("ground truth for evaluation %d: %d item(s) to ask %s at %s", evaluation_id, len(items), model, config.url)
    own = client is None
    client = client or ChatClient(config)
    stop = threading.Event()
    stats = {"asked": 0, "answered": 0, "failed": 0, "tokens": 0, "cost_usd": None}
    consecutive = 0
    last_log = time.monotonic()

    def task(item: Item) -> Outcome | None:
        if stop.is_set():
            return None  # not asked: the run is stopping
        return ask(client, model, tag, item, config.image_size)

    try:
        with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="vlm") as pool:
            # Submit a window at a time, so stopping leaves the rest unasked instead of queued in the pool.
            todo = list(reversed(items))
            running: set[Future[Outcome | None]] = set()
            while todo or running:
                while todo and len(running) < config.concurrency * 2 and not stop.is_set():
                    running.add(pool.submit(task, todo.pop()))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    o = f.result()
                    if o is None:
                        continue
                    cost = config.cost_usd(o.prompt_tokens, o.completion_tokens)
                    _record(conn, evaluation_id, o, cost, job_id)
                    stats["asked"] += 1
                    stats["tokens"] += o.prompt_tokens + o.completion_tokens
                    if cost is not None:
                        stats["cost_usd"] = (stats["cost_usd"] or 0.0) + cost
                    if o.answer is not None:
                        stats["answered"] += 1
                        consecutive = 0
                    else:
                        stats["failed"] += 1
                        # failures of the endpoint count (attempts > 0), not unreadable images or odd replies
                        consecutive = consecutive + 1 if o.error_kind in ("transient", "error") and o.attempts else 0
                        log.warning("keyframe %d: %s", o.item.keyframe_id, o.error)
                        if consecutive >= config.breaker and not stop.is_set():
                            stop.set()
                            stats["stopped"] = o.error
                if time.monotonic() - last_log > 10 or not (todo or running):
                    log.info("%s", progress_line(conn, evaluation_id))
                    last_log = time.monotonic()
    finally:
        if own:
            client.close()
    stats["response_format"] = client.response_format
    if "stopped" in stats:
        raise EndpointDown(
            f"stopped after {consecutive} failures in a row, the endpoint looks down ({stats['stopped']}); "
            f"{progress_line(conn, evaluation_id)}. Run mediatag.request_ground_truth({evaluation_id}) again to "
            "continue: answered items are not asked again"
        )
    return stats
