"""A streaming replica of the embedded cluster (`mediatag db replica [--status|--stop|--remove|--url]`).

The replica is a hot standby made by `pg_basebackup` from the primary into its own data directory beside the
primary's (`<state>/replica/pgdata`, socket `<state>/replica/run`, log `<state>/replica/postgres.log`), on a port of
its own recorded in `.mediatag/replica_port`. It streams WAL through a physical replication slot
(`mediatag_replica`), so the primary keeps what the replica has not replayed yet; `--remove` drops that slot with the
data directory, or the primary would keep WAL for it forever.

Replication authenticates as the cluster's superuser on the primary's Unix socket with peer authentication, the trust
the cluster already gives its owner: `local replication all peer map=mediatag` is the one line added to
pg_hba.conf. Nothing may replicate over TCP (no `host replication` line exists), so no password-less network
replication is possible. The replica's pg_hba.conf is the primary's copy: passwords on loopback TCP, peer on its
socket.

The embedded cluster runs with `wal_level = minimal` (fast score-table builds, see cluster.py), which streams
nothing. A replica needs `wal_level = replica` and WAL senders, settings read only at server start: `mediatag db
replica` says so and restarts the primary only when given `--restart-primary` (the restart closes every open
connection). `--remove --restart-primary` puts the primary back to `minimal`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .cluster import DEFAULT_DB, SUPERUSER, Cluster, ClusterError, _free_port, _port_free

SLOT = "mediatag_replica"
APPLICATION = "mediatag_replica"
REPLICATION_HBA = "local replication all peer map=mediatag"
# Read at server start only; ALTER SYSTEM writes them to postgresql.auto.conf, which `--remove` resets.
PRIMARY_SETTINGS = {"wal_level": "replica", "max_wal_senders": "4", "max_replication_slots": "4"}


class RestartNeeded(ClusterError):
    """The primary's settings do not allow a replica until it restarts, and the caller did not consent to that."""


@dataclass(frozen=True)
class Lag:
    """How far the replica is behind: from the primary's pg_stat_replication and the replica's replay position."""

    state: str | None  # pg_stat_replication.state: 'streaming' once caught up with the backlog
    lag_bytes: int | None  # WAL the primary has written that the replica has not replayed
    replay_lag_s: float | None  # the primary's measure of the last replayed commit's delay (NULL when idle)
    behind_s: float | None  # 0 when everything received is replayed, else now - pg_last_xact_replay_timestamp()
    in_recovery: bool


@dataclass(frozen=True)
class Replica:
    primary: Cluster

    @property
    def state(self) -> Path:
        return self.primary.state / "replica"

    @property
    def pgdata(self) -> Path:
        return self.state / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.state / "run"

    @property
    def log_file(self) -> Path:
        return self.state / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.primary.home / "replica_port"

    @property
    def port(self) -> int:
        if self.port_file.exists():
            return int(self.port_file.read_text().strip())
        raise ClusterError("there is no replica: make one with `mediatag db replica`")

    def exists(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def url(self, dbname: str = DEFAULT_DB) -> str:
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def is_running(self) -> bool:
        return self.exists() and self.primary._server_running(self.pgdata)

    # -- the primary's side ----------------------------------------------------------------------------------------
    def primary_ready(self) -> dict[str, str]:
        """The settings the running primary still needs for a replica: name -> 'name = now (needs wanted)'."""
        missing = {}
        for name, wanted in PRIMARY_SETTINGS.items():
            now = self.primary.psql(f"SHOW {name}")
            if (now not in ("replica", "logical")) if name == "wal_level" else int(now) < int(wanted):
                missing[name] = f"{name} = {now} (needs {wanted})"
        return missing

    def _allow_socket_replication(self) -> None:
        """pg_hba.conf's line for replication over the socket (peer, the owner only); reloaded when added."""
        hba = self.primary.pgdata / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        if REPLICATION_HBA in lines:
            return
        hba.write_text("\n".join([*lines, REPLICATION_HBA]) + "\n")
        self.primary.psql("SELECT pg_reload_conf()")

    def configure_primary(self, restart: bool) -> str | None:
        """Make the primary able to stream: a message saying what changed, or None when nothing had to.

        Raises RestartNeeded (saying what and why) when settings need a restart the caller did not allow."""
        self.primary.start()
        self._allow_socket_replication()
        missing = self.primary_ready()
        if not missing:
            return None
        if not restart:
            raise RestartNeeded(
                f"the primary cannot stream to a replica: {', '.join(missing.values())}. These settings take effect "
                "only when PostgreSQL restarts, which closes every open connection (the UI, the worker, the service)."
                "\nhint: run `mediatag db replica --restart-primary` to switch them and restart now"
            )
        for name in missing:
            self.primary.psql(f"ALTER SYSTEM SET {name} = '{PRIMARY_SETTINGS[name]}'")
        self.primary.stop()
        self.primary.start()
        return (
            f"primary switched to wal_level = replica and restarted (was: {', '.join(missing.values())}); "
            "score tables now write WAL, so scoring jobs take longer (about +25 % at 1M keyframes)"
        )

    def restore_primary(self) -> str:
        """Back to the embedded cluster's own `wal_level = minimal` (postgresql.conf), with a restart."""
        for name in PRIMARY_SETTINGS:
            self.primary.psql(f"ALTER SYSTEM RESET {name}")
        self.primary.stop()
        self.primary.start()
        return "primary restarted with wal_level = minimal (no replicas)"

    # -- the replica's life ----------------------------------------------------------------------------------------
    def create(self, restart_primary: bool = False) -> list[str]:
        """Base backup, configure and start the replica; what was done, as lines to print. Idempotent: an existing
        replica is started."""
        done = []
        changed = self.configure_primary(restart_primary)
        if changed:
            done.append(changed)
        if not self.exists():
            self._base_backup()
            done.append(f"base backup of the primary in {self.pgdata}")
        self.start()
        done.append(f"replica running (hot standby): {self.url()}")
        return done

    def _base_backup(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir(parents=True)
        self.socket_dir.mkdir()
        self.primary._chown_to_server_user(self.state, self.socket_dir)
        # A slot left by a replica removed by hand would hold WAL forever: start from a fresh one.
        self.primary.psql(
            f"SELECT pg_drop_replication_slot('{SLOT}') FROM pg_replication_slots WHERE slot_name = '{SLOT}'"
        )
        res = self.primary._run(
            [
                self.primary.pg_bin / "pg_basebackup",
                "-D",
                self.pgdata,
                "-h",
                self.primary.socket_dir,
                "-p",
                self.primary.port,
                "-U",
                SUPERUSER,
                "--wal-method=stream",
                "--checkpoint=fast",
                "--create-slot",
                f"--slot={SLOT}",
                "--no-password",
            ],
            check=False,
        )
        if res.returncode != 0:
            shutil.rmtree(self.state, ignore_errors=True)
            raise ClusterError(f"pg_basebackup failed: {res.stderr.strip() or res.stdout.strip()}")
        port = _free_port(self.primary.port + 1)
        self.port_file.write_text(f"{port}\n")
        (self.pgdata / "standby.signal").write_text("")
        primary = f"host={self.primary.socket_dir} port={self.primary.port} user={SUPERUSER}"
        with (self.pgdata / "postgresql.conf").open("a") as f:
            # Later lines win: the copied primary settings stay, except where the replica differs.
            f.write(
                f"\n# mediatag replica of {self.primary.pgdata}\nport = {port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                f"primary_conninfo = '{primary} application_name={APPLICATION}'\nprimary_slot_name = '{SLOT}'\n"
                # Long reads on the replica are not cancelled by the primary vacuuming rows they still see.
                "hot_standby = on\nhot_standby_feedback = on\n"
            )
        self.primary._chown_to_server_user(self.pgdata / "standby.signal", self.pgdata / "postgresql.conf")

    def start(self) -> None:
        if not self.exists():
            raise ClusterError("there is no replica: make one with `mediatag db replica`")
        if self.is_running():
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.primary._chown_to_server_user(self.socket_dir)
        if not _port_free(self.port):
            raise ClusterError(f"the replica's port {self.port} is taken: `mediatag db replica --remove`, then again")
        self.primary._start_server(self.pgdata, self.log_file, "the replica")

    def stop(self) -> None:
        if self.is_running():
            self.primary._stop_server(self.pgdata)

    def remove(self) -> None:
        """Stop the replica, delete its files and drop its slot on the primary (which would otherwise keep every WAL
        segment from then on)."""
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)
        self.port_file.unlink(missing_ok=True)
        if self.primary.is_running():
            self.primary.psql(
                f"SELECT pg_drop_replication_slot('{SLOT}') FROM pg_replication_slots WHERE slot_name = '{SLOT}'"
            )

    # -- lag ---------------------------------------------------------------------------------------------------
    def _replica_psql(self, sql: str) -> str:
        res = self.primary._psql_at(self.socket_dir, self.port, sql, "postgres")
        if res.returncode != 0:
            raise ClusterError(f"the replica does not answer: {res.stderr.strip()}")
        return res.stdout.strip()

    def lag(self) -> Lag:
        row = self.primary.psql(
            "SELECT coalesce(r.state, ''), coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint::text,"
            " ''), coalesce(extract(epoch FROM r.replay_lag)::text, '') FROM (SELECT 1) one LEFT JOIN "
            f"pg_stat_replication r ON r.application_name = '{APPLICATION}'"
        )
        state, lag_bytes, replay_lag = (row.split("|") + ["", "", ""])[:3]
        there = self._replica_psql(
            "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END"
        )
        in_recovery, behind = there.split("|")
        return Lag(
            state or None,
            int(lag_bytes) if lag_bytes else None,
            float(replay_lag) if replay_lag else None,
            float(behind),
            in_recovery == "t",
        )

    def wait_caught_up(self, timeout_s: float = 30.0) -> Lag:
        """The lag once the replica has replayed everything the primary had written when called."""
        target = self.primary.psql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout_s
        while True:
            done = self._replica_psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if done == "t":
                return self.lag()
            if time.monotonic() > deadline:
                raise ClusterError(f"the replica has not replayed up to {target} within {timeout_s:.0f}s")
            time.sleep(0.05)


def describe(lag: Lag) -> str:
    """One line for `mediatag db replica --status`."""
    streaming = lag.state or "not connected to the primary"
    size = "unknown" if lag.lag_bytes is None else f"{lag.lag_bytes:,} bytes"
    primary = "" if lag.replay_lag_s is None else f", last commit replayed {lag.replay_lag_s:.3f}s after the primary"
    seconds = "unknown" if lag.behind_s is None else f"{lag.behind_s:.3f}s"
    mode = "hot standby" if lag.in_recovery else "NOT in recovery (promoted?)"
    return f"{mode}, {streaming}: lag {size}, {seconds} behind{primary}"
