"""Editors do everything ingest-related with their own login over TCP (issue 28): `mediatag ingest --ray` (decoded
and staged here, embedded on a local Ray, indexed, faces queued), speech to text (`mediatag transcribe`) and face
scans (`mediatag faces scan`) of a dataset they may write. Those two back-fills write tables no login but the
owner writes, so a login without superuser queues them (rights checked when queued) and the service's worker runs
them; the editor follows the job (mediatag.dataset_job, --wait). Viewers, and editors with read-only access to the
dataset, are refused with a message naming what they lack."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from mediatag.cli import main
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique
from .facephotos import MISSING, lfw_photos
from .speechfactory import SENTENCES, speech_track, talking_video

PEOPLE = ["Colin_Powell", "Serena_Williams"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Path:
    """A media root (set by the operator) holding the editors' files and the keyframes their ingests write."""
    root = tmp_path_factory.mktemp("editor_ops")
    (root / "keyframes").mkdir()
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.add_media_root(%s)", (str(root),))
    return root


@pytest.fixture(scope="module")
def faces_folder(root: Path) -> Path:
    if MISSING:
        pytest.skip(MISSING)
    folder = root / "people"
    folder.mkdir()
    for files in lfw_photos(PEOPLE, 2).values():
        for f in files:
            shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def as_login(monkeypatch: pytest.MonkeyPatch, root: Path, capsys: pytest.CaptureFixture):
    """Runs the `mediatag` CLI in this process as a login (its URL over TCP): (exit code, stdout, stderr)."""

    def run(url: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("MEDIATAG_DATABASE_URL", url)
        monkeypatch.setenv("MEDIATAG_MEDIA_DIR", str(root / "keyframes"))
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _status(db_url: str, sql: str, dataset: str) -> tuple:
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute(sql, (dataset,)).fetchone()


def _counts(db_url: str, dataset: str) -> tuple[int, int]:
    """(keyframes with a vector, keyframes waiting for one)."""
    return _status(
        db_url,
        """SELECT (SELECT count(*) FROM mediatag.keyframe k WHERE k.dataset_id = d.id),
                  (SELECT count(*) FROM mediatag.keyframe_pending p WHERE p.dataset_id = d.id)
           FROM mediatag.dataset d WHERE d.name = %s""",
        dataset,
    )


def _read_only_editor(db_url: str, logins: dict[str, str], dataset: str) -> None:
    """Gives the editor login read-only access to `dataset` (an admin's grant)."""
    from psycopg.conninfo import conninfo_to_dict

    editor = conninfo_to_dict(logins["editor"])["user"]
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.grant_dataset_access(%s, %s, 'viewer')", (dataset, editor))


def test_editor_ingests_with_ray_and_faces_queued_for_the_worker(ray_local, db_url, logins, faces_folder, as_login):
    from mediatag.faces import jobs as face_jobs

    name = unique("ed_ray")
    code, _, err = as_login(logins["viewer"], "ingest", name, str(faces_folder), "--ray", "-q")
    assert code == 2 and "may not ingest" in err and "mediatag_editor" in err, err
    code, out, err = as_login(
        logins["editor"], "ingest", name, str(faces_folder), "--ray", "--workers", "1", "--faces", "--asr", "off", "-q"
    )
    assert code == 0, err
    photos = len(list(faces_folder.iterdir()))
    assert f"{photos} of {photos} keyframes embedded" in out and "local Ray" in out, out
    assert "HNSW index not built" not in out, out  # built in the editor's transaction (no CONCURRENTLY: not owner)
    assert "face scan queued as job" in out, out
    job = int(out.split("face scan queued as job ")[1].split()[0])
    assert _counts(db_url, name) == (photos, 0)
    with psycopg.connect(db_url, autocommit=True) as c:
        assert c.execute(
            "SELECT mediatag._index_valid('keyframe_hnsw_ds' || mediatag.dataset_id(%s))", (name,)
        ).fetchone()[0]
        assert c.execute("SELECT mediatag.pending_post_ingest(%s)", (name,)).fetchone()[0] == 0
    # The worker (the operator's connection) runs the scan the editor queued; the editor follows it.
    assert face_jobs.run_pending(db_url) >= 1
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        kind, state, result = c.execute("SELECT kind, state, result FROM mediatag.dataset_job(%s)", (job,)).fetchone()
        assert (kind, state) == ("face_scan", "done") and result["keyframes"] == photos
        faces, scanned = c.execute("SELECT faces, scanned FROM mediatag.face_status(%s)", (name,)).fetchone()
    assert scanned == photos and faces >= photos


def test_editor_face_scan_is_queued_and_waited_for(db_url, logins, faces_folder, as_login):
    from mediatag.faces import jobs as face_jobs

    name = unique("ed_faces")
    with connect(logins["editor"], setup=False) as c:  # faces off: ingested without a scan
        s = ingest(c, name, [faces_folder], IngestOptions(progress=False, asr="off", media_dir=faces_folder.parent))
    assert s.ingested == len(list(faces_folder.iterdir())) and s.face_scan_job is None
    # Refused with the reason: a viewer lacks the role, faces must be on first.
    code, _, err = as_login(logins["viewer"], "faces", "scan", name)
    assert code == 2 and "scanning a dataset for faces needs the mediatag_editor" in err, err
    code, _, err = as_login(logins["editor"], "faces", "scan", name)
    assert code == 2 and "faces are off" in err and "enable_faces" in err, err
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        c.execute("SELECT mediatag.enable_faces(%s)", (name,))  # queues the scan of what is there
    # The worker loop runs beside the waiting command, as `mediatag serve` would.
    stop = threading.Event()
    worker = face_jobs.start(db_url, stop, "test-faces")
    try:
        code, out, err = as_login(logins["editor"], "faces", "scan", name, "--wait")
    finally:
        stop.set()
        worker.join(timeout=30)
    assert code == 0, err
    assert "face scan queued as job" in out and ": done" in out, out
    faces, scanned = _status(db_url, "SELECT faces, scanned FROM mediatag.face_status(%s)", name)
    assert scanned == s.ingested and faces >= s.ingested
    # An editor who may only read the dataset is refused when queueing.
    _read_only_editor(db_url, logins, name)
    code, _, err = as_login(logins["editor"], "faces", "scan", name)
    assert code == 2 and "needs editor access to dataset" in err, err


def test_editor_transcription_is_queued_and_run_by_the_worker(db_url, logins, root, as_login):
    from mediatag.ingest import jobs as transcribe_jobs

    clips = root / "talk"
    clips.mkdir()
    video = talking_video(clips / "talk.mp4", speech_track(clips / "talk.wav", SENTENCES[:2]))
    (clips / "talk.wav").unlink()
    name = unique("ed_asr")
    with connect(logins["editor"], setup=False) as c:  # speech to text off at ingest: the back-fill's work
        s = ingest(c, name, [video], IngestOptions(progress=False, asr="off", media_dir=root / "keyframes"))
    assert s.ingested == 1
    code, _, err = as_login(logins["viewer"], "transcribe", name)
    assert code == 2 and "transcribing a dataset needs the mediatag_editor" in err, err
    code, _, err = as_login(logins["editor"], "transcribe", name, "--limit", "1")
    assert code == 2 and "in-process only" in err, err
    code, out, err = as_login(logins["editor"], "transcribe", name, "--asr", "pocketsphinx")
    assert code == 0 and "speech to text queued as job" in out, err
    job = int(out.split("queued as job ")[1].split()[0])
    assert "no job worker is connected" in err  # nothing runs it yet, and the editor is told
    # Asking again while it waits gives the same job.
    code, again, _ = as_login(logins["editor"], "transcribe", name, "--asr", "pocketsphinx")
    assert f"queued as job {job} " in again
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        assert c.execute("SELECT state FROM mediatag.dataset_job(%s)", (job,)).fetchone()[0] == "queued"
    assert transcribe_jobs.run_pending(db_url) >= 1
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        state, result = c.execute("SELECT state, result FROM mediatag.dataset_job(%s)", (job,)).fetchone()
        assert state == "done" and result["transcribed"] == 1 and result["segments"] >= 1, result
        sources = c.execute(
            "SELECT DISTINCT source FROM mediatag.transcript_segment WHERE dataset_id = mediatag.dataset_id(%s)",
            (name,),
        ).fetchall()
        assert sources == [("asr:pocketsphinx",)]
        assert c.execute("SELECT pending FROM mediatag.transcription_status(%s)", (name,)).fetchone()[0] == 0
    # The job is the dataset's readers' to see: once access is limited to others, the viewer is told it is not
    # one they may read (as a missing job is).
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.grant_dataset_access(%s, 'mediatag_admin', 'editor')", (name,))
    with psycopg.connect(logins["viewer"], autocommit=True) as c, pytest.raises(psycopg.errors.UndefinedObject):
        c.execute("SELECT * FROM mediatag.dataset_job(%s)", (job,))
    with psycopg.connect(logins["viewer"], autocommit=True) as c, pytest.raises(psycopg.errors.UndefinedObject):
        c.execute("SELECT * FROM mediatag.dataset_job(-1)")
