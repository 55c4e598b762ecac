"""The embedded cluster works from any clone: inside a folder only root may enter (the cluster's user cannot
traverse it), beside another checkout's running cluster (its own port, its own private PostgreSQL with its own
extension install), with password authentication on TCP and never `trust`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from mediatag.cluster import PRELOAD_LINE, _ensure_prewarm, default_cluster

REPO = Path(__file__).resolve().parents[1]


def _cli(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATAG_")}
    env["MEDIATAG_HOME"] = str(clone)
    return subprocess.run(
        [sys.executable, "-m", "mediatag.cli", *args], capture_output=True, text=True, env=env, timeout=600, cwd=clone
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the closed-folder case is about root's clones (run as root)")
def test_clone_in_a_closed_folder_runs_its_own_cluster():
    with tempfile.TemporaryDirectory() as tmp:  # mode 0700, owner root: the postgres user cannot enter it
        top = Path(tmp)
        assert (top.stat().st_mode & 0o777) == 0o700
        clone = top / "mediatag"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
        try:
            r = _cli(clone, "db", "prepare")
            assert r.returncode == 0, r.stderr
            r = subprocess.run(
                [
                    "make",
                    "-s",
                    "-C",
                    "sql",
                    "install",
                    f"PG_CONFIG={clone / '.mediatag/pg/lib/postgresql/15/bin/pg_config'}",
                ],
                cwd=clone,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert r.returncode == 0, r.stderr
            r = _cli(clone, "db", "start")
            assert r.returncode == 0, r.stderr
            url = _cli(clone, "db", "url").stdout.strip()
            with psycopg.connect(url) as c:
                c.execute("CREATE EXTENSION mediatag CASCADE")
                assert c.execute("SELECT extversion FROM pg_extension WHERE extname = 'mediatag'").fetchone()[0]
                data_dir = c.execute("SHOW data_directory").fetchone()[0]
                # Shared buffers are saved and read back across restarts (pg_prewarm's autoprewarm worker).
                assert c.execute("SHOW shared_preload_libraries").fetchone()[0] == "pg_prewarm"
                assert c.execute("SHOW pg_prewarm.autoprewarm").fetchone()[0] == "on"
                port = int(c.execute("SHOW port").fetchone()[0])
            # The data lives where the server's user can reach it, linked from the clone's .mediatag/.
            assert not data_dir.startswith(str(top)) and (clone / ".mediatag" / "pgdata").resolve() == Path(data_dir)
            # A second checkout next to this one's running cluster: its own port.
            assert port != default_cluster().port
            # TCP asks for the password kept in .mediatag/password (0600); a wrong one is refused.
            pw_file = clone / ".mediatag" / "password"
            assert (pw_file.stat().st_mode & 0o777) == 0o600
            password = pw_file.read_text().strip()
            with psycopg.connect(host="127.0.0.1", port=port, user="postgres", password=password, dbname="mediatag"):
                pass
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(host="127.0.0.1", port=port, user="postgres", password="wrong", dbname="mediatag")
            hba = (clone / ".mediatag" / "pgdata" / "pg_hba.conf").read_text()
            assert "trust" not in hba.split("\n", 1)[1]
            # `make clean-cluster` (`db remove`) deletes the cluster's real files too, not only the links to them.
            state = (clone / ".mediatag" / "pgdata").resolve().parent
            r = _cli(clone, "db", "remove")
            assert r.returncode == 0, r.stderr
            assert not state.exists() and not (clone / ".mediatag").exists()
        finally:
            _cli(clone, "db", "stop")
            state = (clone / ".mediatag" / "pgdata").resolve().parent
            subprocess.run(["rm", "-rf", str(state)], check=False)  # what a failed test left behind


def test_embedded_cluster_is_durable_by_default():
    c = default_cluster()
    if not c.is_running():
        pytest.skip("MEDIATAG_DATABASE_URL points at a server of its own")
    assert c.psql("SHOW synchronous_commit") == "on"
    assert c.psql("SHOW fsync") == "on"


def test_prewarm_is_added_once_and_never_over_an_operators_own_preload(tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("port = 5432\n#shared_preload_libraries = ''\n")  # commented out: not a setting
    _ensure_prewarm(conf)
    _ensure_prewarm(conf)
    assert conf.read_text().count(PRELOAD_LINE) == 1
    own = "shared_preload_libraries = 'pg_stat_statements'\n"
    conf.write_text(own)
    _ensure_prewarm(conf)
    assert conf.read_text() == own


def test_a_configured_server_is_never_managed(tmp_path):
    env = {**os.environ, "MEDIATAG_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    r = subprocess.run(
        [sys.executable, "-m", "mediatag.cli", "db", "start"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0 and "manages no local cluster" in r.stdout
