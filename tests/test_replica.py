"""`mediatag db replica` and MEDIATAG_READ_URL: a real streaming hot standby of a scratch embedded cluster.

The primary here is a cluster of its own (not the test cluster: making a replica restarts the primary, which would
cut every other test's connections). An editor logs in over TCP on both servers: reads run on the replica
(pg_is_in_recovery() on the very connection the SDK used), a write there is refused as read-only, the SDK's writes
go to the primary and show on the replica once it has replayed them, and `--status` reports the lag. The replica
(its server and data directory) and the scratch cluster are removed whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import psycopg
import pytest
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from sqlalchemy import event, text

from mediatag import Client
from mediatag.cluster import Cluster, _free_port, default_cluster
from mediatag.db import connect
from mediatag.replica import SLOT, Replica
from mediatag.users import create_login

DIM = 8


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Cluster, dict[str, str]]]:
    """A fresh embedded cluster (the checkout's PostgreSQL copy, so the extension is there) and the environment that
    points the CLI at it; removed with its replica at the end, pass or fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATAG_")}
    env.update(MEDIATAG_CLUSTER_DIR=str(tmp_path / ".mediatag"), MEDIATAG_PG_BIN=str(default_cluster().pg_bin))
    monkeypatch.setenv("MEDIATAG_PG_BIN", env["MEDIATAG_PG_BIN"])
    cluster = Cluster(home=tmp_path / ".mediatag")
    try:
        cluster.init()
        with (cluster.pgdata / "postgresql.conf").open("a") as f:
            f.write("shared_buffers = '128MB'\nmaintenance_work_mem = '64MB'\n")  # two small servers, not 2 GB each
        yield cluster, env
    finally:
        replica = Replica(cluster)
        replica.stop()
        cluster.remove()
        assert not replica.pgdata.exists() and not cluster.state.exists()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediatag.cli", "db", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _tcp(port: int, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/mediatag"


def _load_keyframes(cluster: Cluster, dataset: str, X: np.ndarray) -> None:
    """Keyframes as the ingester writes them (the operator's connection: COPY needs the tables' owner)."""
    with connect(cluster.url()) as c:
        did = c.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
        asset = c.execute(
            "INSERT INTO mediatag.asset (dataset_id, kind, path, sha256) VALUES (%s, 'image', '/replica/a.jpg', "
            "encode(sha256('replica'::bytea), 'hex')) RETURNING id",
            (did,),
        ).fetchone()[0]
        for i, x in enumerate(X):
            c.execute(
                "INSERT INTO mediatag.keyframe (dataset_id, asset_id, keyframe_index, time_ms, image_path, embedding) "
                "VALUES (%s, %s, %s, 0, %s, %s)",
                (did, asset, i, f"/replica/kf{i}.jpg", HalfVector(x)),
            )
        c.commit()
        c.execute("SELECT mediatag.after_ingest(%s)", (dataset,))
        c.commit()


def test_replica_serves_reads_refuses_writes_and_reports_lag(scratch: tuple[Cluster, dict[str, str]]) -> None:
    cluster, env = scratch
    assert _cli(env, "start").returncode == 0
    editor, password = f"mt_replica_editor_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    others = {role: (f"mt_replica_{role}_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex) for role in ("admin", "query")}
    with connect(cluster.url(), autocommit=True) as c:  # creates the extension
        create_login(c, editor, "editor", password)
        for role, (name, pw) in others.items():
            create_login(c, name, role, pw)
        assert c.execute("SHOW wal_level").fetchone()[0] == "minimal"

    # Without consent the primary is left alone, and the command says what it needs and how to allow it.
    r = _cli(env, "replica")
    assert r.returncode == 2
    assert "wal_level = minimal (needs replica)" in r.stderr and "--restart-primary" in r.stderr
    assert cluster.psql("SHOW wal_level") == "minimal"
    replica = Replica(cluster)
    assert not replica.exists()

    r = _cli(env, "replica", "--restart-primary")
    assert r.returncode == 0, r.stderr
    assert "primary switched to wal_level = replica and restarted" in r.stdout
    assert cluster.psql("SHOW wal_level") == "replica"
    assert replica.is_running() and replica.port != cluster.port
    # Replication is allowed on the socket only (peer), never over TCP.
    hba = [ln for ln in (cluster.pgdata / "pg_hba.conf").read_text().splitlines() if "replication" in ln]
    assert hba == ["local replication all peer map=mediatag"]

    primary_url = _tcp(cluster.port, editor, password)
    replica_url = _tcp(replica.port, editor, password)
    dataset = f"replica {uuid.uuid4().hex[:6]}"
    X = np.random.default_rng(0).standard_normal((20, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)  # unit vectors: each one's nearest keyframe is itself
    with psycopg.connect(primary_url, autocommit=True) as p:
        p.execute("SELECT mediatag.create_dataset(%s, %s, %s, %s, %s)", (dataset, f"synthetic-{DIM}", DIM, "t", 4))
    _load_keyframes(cluster, dataset, X)
    replica.wait_caught_up()

    # A write on the replica is refused as read-only, and nothing is created.
    with psycopg.connect(replica_url, autocommit=True) as rc:
        assert rc.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only"):
            rc.execute("SELECT mediatag.create_dataset('refused', 'synthetic-8', 8, 't', 4)")
    with psycopg.connect(primary_url) as p:
        assert p.execute("SELECT count(*) FROM mediatag.dataset WHERE name = 'refused'").fetchone()[0] == 0

    # The SDK: STABLE functions (search) on the replica, VOLATILE ones (create_dataset) on the primary.
    client = Client(primary_url, read_url=replica_url)
    ran: dict[str, list[str]] = {"primary": [], "replica": []}
    for name, engine in (("primary", client.engine), ("replica", client.read_engine)):
        event.listen(engine, "before_cursor_execute", lambda *a, n=name: ran[n].append(a[2]))
    hits = client.search(dataset=dataset, embedding=X[3].tolist(), k=5)
    assert hits[0]["keyframe_id"] is not None and hits[0]["path"] == "/replica/kf3.jpg"
    assert any('mediatag."search"' in s for s in ran["replica"]), ran
    assert not any("search" in s for s in ran["primary"])
    assert client.catalog.overloads("search")[0].reads_only
    with client.read_engine.connect() as rc:  # the connection the search ran on
        assert rc.execute(text("SELECT pg_is_in_recovery()")).scalar() is True

    second = f"replica two {uuid.uuid4().hex[:6]}"
    client.create_dataset(name=second, visual_model=f"synthetic-{DIM}", visual_dim=DIM, text_model="t", text_dim=4)
    assert any("create_dataset" in s for s in ran["primary"]) and not any("create_dataset" in s for s in ran["replica"])
    # Read-your-writes: the very next read sees the new dataset, from the replica or (not replayed yet) the primary.
    assert client.dataset_summary(dataset=second)
    lag = replica.wait_caught_up()
    with psycopg.connect(replica_url) as rc:
        register_vector(rc)
        assert rc.execute("SELECT count(*) FROM mediatag.dataset WHERE name = %s", (second,)).fetchone()[0] == 1
    assert lag.state == "streaming" and lag.lag_bytes == 0 and lag.behind_s == 0 and lag.in_recovery

    _ui_reads_on_the_replica(cluster, replica, dataset, others)

    r = _cli(env, "replica", "--status")
    assert r.returncode == 0, r.stderr
    assert "hot standby, streaming: lag 0 bytes" in r.stdout

    r = _cli(env, "replica", "--remove", "--restart-primary")
    assert r.returncode == 0, r.stderr
    assert not replica.pgdata.exists() and not replica.port_file.exists()
    assert cluster.psql(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{SLOT}'") == "0"
    assert cluster.psql("SHOW wal_level") == "minimal"
    assert _cli(env, "replica", "--status").returncode == 3


def test_a_replica_that_is_down_leaves_reads_on_the_primary(db_url: str, logins: dict[str, str]) -> None:
    """A login still works when the replica does not answer; that session's pages read from the primary."""
    from datasette_mediatag.app import login_url_for, make_datasette

    from .test_ui_api import UI

    dead = _free_port(57000)
    ds = make_datasette(
        login_url_for(db_url), allowed_hosts=["localhost"], read_url=f"postgresql://127.0.0.1:{dead}/mediatag"
    )
    ui = UI(ds)
    try:
        viewer = ui.log_in(logins["viewer"])
        home = viewer.get("/mediatag/")
        assert home.status_code == 200 and "Something is wrong" not in home.text
    finally:
        ui.close()


def test_the_ui_and_the_sdk_route_by_one_rule():
    from datasette_mediatag import sessions

    from mediatag import catalog

    assert sessions.READS_ONLY == catalog.READS_ONLY


def _ui_reads_on_the_replica(
    cluster: Cluster, replica: Replica, dataset: str, logins: dict[str, tuple[str, str]]
) -> None:
    """The UI with read_url (as `mediatag ui` sets it up under MEDIATAG_READ_URL): with the replica's replay paused,
    a dataset the primary has is missing from a page (so the page read the replica), the Query page runs in
    recovery, and a person's own change shows at once (their reads fall back to the primary until replayed)."""
    from datasette_mediatag.app import make_datasette

    from .test_ui_api import UI

    admin_url, query_url = (_tcp(cluster.port, *logins[r]) for r in ("admin", "query"))
    ds = make_datasette(
        f"postgresql://127.0.0.1:{cluster.port}/mediatag",
        query_url=_tcp(replica.port, *logins["query"]),
        allowed_hosts=["localhost"],
        read_url=f"postgresql://127.0.0.1:{replica.port}/mediatag",
    )
    ui = UI(ds)
    try:
        admin, query = ui.log_in(admin_url), ui.log_in(query_url)
        replica._replica_psql("SELECT pg_wal_replay_pause()")
        for _ in range(200):
            if replica._replica_psql("SELECT pg_get_wal_replay_pause_state()") == "paused":
                break
            time.sleep(0.05)
        unseen = f"unseen {uuid.uuid4().hex[:6]}"
        with connect(cluster.url(), autocommit=True) as c:
            c.execute("SELECT mediatag.create_dataset(%s, 'synthetic-8', 8, 't', 4)", (unseen,))
        home = admin.get("/mediatag/")
        assert home.status_code == 200 and dataset in home.text and unseen not in home.text

        r = query.get("/mediatag/query.json", sql="SELECT pg_is_in_recovery() AS standby")
        assert r.status_code == 200 and r.json() == [{"standby": True}]

        grantee = logins["query"][0]
        where = "/mediatag/dataset/access?" + urlencode({"name": dataset})
        r = admin.post_form(where, {"role": grantee, "action": "grant", "level": "viewer"})
        assert r.status_code == 302, r.text
        page = admin.get("/mediatag/dataset/access", name=dataset)
        assert page.status_code == 200 and grantee in page.text  # their own write, read back from the primary

        replica._replica_psql("SELECT pg_wal_replay_resume()")
        replica.wait_caught_up()
        assert unseen in admin.get("/mediatag/").text
    finally:
        replica._replica_psql("SELECT pg_wal_replay_resume() WHERE pg_is_wal_replay_paused()")
        ui.close()
