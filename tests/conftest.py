"""Fixtures: a real PostgreSQL (the embedded cluster, database `mediatag_test`) with pgvector and PL/Python, the
real embedding service in a background thread with the offline models, and real media."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mediatag.cluster import default_cluster
from mediatag.db import connect

from .mediafactory import COCO, coco_labels, video_with_cuts, write_srt

TEST_DB = "mediatag_test"
# Datasets in the tests use the offline model, whatever a test (or the machine) makes the default.
os.environ.setdefault("MEDIATAG_VISUAL_MODEL", "conse-effnet-lite0")


@pytest.fixture(scope="session")
def db_url() -> str:
    url = os.environ.get("MEDIATAG_TEST_DATABASE_URL")
    if not url:
        cluster = default_cluster()
        cluster.start()
        cluster.psql(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        cluster.psql(f'CREATE DATABASE "{TEST_DB}"')
        url = cluster.url(TEST_DB)
    with connect(url):
        pass  # creates the extension
    return url


@pytest.fixture(scope="session")
def service_handle(db_url: str, media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The real embedding service (offline models) on a free loopback port, registered in the test database with
    its token; it reads images under the test's media folders and the sample photos. Yields (url, token)."""
    from mediatag.service.http import serve_in_background

    roots = [media_dir, COCO, tmp_path_factory.getbasetemp()]
    with psycopg.connect(db_url, autocommit=True) as conn:
        server, url, token = serve_in_background(conn, media_roots=roots)
    yield url, token
    server.shutdown()


@pytest.fixture(scope="session")
def service(service_handle: tuple[str, str]) -> str:
    return service_handle[0]


@pytest.fixture(scope="session")
def service_token(service_handle: tuple[str, str]) -> str:
    return service_handle[1]


def make_login(db_url: str, name: str, role: str) -> str:
    """Create login `name` with mediatag's `role` and a fresh password; its URL over loopback TCP, as people connect
    (the embedded cluster asks for passwords on TCP and never trusts it)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mediatag.users import create_login

    password = uuid.uuid4().hex
    with psycopg.connect(db_url, autocommit=True) as c:
        create_login(c, name, role, password)
    info = conninfo_to_dict(db_url)
    if str(info.get("host", "")).startswith("/"):
        info.update(host="127.0.0.1", port=str(default_cluster().port))
    return make_conninfo(**{**info, "user": name, "password": password})


@pytest.fixture(scope="session")
def logins(db_url: str) -> dict[str, str]:
    """One login per mediatag role (viewer, editor, admin, query)."""
    from mediatag.users import ROLES

    session = uuid.uuid4().hex[:6]  # roles are cluster-wide: test sessions on one cluster must not share logins
    return {role: make_login(db_url, f"mt_test_{role}_{session}", role) for role in ROLES}


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    # Autocommit: an idle open transaction would hold locks that scoring's partition swap waits for.
    c = connect(db_url, autocommit=True)
    yield c
    c.close()


@pytest.fixture
def client(db_url: str, service: str):
    from mediatag import Client

    return Client(db_url)


def keyframes_by_file(conn: psycopg.Connection, dataset: str) -> dict[str, int]:
    """A dataset's keyframe ids by their image's file name."""
    rows = conn.execute(
        "SELECT k.image_path, k.id FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s)", (dataset,)
    ).fetchall()
    return {Path(p).name: i for p, i in rows}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def coco_files() -> list[Path]:
    return sorted((COCO / "images").glob("*.jpg"))


@pytest.fixture(scope="session")
def labels() -> dict[str, set[str]]:
    return coco_labels()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keyframes")


@pytest.fixture(scope="session")
def coco_dataset(db_url: str, service: str, coco_files: list[Path], media_dir: Path) -> str:
    """48 real photos ingested once for the session (dataset name returned)."""
    from mediatag.ingest import IngestOptions, ingest

    name = unique("coco")
    with connect(db_url) as c:
        summary = ingest(c, name, coco_files[:48], IngestOptions(progress=False, media_dir=media_dir))
    assert summary.ingested == 48, summary.render()
    return name


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s video with cuts at 2 s and 4 s, a subtitle sidecar and a metadata sidecar."""
    d = tmp_path_factory.mktemp("video")
    v = video_with_cuts(d / "episode1.mp4")
    write_srt(
        d / "episode1.srt",
        [
            (200, 1500, "Hello from the test pattern."),
            (2100, 3800, "A red screen, nothing else."),
            (4200, 5800, "Fractals are beautiful."),
        ],
    )
    (d / "episode1.mp4.json").write_text('{"SeriesName": "Test Series", "EpisodeName": "Pilot"}')
    return v


@pytest.fixture
def tmp_copy(tmp_path: Path):
    def copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        shutil.copy(src, dst)
        return dst

    return copy


@pytest.fixture(scope="session")
def video_dataset(db_url: str, service: str, sample_video: Path, media_dir: Path) -> str:
    from mediatag.ingest import IngestOptions, ingest

    name = unique("clips")
    with connect(db_url) as c:
        summary = ingest(c, name, [sample_video], IngestOptions(progress=False, media_dir=media_dir))
    assert summary.videos == 1, summary.render()
    return name
