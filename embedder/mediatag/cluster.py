"""The embedded, project-local PostgreSQL cluster (`mediatag db prepare|start|stop|status|url`).

Layout: everything lives under `.mediatag/` in the checkout, except where the cluster's OS user cannot reach it.
As root, the server runs as the `postgres` user (Postgres refuses to run as root), and a clone inside a folder only
root may enter (root's home, any `mktemp -d`) is closed to that user; so as root the state lives in
`/var/lib/mediatag/<checkout>-<hash>/` (owned by `postgres`) and `.mediatag/` links to it.

- `pg/`: a private copy of the PostgreSQL 15 installation (PostgreSQL is relocatable: its binaries find `share/`
  and `lib/` relative to themselves). The extension is installed into this copy, so two checkouts with different
  extension versions never overwrite each other's install, and no system directory is written after `apt`.
- `pgdata/`, `run/` (socket), `postgres.log`.
- `port`: a free port chosen at `initdb` time, so a second checkout gets its own.
- `password`: the superuser's generated password (mode 0600). The socket uses peer authentication for the OS user
  that owns the checkout; TCP on loopback asks for a password (scram-sha-256). Never `trust`.

`MEDIATAG_DATABASE_URL` points everything at an existing server instead; then this module manages (and
reconfigures) nothing.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSTEM_PG_LIB = Path("/usr/lib/postgresql/15")
SYSTEM_PG_SHARE = Path("/usr/share/postgresql/15")
ROOT_STATE_BASE = Path(os.environ.get("MEDIATAG_ROOT_STATE_DIR", "/var/lib/mediatag"))
FIRST_PORT = 54329
DEFAULT_DB = "mediatag"
SUPERUSER = "postgres"


class ClusterError(RuntimeError):
    pass


def project_root() -> Path:
    env = os.environ.get("MEDIATAG_HOME")
    if env:
        return Path(env).resolve()
    # The checkout that holds this package (embedder/mediatag/cluster.py → repo root), else the working dir.
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _as_root() -> bool:
    return os.geteuid() == 0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(start: int = FIRST_PORT) -> int:
    for port in range(start, start + 200):
        if _port_free(port):
            return port
    raise ClusterError(f"no free TCP port on 127.0.0.1 between {start} and {start + 199}")


@dataclass(frozen=True)
class Cluster:
    """A cluster whose files live in `home` (`.mediatag/`, whose entries may link elsewhere; see the module doc)."""

    home: Path
    port_override: int | None = None

    # -- where things are ------------------------------------------------------------------------------------------
    @property
    def state(self) -> Path:
        """Where the files really are: `home` itself, or (as root) a folder the `postgres` user can reach."""
        if not _as_root():
            return self.home
        resolved = self.home.resolve()
        digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
        return ROOT_STATE_BASE / f"{resolved.parent.name or 'root'}-{digest}"

    # Paths handed to the server's user are the real ones under `state`: it may not traverse the checkout.
    @property
    def pg_home(self) -> Path:
        return self.state / "pg"

    @property
    def pg_bin(self) -> Path:
        env = os.environ.get("MEDIATAG_PG_BIN")
        if env:
            return Path(env)
        private = self.pg_home / "lib" / "postgresql" / "15" / "bin"
        return private if (private / "postgres").exists() else SYSTEM_PG_LIB / "bin"

    @property
    def pg_config(self) -> Path:
        return self.pg_bin / "pg_config"

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
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def port(self) -> int:
        if self.port_override:
            return self.port_override
        recorded = self.home / "port"
        if recorded.exists():
            return int(recorded.read_text().strip())
        # A new checkout at the path of an earlier one finds that one's cluster state (under /var/lib/mediatag when
        # root) without its `.mediatag/port`: the port the cluster was configured with is in its postgresql.conf.
        conf = self.pgdata / "postgresql.conf"
        if conf.exists():
            ports = [ln.split("=", 1)[1].strip() for ln in conf.read_text().splitlines() if ln.startswith("port = ")]
            if ports and ports[-1].isdigit():
                return int(ports[-1])
        return FIRST_PORT

    def url(self, dbname: str = DEFAULT_DB) -> str:
        # The socket path is the real one: libpq needs it short and resolvable by the server's user as well.
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, dbname: str = DEFAULT_DB, user: str = SUPERUSER, password: str | None = None) -> str:
        pw = self.password_file.read_text().strip() if password is None and user == SUPERUSER else password
        auth = f"{user}:{pw}" if pw else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    # -- layout ----------------------------------------------------------------------------------------------------
    def _layout(self) -> None:
        """Create the state folder and, as root, the links from `.mediatag/` to it."""
        self.home.mkdir(parents=True, exist_ok=True)
        state = self.state
        state.mkdir(parents=True, exist_ok=True)
        if state == self.home:
            return
        os.chmod(ROOT_STATE_BASE, 0o755)
        for name in ("pg", "pgdata", "run", "postgres.log"):
            link = self.home / name
            target = state / name
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(target, target_is_directory=name != "postgres.log")

    def _chown_to_server_user(self, *paths: Path) -> None:
        if not _as_root():
            return
        pg = pwd.getpwnam(SUPERUSER)
        for p in paths:
            os.chown(p, pg.pw_uid, pg.pw_gid)

    def prepare(self) -> Path:
        """The private PostgreSQL copy (with pgvector, as installed on the system by `make system`).

        Rebuilt when the system's PostgreSQL or pgvector changes; returns its pg_config.
        """
        self._layout()
        if not (SYSTEM_PG_LIB / "bin" / "postgres").exists():
            raise ClusterError(f"PostgreSQL 15 is not installed ({SYSTEM_PG_LIB}/bin/postgres missing): make setup")
        vector_ctl = SYSTEM_PG_SHARE / "extension" / "vector.control"
        key = "\n".join(
            [
                str((SYSTEM_PG_LIB / "bin" / "postgres").stat().st_mtime_ns),
                vector_ctl.read_text() if vector_ctl.exists() else "no pgvector",
                str((SYSTEM_PG_LIB / "lib" / "vector.so").stat().st_mtime_ns)
                if (SYSTEM_PG_LIB / "lib" / "vector.so").exists()
                else "",
            ]
        )
        real = self.pg_home
        stamp = real / ".source"
        if stamp.exists() and stamp.read_text() == key:
            return self.pg_config
        tmp = real.with_name("pg.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "lib" / "postgresql").mkdir(parents=True)
        (tmp / "share" / "postgresql").mkdir(parents=True)
        # Hard copies, not links: postgres resolves symlinks to find its share dir.
        shutil.copytree(SYSTEM_PG_LIB, tmp / "lib" / "postgresql" / "15", symlinks=True)
        shutil.copytree(SYSTEM_PG_SHARE, tmp / "share" / "postgresql" / "15", symlinks=True)
        (tmp / ".source").write_text(key)
        shutil.rmtree(real, ignore_errors=True)
        tmp.rename(real)
        os.chmod(real, 0o755)
        return self.pg_config

    # -- process control -------------------------------------------------------------------------------------------
    def _run(self, args: list[str | Path | int], check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if _as_root():
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def is_running(self) -> bool:
        return self.is_initialised() and self._server_running(self.pgdata)

    # -- a server of these binaries on a data directory: this cluster's, or its replica's (replica.py) ------------
    def _server_running(self, pgdata: Path) -> bool:
        return self._run([self.pg_bin / "pg_ctl", "-D", pgdata, "status"], check=False).returncode == 0

    def _start_server(self, pgdata: Path, log_file: Path, what: str) -> None:
        res = self._run([self.pg_bin / "pg_ctl", "-D", pgdata, "-l", log_file, "-w", "-t", "60", "start"], check=False)
        if res.returncode != 0:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise ClusterError(f"could not start {what}: {res.stderr.strip()}\n{tail}")

    def _stop_server(self, pgdata: Path) -> None:
        self._run([self.pg_bin / "pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop"])

    def _psql_at(self, socket_dir: Path, port: int, sql: str, dbname: str) -> subprocess.CompletedProcess[str]:
        """psql as the superuser over the socket in `socket_dir`: unaligned tuples only, stopping at the first error."""
        args = ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", socket_dir, "-p", port, "-U", SUPERUSER]
        return self._run([self.pg_bin / "psql", *args, "-d", dbname, "-c", sql], check=False)

    def _own_dirs(self) -> None:
        self._layout()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._chown_to_server_user(self.state, self.socket_dir)
        if self.pgdata.exists():
            self._chown_to_server_user(self.pgdata)

    def _write_auth(self) -> str:
        password = secrets.token_urlsafe(24)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        return password

    def init(self) -> None:
        if self.is_initialised():
            return
        if not (self.pg_bin / "initdb").exists():
            raise ClusterError(f"PostgreSQL 15 is not installed ({self.pg_bin}/initdb missing): run `make setup`")
        self._own_dirs()
        password = self._write_auth()
        pwfile = self.state / ".initpw"
        pwfile.write_text(password + "\n")
        self._chown_to_server_user(pwfile)
        try:
            res = self._run(
                [
                    self.pg_bin / "initdb",
                    "-D",
                    self.pgdata,
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise ClusterError(f"initdb failed: {res.stderr.strip() or res.stdout.strip()}")
        port = self.port_override or _free_port()
        (self.home / "port").write_text(f"{port}\n")
        self._configure(port)

    def _configure(self, port: int) -> None:
        owner = getpass.getuser()
        # The socket admits the OS user that owns this checkout (and the server's own user) as the superuser.
        (self.pgdata / "pg_ident.conf").write_text(
            "# mediatag: OS users allowed on the socket\n"
            f"mediatag {owner} {SUPERUSER}\nmediatag {SUPERUSER} {SUPERUSER}\n"
        )
        (self.pgdata / "pg_hba.conf").write_text(
            "# mediatag embedded cluster: peer on the socket, passwords on loopback TCP, nothing else\n"
            "local all all peer map=mediatag\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        self._chown_to_server_user(self.pgdata / "pg_ident.conf", self.pgdata / "pg_hba.conf")
        with (self.pgdata / "postgresql.conf").open("a") as f:
            # Loopback only, own socket dir; sized for a 2-core, 24 GiB machine with 1M-keyframe datasets.
            f.write(
                f"\n# mediatag embedded cluster\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\nshared_buffers = '2GB'\n"
                "maintenance_work_mem = '2GB'\nwork_mem = '64MB'\nmax_parallel_workers_per_gather = 2\n"
                "max_wal_size = '4GB'\nfsync = on\nsynchronous_commit = on\n"
                # wal_level = minimal is crash-safe (a crash loses no committed transaction) but allows no
                # replicas or point-in-time recovery; in exchange, tables built and filled in one transaction
                # (score partitions, CREATE TABLE AS) skip the WAL: -25 % scoring time at 1M keyframes. Use
                # MEDIATAG_DATABASE_URL with a server of your own where replication or archiving is wanted.
                "wal_level = minimal\nmax_wal_senders = 0\n"
            )

    def _set_port(self, port: int) -> None:
        conf = self.pgdata / "postgresql.conf"
        lines = [ln for ln in conf.read_text().splitlines() if not ln.startswith("port = ")]
        lines.append(f"port = {port}")
        conf.write_text("\n".join(lines) + "\n")
        (self.home / "port").write_text(f"{port}\n")

    def start(self) -> None:
        self.init()
        if self.is_running():
            return
        self._own_dirs()
        # At every start rather than in _configure: clusters initialised before the setting existed get it too.
        _ensure_prewarm(self.pgdata / "postgresql.conf")
        if not self.port_override and not _port_free(self.port):
            # Another checkout's cluster (or another server) took the recorded port while this one was stopped.
            self._set_port(_free_port(self.port + 1))
        self._start_server(self.pgdata, self.log_file, "PostgreSQL")
        self.ensure_database(DEFAULT_DB)

    def stop(self) -> None:
        if self.is_running():
            self._stop_server(self.pgdata)

    def remove(self) -> None:
        """Stop the cluster and delete it: its data, its PostgreSQL copy and `.mediatag/`. Removing only `.mediatag/`
        would orphan the real files (as root they live under /var/lib/mediatag) and lose the port and password they
        were set up with, so the next start would look for the server on the wrong port. A replica (replica.py) lives
        in the same state folder: it is stopped first, or its server would go on running over deleted files."""
        from .replica import Replica

        Replica(self).stop()
        self.stop()
        state = self.state
        if state != self.home:
            shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        res = self._psql_at(self.socket_dir, self.port, sql, dbname)
        if res.returncode != 0:
            raise ClusterError(res.stderr.strip())
        return res.stdout.strip()

    def ensure_database(self, dbname: str) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'")
        if not exists:
            self.psql(f'CREATE DATABASE "{dbname}"')


PRELOAD_LINE = "shared_preload_libraries = 'pg_prewarm'"


def _ensure_prewarm(conf: Path) -> None:
    """Load pg_prewarm's autoprewarm worker, which saves the list of pages in shared buffers every 5 minutes and at
    shutdown, and reads them back in the background after a start. Without it the first searches after a restart
    read a 1M-keyframe HNSW index (1.3 GB) page by page: at 1M the first 30 text queries after a restart took p50
    101 / p95 168 ms, against 54 / 81 ms with the pages read back (and 56 / 84 ms warm). A
    shared_preload_libraries line someone wrote themselves is left as it is."""
    lines = conf.read_text().splitlines()
    if any(ln.strip().startswith("shared_preload_libraries") for ln in lines):
        return
    with conf.open("a") as f:
        f.write(f"# mediatag: keep shared buffers warm across restarts (pg_prewarm autoprewarm)\n{PRELOAD_LINE}\n")


def default_cluster() -> Cluster:
    home = Path(os.environ.get("MEDIATAG_CLUSTER_DIR", project_root() / ".mediatag"))
    port = os.environ.get("MEDIATAG_PG_PORT")
    return Cluster(home=home, port_override=int(port) if port else None)


def database_url() -> str:
    """The URL everything connects to: MEDIATAG_DATABASE_URL, else the embedded cluster (started on demand)."""
    url = os.environ.get("MEDIATAG_DATABASE_URL")
    if url:
        return url
    cluster = default_cluster()
    if not cluster.is_running():
        cluster.start()
    return cluster.url()
