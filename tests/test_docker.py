"""docker/ stays true without docker: the compose file and the Dockerfiles name only files that exist (and that
.dockerignore lets into the build), run only install scripts `make test` itself runs (through `make setup`), start
only `mediatag` commands the CLI accepts, and set only MEDIATAG_* variables the code reads. The Postgres image's
entrypoint script runs here for real, against the checkout's PostgreSQL copy."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from mediatag.cli import build_parser
from mediatag.cluster import _free_port, default_cluster

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENTRYPOINT = "docker/postgres-entrypoint.sh"  # run by test_postgres_entrypoint_initialises_and_serves below


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        word, _, rest = whole.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def words(args: str) -> list[str]:
    """An instruction's arguments: the JSON (exec) form or shell words."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def make_rules(makefile: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each target's prerequisites and recipe lines."""
    deps: dict[str, list[str]] = {}
    recipes: dict[str, list[str]] = {}
    current: list[str] = []
    for line in makefile.read_text().splitlines():
        if line.startswith("\t"):
            for t in current:
                recipes.setdefault(t, []).append(line.strip())
            continue
        m = re.match(r"^([\w .-]+):(?!=)(.*)$", line)
        current = m.group(1).split() if m and not line.startswith(".") else []
        for t in current:
            deps[t] = m.group(2).split()
    return deps, recipes


def run_by_make_test() -> list[str]:
    """The recipe lines `make test` runs, its prerequisites' included."""
    deps, recipes = make_rules(REPO / "Makefile")
    seen, todo, lines = set(), ["test"], []
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        lines += recipes.get(t, [])
        todo += deps.get(t, [])
    return lines


def exercised_scripts() -> set[str]:
    scripts = {s for line in run_by_make_test() for s in re.findall(r"[\w./-]+\.sh", line)}
    return scripts | {ENTRYPOINT}


def dockerignored(rel: str) -> bool:
    patterns = [
        p.strip().rstrip("/")
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = Path(rel).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(p, pat.removeprefix("**/")) or fnmatch.fnmatch(p, pat) for pat in patterns for p in prefixes
    )


def read_by_code() -> set[str]:
    """Every MEDIATAG_* name the Python code and the scripts mention."""
    names: set[str] = set()
    for root in ("embedder", "datasette_plugins", "plpython", "scripts", "docker"):
        for f in (REPO / root).rglob("*"):
            if f.is_file() and f.suffix in (".py", ".sh"):
                names |= set(re.findall(r"MEDIATAG_[A-Z0-9_]+", f.read_text(errors="replace")))
    return names


def check_mediatag_command(cmd: list[str], where: str) -> None:
    assert cmd[0] == "mediatag", f"{where}: runs {cmd[0]!r}, not a mediatag command"
    try:
        build_parser().parse_args(cmd[1:])
    except SystemExit as e:
        pytest.fail(f"{where}: `{shlex.join(cmd)}` is refused by the CLI ({e})")


def check_dockerfile(dockerfile: Path, context: Path) -> None:
    copied: dict[str, str] = {}  # destination -> source, for an ENTRYPOINT that runs a copied script
    scripts = exercised_scripts()
    for instr, args in instructions(dockerfile):
        where = f"{dockerfile.name} {instr} {args[:60]}"
        if instr in ("COPY", "ADD"):
            *sources, dest = [w for w in words(args) if not w.startswith("--")]
            for src in sources:
                assert (context / src).exists(), f"{where}: {src} does not exist"
                if src != ".":
                    assert not dockerignored(src), f"{where}: {src} is excluded by .dockerignore"
                copied[dest] = src
        elif instr == "RUN":
            for script in re.findall(r"[\w./-]+\.sh", args):
                assert (context / script).exists(), f"{where}: {script} does not exist"
                assert script in scripts, f"{where}: {script} is not run by `make test` (make setup)"
            for folder, target in re.findall(r"make\b[^&;]*?-C (\S+)[^&;]*? (install)\b", args):
                assert any(f"-C {folder}" in ln and target in ln for ln in run_by_make_test()), (
                    f"{where}: `make -C {folder} {target}` is not what `make test` runs"
                )
        elif instr in ("CMD", "ENTRYPOINT"):
            cmd = words(args)
            if cmd[0] == "mediatag":
                check_mediatag_command(cmd, where)
            else:
                src = copied.get(cmd[0])
                assert src in scripts, f"{where}: runs {cmd[0]}, which is no script `make test` exercises"
        elif instr == "ENV":
            for name in re.findall(r"(MEDIATAG_[A-Z0-9_]+)=", args):
                assert name in read_by_code(), f"{where}: sets {name}, which no code reads"


def test_compose_and_dockerfiles_reference_what_exists():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "embedder", "embedder-cuda", "worker", "ui"} <= set(services)
    built = set()
    for name, svc in services.items():
        build = svc.get("build")
        assert build, f"service {name} has no build: every image is built from this checkout"
        context = (DOCKER / build["context"]).resolve()
        dockerfile = context / build["dockerfile"]
        assert dockerfile.exists(), f"service {name}: {dockerfile} does not exist"
        built.add(dockerfile)
        check_dockerfile(dockerfile, context)
        if "command" in svc:
            check_mediatag_command([str(w) for w in svc["command"]], f"compose service {name}")
        for var in svc.get("environment", {}):
            assert var in read_by_code(), f"compose service {name} sets {var}, which no code reads"
        for volume in svc.get("volumes", []):
            named = volume.split(":", 1)[0]
            if not named.startswith(("/", ".", "$")):
                assert named in compose.get("volumes", {}), f"service {name}: volume {named} is not declared"
    # Every Dockerfile here is built by some service: none left behind stale.
    assert built == set(DOCKER.glob("Dockerfile*")), built
    # The CUDA service differs by its torch build only, and asks for a GPU.
    cuda = services["embedder-cuda"]
    assert "cu" in cuda["build"]["args"]["TORCH_INDEX"] and "gpu" in json.dumps(cuda["deploy"])
    assert "TORCH_INDEX" in (DOCKER / "Dockerfile").read_text()


def test_checks_catch_stale_references(tmp_path: Path):
    """The checks above fail on what they guard against: a missing file, an unrun script, an unknown command."""
    (tmp_path / "docker").mkdir()
    for text, complaint in [
        ("FROM x\nCOPY no/such/file /x\n", "does not exist"),
        ("FROM x\nCOPY docker/compose.yaml /x\nRUN bash docker/compose.yaml.sh\n", "does not exist"),
        ("FROM x\nRUN bash scripts/install_system.sh \\\n && make -s -C docs install\n", "not what `make test` runs"),
        ('FROM x\nCMD ["mediatag", "serve", "--no-such-flag"]\n', "refused by the CLI"),
        ('FROM x\nCMD ["sh", "-c", "true"]\n', "no script"),
        ("FROM x\nENV MEDIATAG_NOT_A_SETTING=1\n", "no code reads"),
        ("FROM x\nCOPY .venv /x\n", "does not exist|dockerignore"),
    ]:
        df = tmp_path / "docker" / "Dockerfile"
        df.write_text(text)
        with pytest.raises((AssertionError, pytest.fail.Exception), match=complaint):
            check_dockerfile(df, REPO)
    df.write_text(
        'FROM x\nCOPY scripts/install_venv.sh /x\nRUN bash scripts/install_venv.sh\nCMD ["mediatag", "worker"]\n'
    )
    check_dockerfile(df, REPO)  # and pass what is right


@pytest.mark.skipif(os.geteuid() != 0, reason="initdb runs as the postgres user, which only root can switch to")
def test_postgres_entrypoint_initialises_and_serves():
    """The Postgres image's entrypoint: first start initialises the data directory with the given password and the
    extension in database mediatag, then serves TCP with passwords only."""
    data = Path(tempfile.mkdtemp(prefix="mediatag-entrypoint-"))
    shutil.chown(data, "postgres", "postgres")
    pgdata, sockets = data / "pgdata", data / "run"
    sockets.mkdir()
    shutil.chown(sockets, "postgres", "postgres")
    password, port = secrets.token_urlsafe(16), _free_port(56000)
    pg_bin = default_cluster().pg_bin  # the checkout's copy: the extension is installed there
    env = {
        "PGDATA": str(pgdata),
        "PGPORT": str(port),
        "MEDIATAG_PG_BIN": str(pg_bin),
        "MEDIATAG_PG_SOCKET_DIR": str(sockets),
        "MEDIATAG_PG_PASSWORD": password,
        "PATH": os.environ["PATH"],
    }
    script = REPO / ENTRYPOINT
    cmd = ["runuser", "-u", "postgres", "--", "env", *[f"{k}={v}" for k, v in env.items()], "sh", str(script)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"postgresql://postgres:{password}@127.0.0.1:{port}/mediatag"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                conn = psycopg.connect(url, connect_timeout=3)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        with conn:
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'mediatag'").fetchone()
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "*"
            assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"postgresql://postgres:wrong@127.0.0.1:{port}/mediatag", connect_timeout=3)
        hba = (pgdata / "pg_hba.conf").read_text()
        assert "trust" not in hba and "host all all 0.0.0.0/0 scram-sha-256" in hba
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(pg_bin / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        proc.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
