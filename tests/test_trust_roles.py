"""Issue 22, tried as each role over TCP: the Query role's promises hold for every member, no login can stall the
product through advisory locks, every function that writes checks its caller's role, publishes never deadlock,
and the calls the README shows work for the roles it names."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mediatag.cluster import default_cluster

from .conftest import keyframes_by_file, unique


def _hand_made_query_login(db_url: str) -> str:
    """A member of mediatag_query made the way docs/ui.md's recipe does (no per-login timeout or read-only)."""
    name, password = f"mt_handmade_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE mediatag_query")
    info = conninfo_to_dict(db_url)
    if str(info.get("host", "")).startswith("/"):
        info.update(host="127.0.0.1", port=str(default_cluster().port))
    return make_conninfo(**{**info, "user": name, "password": password})


@pytest.fixture(scope="module")
def query_members(db_url, logins) -> dict[str, str]:
    return {"users add": logins["query"], "hand made": _hand_made_query_login(db_url)}


@pytest.mark.parametrize("member", ["users add", "hand made"])
def test_query_role_writes_nothing_even_with_read_only_off(query_members, member):
    url = query_members[member]
    for statement in (
        "CREATE TEMP TABLE scratch (x int)",
        "SELECT lo_from_bytea(0, 'persisting bytes')",
        "SELECT lo_create(0)",
        "SELECT lo_creat(-1)",
        "CREATE TABLE public.scratch (x int)",
    ):
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)


def test_overdue_query_statements_are_cancelled_for_every_member(db_url, query_members, logins):
    from mediatag.service.query_watchdog import QueryWatchdog

    outcome: dict[str, object] = {}

    def sleeper(key: str, url: str) -> None:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("SET statement_timeout = 0")  # what the role's default cannot stop
            t0 = time.monotonic()
            try:
                c.execute("SELECT pg_sleep(20)")
                outcome[key] = "finished"
            except psycopg.errors.QueryCanceled:
                outcome[key] = time.monotonic() - t0

    threads = [threading.Thread(target=sleeper, args=(k, u)) for k, u in query_members.items()]
    # A viewer's long read is not the Query role's to limit.
    threads.append(threading.Thread(target=sleeper, args=("viewer", logins["viewer"])))
    with QueryWatchdog(db_url, every_s=0.2, older_than="1 second"):
        for t in threads:
            t.start()
        for t in threads[:-1]:
            t.join(timeout=15)
    for key in query_members:
        assert isinstance(outcome.get(key), float) and outcome[key] < 10, (key, outcome)
    threads[-1].join(timeout=25)
    assert outcome["viewer"] == "finished"


def test_watchdog_reads_the_roles_own_timeout(db_url):
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT mediatag._query_timeout()").fetchone()[0].total_seconds() == 30


def test_cancelling_is_an_admins_call(logins):
    for role in ("viewer", "editor", "query"):
        with psycopg.connect(logins[role]) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM mediatag.cancel_overdue_queries()")


def test_advisory_locks_held_by_any_login_stall_nothing(db_url, logins, client, coco_dataset, coco_files, media_dir):
    from mediatag.db import connect
    from mediatag.ingest import IngestOptions, ingest

    # Every key the product ever used, and the job keys of the next few hundred jobs' first attempts.
    keys = ["mediatag.create_dataset", "mediatag.tag_group_slug", "mediatag.concept_name"]
    with psycopg.connect(logins["viewer"], autocommit=True) as squatter:
        for k in keys:
            squatter.execute("SELECT pg_advisory_lock(hashtext(%s))", (k,))
        top = squatter.execute("SELECT coalesce(max(id), 0) FROM mediatag.job").fetchone()[0]
        squatter.execute(
            "SELECT pg_advisory_lock((7346::bigint << 48) | (j << 8) | a) FROM generate_series(%s::bigint, %s) j, "
            "generate_series(0, 3) a",
            (max(top - 20, 0), top + 300),
        )
        with psycopg.connect(logins["editor"], autocommit=True) as ed:
            ed.execute("SET lock_timeout = '3s'")
            group = unique("Squatted")
            ed.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog'])",
                       (coco_dataset, group))  # fmt: skip
            ed.execute("SELECT mediatag.create_concept(%s, %s)", (coco_dataset, unique("squatted")))
            ed.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
            ed.execute("CALL mediatag.run_jobs()")
            status = ed.execute("SELECT status FROM mediatag.tag_group_status(%s)", (group,)).fetchone()[0]
            assert status == "scored"
        with connect(db_url) as c:
            c.execute("SET lock_timeout = '3s'")
            s = ingest(c, unique("squat"), coco_files[:1], IngestOptions(progress=False, media_dir=media_dir))
            assert s.ingested == 1


def _synthetic_args(arg_names: list[str], arg_types: list[str], ctx: dict) -> list | None:
    """Plausible arguments for an API function, by argument name and type; None when one cannot be made."""
    by_name = {
        "dataset": ctx["dataset"], "tag_group": ctx["group"], "tag": "dog", "concept": ctx["concept"],
        "keyframes": [ctx["keyframe"]], "keyframe": ctx["keyframe"], "evaluation_id": ctx["evaluation"],
        "evaluation": ctx["evaluation"], "query": "a dog", "name": unique("viewer_made"), "worker_name": "x",
        "asset": ctx["asset"], "tags": ["cat"], "keywords": "cat", "label": "yes", "items": [str(ctx["asset"])],
        "labels": ["yes"], "prompt": "a puppy", "threshold": 0.4, "role": "mediatag_viewer", "new_name": "doggo",
        "metadata": '{"a": 1}', "url": "http://127.0.0.1:1", "token": "x" * 32, "model": ctx["model"],
        "texts": ["a dog"], "text": "a dog", "paths": [], "kind": "score_group", "payload": "{}", "csv_text": "a,b",
        "description": "changed", "older_than": "1 second", "truth": True, "vectors": None, "embedding": None,
    }  # fmt: skip
    out = []
    for n, t in zip(arg_names, arg_types, strict=True):
        if n in by_name:
            out.append(by_name[n])
        elif t in ("integer", "bigint", "real", "double precision", "boolean"):
            out.append(None)  # defaults exist for most; NULL exercises the rest
        else:
            return None
    return out


def test_a_viewer_writes_nothing_through_any_function(db_url, logins, client, coco_dataset):
    """Every function a viewer may EXECUTE that can write, called as a viewer with real arguments: it refuses
    or it wrote nothing (this transaction's own table statistics count every row inserted, updated or deleted)."""
    group = unique("ViewerProbe")
    client.create_tag_group(coco_dataset, group, ["dog"])
    client.publish_tag_group(group)
    client.run_jobs()
    concept = unique("viewer_probe")
    with psycopg.connect(db_url, autocommit=True) as su:
        su.execute("SELECT mediatag.create_concept(%s, %s)", (coco_dataset, concept))
        kf = sorted(keyframes_by_file(su, coco_dataset).values())[0]
        asset = su.execute("SELECT asset_id FROM mediatag.keyframe WHERE id = %s", (kf,)).fetchone()[0]
        e = su.execute("SELECT mediatag.start_evaluation(%s, 'dog', size => 10)", (group,)).fetchone()[0]
        model = su.execute("SELECT visual_model FROM mediatag.dataset WHERE name = %s", (coco_dataset,)).fetchone()[0]
        viewer = conninfo_to_dict(logins["viewer"])["user"]
        functions = su.execute(
            """SELECT p.proname, coalesce(p.proargnames[1:p.pronargs], '{}'),
                      ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t), p.prokind
               FROM pg_proc p WHERE p.pronamespace = 'mediatag'::regnamespace AND p.provolatile = 'v'
                 AND has_function_privilege(%s, p.oid, 'EXECUTE') ORDER BY 1""",
            (viewer,),
        ).fetchall()
    ctx = {"dataset": coco_dataset, "group": group, "concept": concept, "keyframe": kf, "asset": asset,
           "evaluation": e, "model": model}  # fmt: skip
    probed, called, refused, wrote = [], [], [], []
    with psycopg.connect(logins["viewer"]) as c:
        for name, arg_names, arg_types, kind in functions:
            args = _synthetic_args(list(arg_names), list(arg_types), ctx)
            if args is None:
                continue
            placeholders = ", ".join(["%s"] * len(args))
            sql = f"CALL mediatag.{name}({placeholders})" if kind == "p" else f"SELECT mediatag.{name}({placeholders})"
            if kind == "p":
                continue  # procedures COMMIT; run_jobs is tried on its own below
            probed.append(name)
            try:
                c.execute(sql, args)
                n = c.execute(
                    "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_all_tables "
                    "WHERE schemaname IN ('mediatag', 'mediatag_data')"
                ).fetchone()[0]
                if n:
                    wrote.append(name)
                called.append(name)
            except psycopg.errors.InsufficientPrivilege:
                refused.append(name)
            except psycopg.Error:
                pass  # a bad argument: nothing written either way
            finally:
                c.rollback()
    # The probe reached the functions' role checks, not just argument errors: most writers refused the viewer.
    assert len(probed) > 40 and len(refused) > 30, (probed, refused)
    assert {"purge_jobs", "job_heartbeat", "create_concept", "drop_dataset"} <= set(refused)
    assert wrote == [], f"functions a viewer wrote through: {wrote}"


@pytest.mark.parametrize("call", ["SELECT mediatag.purge_jobs()", "SELECT mediatag.purge_jobs(interval '0')",
                                  "SELECT mediatag.job_heartbeat('any')", "CALL mediatag.run_jobs()"])  # fmt: skip
def test_job_functions_refuse_a_viewer(logins, call):
    with psycopg.connect(logins["viewer"], autocommit=True) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(call)


def test_editors_purge_with_the_retention_only(logins):
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        c.execute("SELECT mediatag.purge_jobs()")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT mediatag.purge_jobs(interval '0')")


def test_concurrent_publishes_never_deadlock(db_url, logins, client, coco_dataset):
    group = unique("Racing")
    client.create_tag_group(coco_dataset, group, ["dog", "cat"])
    client.publish_tag_group(group)
    client.run_jobs()
    errors: list[BaseException] = []
    published: list[int] = []

    def publish(barrier: threading.Barrier) -> None:
        with psycopg.connect(logins["editor"], autocommit=True) as c:
            barrier.wait()
            try:
                published.append(c.execute("SELECT mediatag.publish_tag_group(%s)", (group,)).fetchone()[0])
            except psycopg.Error as e:
                errors.append(e)

    def work(barrier: threading.Barrier) -> None:
        with psycopg.connect(logins["editor"], autocommit=True) as c:
            barrier.wait()
            try:
                c.execute("CALL mediatag.run_jobs()")
            except psycopg.Error as e:
                errors.append(e)

    for _ in range(4):
        barrier = threading.Barrier(3)
        threads = [threading.Thread(target=f, args=(barrier,)) for f in (publish, publish, work)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not [e for e in errors if isinstance(e, psycopg.errors.DeadlockDetected)], errors
    assert all(isinstance(e, psycopg.errors.LockNotAvailable) and "being published" in str(e) for e in errors), errors
    assert len(published) >= 4 and len(set(published)) == len(published)  # every publish got its own version
    with psycopg.connect(db_url, autocommit=True) as su:  # skip the backoff of jobs that met a publish's lock
        su.execute("UPDATE mediatag.job SET run_after = now() WHERE state = 'queued'")
    client.run_jobs()
    assert client.tag_group_status(group)[0]["status"] == "scored"


def test_readme_calls_work_for_the_roles_it_names(logins, client, coco_dataset):
    group = unique("Readme")
    with psycopg.connect(logins["editor"], autocommit=True) as ed:
        ed.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, keywords => 'dog\ncat')",
                   (coco_dataset, group))  # fmt: skip
        ed.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
        ed.execute("CALL mediatag.run_jobs()")  # README: editors drain the queue themselves
        assert ed.execute("SELECT status FROM mediatag.tag_group_status(%s)", (group,)).fetchone()[0] == "scored"
    with psycopg.connect(logins["viewer"], autocommit=True) as v:
        assert v.execute("SELECT count(*) FROM mediatag.preview(%s, 'dog')", (group,)).fetchone()[0] > 0


def test_a_hidden_dataset_leaks_nothing(db_url, logins, client, coco_dataset, coco_files, media_dir):
    """A dataset restricted to admins: its keyframes are just unknown, and no listing names it or its concepts."""
    from mediatag.db import connect
    from mediatag.ingest import IngestOptions, ingest

    hidden, group, concept = unique("hidden"), unique("Shared"), unique("hidden_concept")
    client.create_tag_group(coco_dataset, group, ["dog"], visibility="shareable")
    client.publish_tag_group(group)
    with connect(db_url) as c:
        ingest(c, hidden, coco_files[60:61], IngestOptions(progress=False, media_dir=media_dir))
        c.execute("SELECT mediatag.apply_tag_group(%s, %s)", (group, hidden))
        c.execute("SELECT mediatag.create_concept(%s, %s)", (hidden, concept))
        c.execute("SELECT mediatag.grant_dataset_access(%s, 'mediatag_admin')", (hidden,))
        kf = c.execute("SELECT id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (hidden,))
        kf = kf.fetchone()[0]
        c.commit()
    with psycopg.connect(logins["viewer"]) as v:
        with pytest.raises(psycopg.errors.NoDataFound) as err:
            v.execute("SELECT mediatag.keyframe_image(%s)", (kf,))
        assert hidden not in str(err.value) and f"unknown keyframe {kf}" in str(err.value)
        v.rollback()
        shown = str(v.execute("SELECT array_agg(c) FROM mediatag.list_concepts() c").fetchone()[0])
        assert concept not in shown and hidden not in shown
        uses = [r[0] for r in v.execute("SELECT dataset FROM mediatag.tag_group_status(%s)", (group,))]
        assert uses == [coco_dataset]
        seen = v.execute("SELECT mediatag.job_progress(%s, 50)", (group,)).fetchone()[0]
    with psycopg.connect(logins["admin"]) as a:  # the same calls show it to those who may see it
        uses = [r[0] for r in a.execute("SELECT dataset FROM mediatag.tag_group_status(%s)", (group,))]
        assert sorted(uses) == sorted([coco_dataset, hidden])
        everything = a.execute("SELECT mediatag.job_progress(%s, 50)", (group,)).fetchone()[0]
    # The scoring job queued by applying the group to the hidden dataset is the admin's to see only.
    assert len(everything["recent"]) == len(seen["recent"]) + 1
