"""LLM features against a local chat-completions server (tests/llm_server.py) and the real WordNet data: request
shapes, reply parsing, retries and timeouts, the ground-truth job's resumability, and prompt suggestions in SQL."""

from __future__ import annotations

import json
import time
from collections import Counter

import psycopg
import pytest

from mediatag.llm import jobs as llm_jobs
from mediatag.llm.client import ChatClient, LLMError
from mediatag.llm.config import ConfigError, LLMConfig
from mediatag.llm.ground_truth import image_data_url, run_ground_truth
from mediatag.llm.parse import ReplyError, extract_json, parse_verdict
from mediatag.llm.wordnet import wordnet_suggestions

from .conftest import unique
from .llm_server import BRIGHT, FakeLLM, Reply, brightness, completion, image_of, judge


@pytest.fixture
def fake():
    f = FakeLLM()
    yield f
    f.close()


def config(fake: FakeLLM, **kw) -> LLMConfig:
    base = dict(
        url=fake.url,
        model="fake-llm",
        vlm_model="fake-vlm",
        timeout_s=2.0,
        concurrency=2,
        max_retries=3,
        backoff_s=0.01,
        max_backoff_s=0.05,
        breaker=3,
    )
    base.update(kw)
    return LLMConfig(**base)


def use_fake_env(monkeypatch: pytest.MonkeyPatch, fake: FakeLLM, **extra: str) -> None:
    env = {
        "MEDIATAG_LLM_URL": fake.url,
        "MEDIATAG_LLM_MODEL": "fake-llm",
        "MEDIATAG_VLM_MODEL": "fake-vlm",
        "MEDIATAG_LLM_API_KEY": "sk-test",
        "MEDIATAG_LLM_BACKOFF": "0.01",
        "MEDIATAG_LLM_MAX_BACKOFF": "0.05",
        "MEDIATAG_LLM_TIMEOUT": "2",
        **extra,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def eval_group(db_url, service, coco_dataset) -> str:
    from mediatag import Client

    client = Client(db_url)
    group = unique("Judge")
    client.create_tag_group(coco_dataset, group, ["bright scene"])
    client.add_prompt(group, "bright scene", "a sunny beach at noon", modality="visual")
    client.add_prompt(group, "bright scene", "a dark night street", polarity="negative", modality="visual")
    client.publish_tag_group(group)
    client.run_jobs()
    return group


@pytest.fixture
def evaluation(client, eval_group) -> int:
    return client.start_evaluation(eval_group, "bright scene", size=20, seed=int(time.time() * 1000) % 1000)


def items(conn: psycopg.Connection, eid: int) -> list[tuple]:
    return conn.execute(
        "SELECT i.keyframe_id, k.image_path, i.truth, i.truth_source FROM mediatag.evaluation_item i "
        "JOIN mediatag.keyframe k ON k.id = i.keyframe_id WHERE i.evaluation_id = %s ORDER BY 1",
        (eid,),
    ).fetchall()


def answers(conn: psycopg.Connection, eid: int) -> dict[int, dict]:
    cur = conn.execute("SELECT * FROM mediatag.evaluation_llm_answer WHERE evaluation_id = %s", (eid,))
    cols = [d.name for d in cur.description]
    return {r[1]: dict(zip(cols, r, strict=True)) for r in cur}


def progress(conn: psycopg.Connection, eid: int) -> dict:
    cur = conn.execute("SELECT * FROM mediatag.evaluation_progress(%s)", (eid,))
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def expected_truth(path: str, cfg: LLMConfig) -> bool:
    # What the fake judge sees: the same image the worker sends (decoded from its data URL).
    import base64

    return brightness(base64.b64decode(image_data_url(path, cfg.image_size).split(",", 1)[1])) > BRIGHT


# ---- parsing -----------------------------------------------------------------------------------------------------


def test_tolerant_json_and_verdicts():
    assert extract_json('Sure! ```json\n{"applies": true}\n``` hope that helps') == {"applies": True}
    assert extract_json('The answer is {"applies": false, "reason": "dark"} as asked.') == {
        "applies": False,
        "reason": "dark",
    }
    v = parse_verdict('{"applies": "yes", "confidence": 7, "reason": "a beach"}')
    assert v.applies is True and v.confidence == 1.0 and v.reason == "a beach"
    assert parse_verdict("No. The image shows a night street.").applies is False
    assert parse_verdict("**Yes** - it is sunny").applies is True
    with pytest.raises(ReplyError) as e:
        parse_verdict("I'm sorry, but I can't help with identifying that.")
    assert e.value.kind == "refused"
    with pytest.raises(ReplyError) as e:
        parse_verdict('{"applies": true}', refusal="I cannot assist with that request.")
    assert e.value.kind == "refused"
    with pytest.raises(ReplyError) as e:
        parse_verdict("The picture shows a cat on a sofa.")
    assert e.value.kind == "malformed"
    with pytest.raises(ReplyError):
        extract_json("")


def test_config_from_env_names_the_problem():
    assert not LLMConfig.from_env({}).configured
    c = LLMConfig.from_env({"MEDIATAG_LLM_URL": "http://127.0.0.1:11434/v1/", "MEDIATAG_LLM_MODEL": "llava"})
    assert c.configured and c.url == "http://127.0.0.1:11434/v1" and c.vision_model == "llava"
    c = LLMConfig.from_env(
        {
            "MEDIATAG_LLM_URL": "http://h/v1",
            "MEDIATAG_LLM_MODEL": "m",
            "MEDIATAG_VLM_MODEL": "v",
            "MEDIATAG_LLM_PRICE_INPUT": "2",
            "MEDIATAG_LLM_PRICE_OUTPUT": "8",
        }
    )
    assert c.vision_model == "v" and c.cost_usd(1_000_000, 500_000) == pytest.approx(6.0)
    with pytest.raises(ConfigError, match="MEDIATAG_LLM_MODEL"):
        LLMConfig.from_env({"MEDIATAG_LLM_URL": "http://h/v1"})
    with pytest.raises(ConfigError, match="MEDIATAG_LLM_URL"):
        LLMConfig.from_env({"MEDIATAG_LLM_URL": "ftp://h/v1", "MEDIATAG_LLM_MODEL": "m"})
    with pytest.raises(ConfigError, match="MEDIATAG_LLM_TIMEOUT"):
        LLMConfig.from_env({"MEDIATAG_LLM_URL": "http://h/v1", "MEDIATAG_LLM_MODEL": "m", "MEDIATAG_LLM_TIMEOUT": "x"})


# ---- the client against the local server -------------------------------------------------------------------------


def test_request_shape_and_retries_on_429_and_500(fake):
    def flaky(req, n):
        if n == 1:
            return Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0"})
        if n == 2:
            return Reply(500, {"error": {"message": "boom"}})
        return completion('{"applies": true, "confidence": 0.5, "reason": "ok"}', model="served-model")

    fake.behaviour = flaky
    with ChatClient(config(fake, api_key="sk-secret")) as c:
        res = c.chat([{"role": "user", "content": "hi"}], schema={"type": "object"}, model="m1")
    assert res.attempts == 3 and res.model == "served-model" and res.prompt_tokens == 120 and res.tokens == 132
    assert len(fake.requests) == 3
    body = fake.requests[-1]
    assert body["model"] == "m1" and body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert fake.headers[-1]["Authorization"] == "Bearer sk-secret"


def test_gives_up_after_max_retries_and_does_not_retry_client_errors(fake):
    fake.behaviour = lambda req, n: Reply(503, {"error": "overloaded"})
    with ChatClient(config(fake, max_retries=2)) as c, pytest.raises(LLMError) as e:
        c.chat([{"role": "user", "content": "x"}])
    assert e.value.transient and e.value.attempts == 3 and len(fake.requests) == 3
    fake.requests.clear()
    fake.behaviour = lambda req, n: Reply(401, {"error": "invalid api key"})
    with ChatClient(config(fake)) as c, pytest.raises(LLMError, match="MEDIATAG_LLM_API_KEY") as e:
        c.chat([{"role": "user", "content": "x"}])
    assert not e.value.transient and len(fake.requests) == 1


def test_slow_reply_past_the_timeout_is_retried(fake):
    fake.behaviour = lambda req, n: (
        completion(
            "yes",
        )
        if n > 1
        else Reply(200, completion("no").body, delay=1.5)
    )
    with ChatClient(config(fake, timeout_s=0.3)) as c:
        res = c.chat([{"role": "user", "content": "slow"}])
    assert res.attempts == 2 and res.content == "yes"


def test_response_format_falls_back_where_the_server_rejects_it(fake):
    def picky(req, n):
        fmt = (req.get("response_format") or {}).get("type")
        if fmt == "json_schema":
            return Reply(400, {"error": {"message": "response_format type json_schema is not supported"}})
        return completion('Here you go: {"applies": false, "confidence": 0.2, "reason": "dark"}')

    fake.behaviour = picky
    with ChatClient(config(fake)) as c:
        first = c.chat([{"role": "user", "content": "a"}], schema={"type": "object"})
        second = c.chat([{"role": "user", "content": "b"}], schema={"type": "object"})
    assert [r.get("response_format", {}).get("type") for r in fake.requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ]
    assert first.attempts == 1 and c.response_format == "json_object"
    assert parse_verdict(second.content).applies is False


def test_malformed_http_reply_is_an_error(fake):
    fake.behaviour = lambda req, n: Reply(200, "<html>proxy error</html>")
    with ChatClient(config(fake)) as c, pytest.raises(LLMError, match="malformed"):
        c.chat([{"role": "user", "content": "x"}])


# ---- ground truth ------------------------------------------------------------------------------------------------


def test_ground_truth_asks_with_images_and_stores_answers(conn, fake, evaluation):
    cfg = config(fake, price_input=1.0, price_output=4.0)
    stats = run_ground_truth(conn, evaluation, cfg)
    rows = items(conn, evaluation)
    assert stats["asked"] == len(rows) == 20 and stats["answered"] == 20 and stats["failed"] == 0
    assert len(fake.requests) == 20
    req = fake.requests[0]
    assert req["model"] == "fake-vlm" and req["response_format"]["type"] == "json_schema"
    user = req["messages"][-1]["content"]
    assert [p["type"] for p in user] == ["text", "image_url"]
    assert user[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert '"bright scene"' in user[0]["text"] and "a sunny beach at noon" in user[0]["text"]
    assert "a dark night street" in user[0]["text"]
    # every image was asked about once, and each answer landed on its own keyframe
    assert sorted(Counter(fake.counts.values()).items()) == [(1, 20)]
    got = answers(conn, evaluation)
    truths = {kid: expected_truth(path, cfg) for kid, path, _, _ in rows}
    assert len(set(truths.values())) == 2, "the sample should hold both bright and dark images"
    for kid, _, truth, source in rows:
        assert truth == truths[kid] and source == "llm"
        a = got[kid]
        assert a["answer"] == truth and a["model"] == "fake-vlm" and a["error"] is None and a["attempts"] == 1
        assert json.loads(a["raw_reply"])["applies"] == truth and a["prompt_tokens"] == 120
    p = progress(conn, evaluation)
    assert (p["asked"], p["answered"], p["failed"], p["remaining"]) == (20, 20, 0, 0)
    assert p["model"] == "fake-vlm" and p["tokens"] == 20 * 132
    assert p["cost_usd"] == pytest.approx(20 * (120 * 1 + 12 * 4) / 1e6)
    assert "20 answered" in p["line"]
    # the metrics now run on the VLM's ground truth
    assert conn.execute("SELECT count(*) FROM mediatag.evaluation_metrics(%s)", (evaluation,)).fetchone()[0] == 101


def test_refused_and_malformed_answers_are_recorded_and_asked_again(conn, fake, evaluation):
    def odd(req, n):
        b = brightness(image_of(req))
        if n == 1 and int(b) % 3 == 0:
            return completion(None, refusal="I can't help with that.")
        if n == 1 and int(b) % 3 == 1:
            return completion("The picture shows something.")
        return judge(req, n)

    fake.behaviour = odd
    cfg = config(fake)
    first = run_ground_truth(conn, evaluation, cfg)
    got = answers(conn, evaluation)
    kinds = Counter(a["error_kind"] for a in got.values())
    assert first["failed"] == kinds["refused"] + kinds["malformed"] > 0 and kinds["refused"] and kinds["malformed"]
    for a in got.values():
        if a["answer"] is None:
            assert a["raw_reply"] and a["error"].startswith(("the model refused", "no yes/no answer"))
    p = progress(conn, evaluation)
    assert p["failed"] == first["failed"] and p["remaining"] == first["failed"] and p["answered"] == first["answered"]
    answered_before = {k for k, a in got.items() if a["answer"] is not None}
    n_before = len(fake.requests)
    second = run_ground_truth(conn, evaluation, cfg)
    assert second["asked"] == first["failed"] and second["answered"] == first["failed"]
    assert len(fake.requests) - n_before == first["failed"]  # only the failed ones were asked again
    got = answers(conn, evaluation)
    assert all(a["answer"] is not None and a["error"] is None for a in got.values())
    assert all(got[k]["attempts"] == 1 for k in answered_before)
    assert progress(conn, evaluation)["remaining"] == 0


def test_person_judgements_are_not_asked_or_overwritten(conn, client, fake, evaluation):
    rows = items(conn, evaluation)
    mine = [rows[0][0], rows[1][0]]
    conn.execute("SELECT mediatag.set_ground_truth(%s, %s, false)", (evaluation, mine))
    conn.execute("SELECT mediatag.remove_evaluation_items(%s, %s)", (evaluation, [rows[2][0]]))
    stats = run_ground_truth(conn, evaluation, config(fake))
    assert stats["asked"] == 17
    after = {r[0]: r for r in items(conn, evaluation)}
    assert all(after[k][2] is False and after[k][3] == "person" for k in mine)
    assert progress(conn, evaluation)["remaining"] == 0
    sdk = client.evaluation_progress(evaluation)  # the SDK method of the same name
    assert (sdk["asked"], sdk["answered"], sdk["remaining"]) == (17, 17, 0)


def test_outage_mid_evaluation_is_resumable_through_the_job(conn, db_url, fake, evaluation, monkeypatch):
    use_fake_env(monkeypatch, fake, MEDIATAG_LLM_MAX_RETRIES="1", MEDIATAG_LLM_CONCURRENCY="2")
    served: Counter[str] = Counter()
    up = {"ok_left": 7}

    def outage(req, n):
        import hashlib

        key = hashlib.sha1(image_of(req)).hexdigest()
        with fake.lock:
            if up["ok_left"] <= 0:
                return Reply(503, {"error": "down for maintenance"})
            up["ok_left"] -= 1
            served[key] += 1
        return judge(req, n)

    fake.behaviour = outage
    job = conn.execute("SELECT mediatag.request_ground_truth(evaluation => %s)", (evaluation,)).fetchone()[0]
    assert conn.execute("SELECT mediatag.request_ground_truth(evaluation => %s)", (evaluation,)).fetchone()[0] == job
    # the in-database runner leaves LLM jobs to the Python worker
    conn.execute("CALL mediatag.run_jobs(100, 'sql', NULL)")
    assert conn.execute("SELECT state FROM mediatag.job WHERE id = %s", (job,)).fetchone()[0] == "queued"
    assert llm_jobs.run_pending(db_url) >= 1
    state, error = conn.execute("SELECT state, error FROM mediatag.job WHERE id = %s", (job,)).fetchone()
    assert state == "error" and "endpoint looks down" in error and "request_ground_truth" in error
    p = progress(conn, evaluation)
    assert p["answered"] == 7 and p["remaining"] == 13 and p["job_state"] == "error"
    truth_set = conn.execute(
        "SELECT count(*) FROM mediatag.evaluation_item WHERE evaluation_id = %s AND truth_source = 'llm'", (evaluation,)
    ).fetchone()[0]
    assert truth_set == 7  # every answer that came back is stored with its ground truth

    up["ok_left"] = 10**6  # the endpoint is back
    job2 = conn.execute("SELECT mediatag.request_ground_truth(evaluation => %s)", (evaluation,)).fetchone()[0]
    assert job2 != job
    assert llm_jobs.run_pending(db_url) >= 1
    state, result = conn.execute("SELECT state, result FROM mediatag.job WHERE id = %s", (job2,)).fetchone()
    assert state == "done" and result["answered"] == 13
    p = progress(conn, evaluation)
    assert (p["answered"], p["remaining"], p["failed"]) == (20, 0, 0)
    assert len(served) == 20 and set(served.values()) == {1}  # nothing answered was asked twice


def test_ground_truth_without_a_vlm_says_what_to_set(conn, db_url, evaluation, monkeypatch):
    for k in ("MEDIATAG_LLM_URL", "MEDIATAG_LLM_MODEL", "MEDIATAG_VLM_MODEL"):
        monkeypatch.delenv(k, raising=False)
    job = conn.execute("SELECT mediatag.request_ground_truth(evaluation => %s)", (evaluation,)).fetchone()[0]
    llm_jobs.run_pending(db_url)
    state, error = conn.execute("SELECT state, error FROM mediatag.job WHERE id = %s", (job,)).fetchone()
    assert state == "error" and "MEDIATAG_LLM_URL" in error and "set_ground_truth" in error
    assert "MEDIATAG_LLM_URL" in progress(conn, evaluation)["line"]  # the progress line says why it stopped
    with pytest.raises(psycopg.Error, match="unknown evaluation"):
        conn.execute("SELECT mediatag.request_ground_truth(evaluation => 999999999)")


# ---- prompt suggestions ------------------------------------------------------------------------------------------


def test_wordnet_suggestions_from_the_real_database():
    got = wordnet_suggestions("dog", [("positive", "visual", "dog"), ("negative", "visual", "a photo of a wolf")])
    kinds = {(s.polarity, s.modality) for s in got}
    assert kinds == {
        ("positive", "visual"),
        ("negative", "visual"),
        ("positive", "transcript"),
        ("negative", "transcript"),
    }
    assert all(s.source == "wordnet" for s in got)
    visual_pos = " | ".join(s.prompt for s in got if s.polarity == "positive" and s.modality == "visual")
    visual_neg = " | ".join(s.prompt for s in got if s.polarity == "negative" and s.modality == "visual")
    assert "domestic dog" in visual_pos and "puppy" in visual_pos  # a synonym and a hyponym
    assert "fox" in visual_neg and "a photo of a wolf" not in visual_neg  # a sibling; the existing one is dropped
    scary = wordnet_suggestions("scary scenes")
    assert any("chilling scene" in s.prompt for s in scary if s.polarity == "positive")
    assert any("unalarming" in s.prompt for s in scary if s.polarity == "negative")  # antonym via a similar adjective
    assert wordnet_suggestions("zzqxv") == []


def _suggest(conn, group, tag):
    cur = conn.execute("SELECT * FROM mediatag.suggest_prompts(tag_group => %s, tag => %s)", (group, tag))
    return [dict(zip([d.name for d in cur.description], r, strict=True)) for r in cur]


def test_offline_suggestions_in_sql_and_add_all(conn, client, coco_dataset, monkeypatch):
    for k in ("MEDIATAG_LLM_URL", "MEDIATAG_LLM_MODEL", "MEDIATAG_VLM_MODEL"):
        monkeypatch.delenv(k, raising=False)
    group = unique("Pets")
    client.create_tag_group(coco_dataset, group, ["dog"])
    rows = _suggest(conn, group, "dog")
    assert rows and {r["source"] for r in rows} == {"wordnet"}
    assert client.suggest_prompts(group, "dog") == rows  # the SDK method; the same WordNet data gives the same rows
    assert {r["modality"] for r in rows} == {"visual", "transcript"} and {r["polarity"] for r in rows} == {
        "positive",
        "negative",
    }
    n = conn.execute("SELECT mediatag.add_suggested_prompts(tag_group => %s, tag => %s)", (group, "dog")).fetchone()[0]
    assert n == len(rows)
    prompts = conn.execute(
        "SELECT polarity, modality, text FROM mediatag.tag_prompt p JOIN mediatag.tag t ON t.id = p.tag_id "
        "JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s AND p.origin = 'llm'",
        (group,),
    ).fetchall()
    assert sorted(prompts) == sorted((r["polarity"], r["modality"], r["prompt"]) for r in rows)
    # asking again suggests nothing the tag already has
    again = _suggest(conn, group, "dog")
    assert not {(r["modality"], r["prompt"]) for r in again} & {(m, t) for _, m, t in prompts}


def test_llm_suggestions_in_sql(conn, client, coco_dataset, fake, monkeypatch):
    use_fake_env(monkeypatch, fake)
    group = unique("Scary")
    client.create_tag_group(coco_dataset, group, ["scary scenes"])
    client.add_prompt(group, "scary scenes", "a dark hallway lit by a flashlight", modality="visual")
    reply = {
        "visual": {
            "positive": [
                "A dark hallway lit by a flashlight.",
                "a masked figure in the fog",
                "a masked figure in the fog",
            ],
            "negative": ["a brightly lit birthday party"],
        },
        "transcript": {"positive": ["did you hear that?", "scary scenes"], "negative": ["happy birthday to you"]},
    }
    fake.behaviour = lambda req, n: completion("```json\n" + json.dumps(reply) + "\n```", model="fake-llm-7b")
    rows = _suggest(conn, group, "scary scenes")
    got = {(r["polarity"], r["modality"], r["prompt"]) for r in rows}
    assert got == {
        ("positive", "visual", "a masked figure in the fog"),
        ("negative", "visual", "a brightly lit birthday party"),
        ("positive", "transcript", "did you hear that?"),
        ("negative", "transcript", "happy birthday to you"),
    }  # duplicates of existing prompts dropped
    assert {r["source"] for r in rows} == {"llm:fake-llm-7b"}
    req = fake.requests[-1]
    assert req["model"] == "fake-llm" and req["response_format"]["type"] == "json_schema"
    schema = req["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"visual", "transcript"}
    assert "a dark hallway lit by a flashlight" in req["messages"][-1]["content"]
    assert fake.headers[-1]["Authorization"] == "Bearer sk-test"
    # what add_suggested_prompts adds is what the user saw, without asking the LLM again
    n_req = len(fake.requests)
    added = conn.execute(
        "SELECT mediatag.add_suggested_prompts(tag_group => %s, tag => %s)", (group, "scary scenes")
    ).fetchone()[0]
    assert added == 4 and len(fake.requests) == n_req


def test_llm_failure_falls_back_to_wordnet_with_a_notice(conn, client, coco_dataset, fake, monkeypatch):
    use_fake_env(monkeypatch, fake, MEDIATAG_LLM_MAX_RETRIES="1")
    fake.behaviour = lambda req, n: Reply(500, {"error": "model crashed"})
    group = unique("Cars")
    client.create_tag_group(coco_dataset, group, ["car"])
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    rows = _suggest(conn, group, "car")
    assert rows and {r["source"] for r in rows} == {"wordnet"}
    assert any("WordNet instead" in m and "HTTP 500" in m for m in notices)


def test_suggest_errors(conn, client, coco_dataset):
    with pytest.raises(psycopg.Error, match="unknown tag group"):
        _suggest(conn, "no such group " + unique("x"), "dog")
    group = unique("Err")
    client.create_tag_group(coco_dataset, group, ["dog"])
    with pytest.raises(psycopg.Error, match="unknown tag"):
        _suggest(conn, group, "cat")
    with pytest.raises(psycopg.Error, match="per_list"):
        conn.execute("SELECT * FROM mediatag.suggest_prompts(%s, 'dog', per_list => 0)", (group,))
    with conn.transaction(force_rollback=True):  # the service setting comes back with the rollback
        conn.execute("SELECT mediatag.set_service('http://127.0.0.1:9')")  # nothing listens on the discard port
        with pytest.raises(psycopg.Error, match="service is not running"), conn.transaction():
            _suggest(conn, group, "dog")


def test_serve_worker_runs_the_ground_truth_job(conn, db_url, fake, evaluation, service, service_token):
    """`mediatag serve`'s worker claims the LLM job (the hook in service/worker.py) and finishes it."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "MEDIATAG_DATABASE_URL": db_url,
        "MEDIATAG_LLM_URL": fake.url,
        "MEDIATAG_LLM_MODEL": "fake-llm",
        "MEDIATAG_VLM_MODEL": "fake-vlm",
        "MEDIATAG_LLM_CONCURRENCY": "3",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediatag.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        job = conn.execute("SELECT mediatag.request_ground_truth(evaluation => %s)", (evaluation,)).fetchone()[0]
        state = None
        for _ in range(300):
            state = conn.execute("SELECT state FROM mediatag.job WHERE id = %s", (job,)).fetchone()[0]
            if state in ("done", "error"):
                break
            time.sleep(0.2)
        assert state == "done"
        p = progress(conn, evaluation)
        assert (p["answered"], p["remaining"], p["job_state"]) == (20, 0, "done")
        worker = conn.execute("SELECT worker FROM mediatag.job WHERE id = %s", (job,)).fetchone()[0]
        assert worker.endswith(f":{proc.pid}")
    finally:
        proc.terminate()
        proc.wait(10)
        from mediatag.service.http import register_with_database

        register_with_database(conn, service, service_token)  # `serve` registered itself: the session's again
