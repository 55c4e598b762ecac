"""Issue 28, embedding back-fills: keyframes stored without vectors (ingest --ray) and re-embeddings into another
model are embedded by `mediatag backfill`, in one process or on a local Ray (2 CPUs), with the same vectors as an
inline ingest; a killed run resumes with every row stored exactly once; a switch makes the new model the
dataset's own; viewers and editors without write access are refused. Two kill-and-resume cases: the driver (the
`mediatag backfill` process) killed, then `ingest --ray` run again; an embedding actor killed mid-run, which Ray
restarts and the same run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from mediatag.backfill import BackfillOptions, backfill
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique

PHOTOS = 4
STRONG = "conse-effnet-lite02-wn"  # another offline model: re-embedding target with another dimension


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray, small: 2 CPUs, no dashboard; the back-fill joins it (ray.is_initialized)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(coco_files: list[Path]) -> list[Path]:
    return coco_files[:PHOTOS]


@pytest.fixture(scope="module")
def reference(db_url: str, photos: list[Path], media_dir: Path) -> dict[str, np.ndarray]:
    """The vectors an ordinary (inline) ingest stores, by file name."""
    return _inline_vectors(db_url, photos, media_dir)


def _inline_vectors(db_url: str, photos: list[Path], media_dir: Path) -> dict[str, np.ndarray]:
    name = unique("bf_ref")
    with connect(db_url) as c:
        ingest(c, name, photos, IngestOptions(progress=False, media_dir=media_dir))
        return _vectors(c, name)


def _vectors(conn: psycopg.Connection, dataset: str) -> dict[str, np.ndarray]:
    rows = conn.execute(
        "SELECT k.image_path, k.embedding FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s)",
        (dataset,),
    ).fetchall()
    conn.commit()
    return {Path(p).name: e.to_numpy().astype(np.float32) for p, e in rows}


def _deferred(db_url: str, photos: list[Path], media_dir: Path) -> str:
    name = unique("bf")
    with connect(db_url) as c:
        summary = ingest(c, name, photos, IngestOptions(progress=False, media_dir=media_dir, defer_keyframes=True))
    assert summary.ingested == len(photos), summary.render()
    return name


def _counts(conn: psycopg.Connection, dataset: str) -> tuple[int, int, int]:
    """(keyframes, keyframes waiting for a vector, assets whose post-ingest work is pending)."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM mediatag.keyframe k WHERE k.dataset_id = d.id),
                  (SELECT count(*) FROM mediatag.keyframe_pending p WHERE p.dataset_id = d.id),
                  (SELECT count(*) FROM mediatag.asset a WHERE a.dataset_id = d.id AND a.post_ingest_at IS NULL)
           FROM mediatag.dataset d WHERE d.name = %s""",
        (dataset,),
    ).fetchone()
    conn.commit()
    return row


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, v in want.items():
        np.testing.assert_allclose(got[name], v, atol=2e-3, err_msg=name)


def test_deferred_keyframes_wait_then_one_process_backfill_matches_inline_ingest(db_url, photos, media_dir, reference):
    name = _deferred(db_url, photos, media_dir)
    with connect(db_url) as c:
        assert _counts(c, name) == (0, PHOTOS, PHOTOS)  # nothing half-ingested is visible, post-ingest waits
        summary = backfill(db_url, name, BackfillOptions(unit_rows=3, progress=False))
        assert (summary.units, summary.rows, summary.stored, summary.failed) == (2, PHOTOS, PHOTOS, [])
        assert summary.engine == "one process"
        assert _counts(c, name) == (PHOTOS, 0, 0)
        _assert_same(_vectors(c, name), reference)
        assert c.execute(
            "SELECT mediatag._index_valid('keyframe_hnsw_ds' || mediatag.dataset_id(%s))", (name,)
        ).fetchone()[0]
        # A second run finds nothing to do.
        again = backfill(db_url, name, BackfillOptions(progress=False))
        assert (again.units, again.stored) == (0, 0)


def test_ray_backfill_with_two_workers_matches_one_process(ray_local, db_url, photos, media_dir, reference):
    name = _deferred(db_url, photos, media_dir)
    summary = backfill(db_url, name, BackfillOptions(ray_address="local", workers=2, unit_rows=1, progress=False))
    assert summary.engine.startswith("local Ray, 2 worker(s)"), summary.engine
    assert (summary.units, summary.stored, summary.failed) == (PHOTOS, PHOTOS, [])
    with connect(db_url) as c:
        assert _counts(c, name) == (PHOTOS, 0, 0)
        _assert_same(_vectors(c, name), reference)
    print(f"\nlocal Ray, 2 workers: {summary.render()}")


def test_ray_reembeds_transcripts_into_another_model_beside_the_old(ray_local, db_url, sample_video, media_dir):
    from mediatag.models.registry import OFFLINE_TEXT, get_text_encoder

    name = unique("bf_clip")
    with connect(db_url) as c:
        ingest(c, name, [sample_video], IngestOptions(progress=False, media_dir=media_dir, asr="off"))
        before = c.execute(
            "SELECT id, text, embedding FROM mediatag.transcript_segment WHERE dataset_id = mediatag.dataset_id(%s)"
            " ORDER BY id",
            (name,),
        ).fetchall()
        c.commit()
    assert len(before) == 3
    summary = backfill(
        db_url,
        name,
        BackfillOptions(modality="transcript", model=OFFLINE_TEXT, ray_address="local", workers=1, progress=False),
    )
    assert (summary.rows, summary.stored) == (3, 3)
    want = get_text_encoder(OFFLINE_TEXT).embed_texts([r[1] for r in before])
    with connect(db_url) as c:
        side = c.execute(
            "SELECT segment_id, embedding FROM mediatag.segment_vector WHERE model = %s"
            " AND dataset_id = mediatag.dataset_id(%s) ORDER BY segment_id",
            (OFFLINE_TEXT, name),
        ).fetchall()
        assert [r[0] for r in side] == [r[0] for r in before]
        np.testing.assert_allclose(np.stack([r[1].to_numpy() for r in side]).astype(np.float32), want, atol=2e-3)
        # The dataset's own vectors are untouched until a switch.
        after = c.execute(
            "SELECT embedding FROM mediatag.transcript_segment WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY id",
            (name,),
        ).fetchall()
        assert [a[0].to_list() for a in after] == [b[2].to_list() for b in before]
        status = c.execute(
            "SELECT modality, model, in_use, embedded, missing FROM mediatag.backfill_status(%s)", (name,)
        )
        assert ("transcript", OFFLINE_TEXT, False, 3, 0) in status.fetchall()


def test_killed_driver_resumes_with_every_row_stored_once(
    ray_local, db_url, photos, media_dir, reference, monkeypatch, capsys
):
    from mediatag.cli import main

    name = _deferred(db_url, photos, media_dir)
    with connect(db_url) as c:
        planned = sorted(
            r[0]
            for r in c.execute(
                "SELECT id FROM mediatag.keyframe_pending WHERE dataset_id = mediatag.dataset_id(%s)", (name,)
            )
        )
        c.commit()
        env = {**os.environ, "MEDIATAG_DATABASE_URL": db_url}
        driver = subprocess.Popen(
            [sys.executable, "-m", "mediatag.cli", "backfill", name, "--unit-rows", "1", "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and driver.poll() is None:
                done, waiting, _ = _counts(c, name)
                if done >= 1:
                    break
                time.sleep(0.05)
            assert driver.poll() is None, driver.stderr.read().decode()
            os.killpg(driver.pid, signal.SIGKILL)  # mid-run: some units committed, the rest not
        finally:
            driver.wait(timeout=30)
        done, waiting, pending_assets = _counts(c, name)
        assert done >= 1 and waiting > 0 and done + waiting == PHOTOS, (done, waiting)
        assert pending_assets > 0  # their post-ingest work waits for the run that finishes
        # `ingest --ray` again: every file is known, and its back-fill (on the local Ray) embeds only what the
        # killed run had not committed.
        monkeypatch.setenv("MEDIATAG_DATABASE_URL", db_url)
        assert main(["ingest", name, *map(str, photos), "--ray", "--workers", "1", "-q"]) == 0
        out = capsys.readouterr().out
        assert f"already ingested (same sha256): {PHOTOS}" in out
        assert f"{waiting} of {waiting} keyframes embedded" in out and "local Ray" in out, out
        assert _counts(c, name) == (PHOTOS, 0, 0)
        ids = [
            r[0]
            for r in c.execute(
                "SELECT id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY id", (name,)
            )
        ]
        assert ids == planned  # each keyframe stored once, under the id it was given at ingest
        _assert_same(_vectors(c, name), reference)


def _embedding_actor_pids() -> list[int]:
    """The processes of the back-fill's Ray actors: Ray titles an actor's process `ray::<its class>`, and Ray Data
    names a map_batches actor's class after the callable it runs (MapWorker(MapBatches(UnitEmbedder)))."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not a process
            continue
        if proc.name.isdigit() and title.startswith("ray::") and "UnitEmbedder" in title:
            pids.append(int(proc.name))
    return sorted(pids)


def test_killed_embedding_actor_mid_run_every_row_stored_once(ray_local, db_url, coco_files, media_dir):
    """A worker dies (SIGKILL of a Ray actor's process) while units are in flight: Ray Data restarts the actor and
    retries its unit; rows the unit committed before are not re-read (backfill_inputs), and a unit stored twice
    changes nothing (backfill_store), so the one run ends with every keyframe stored exactly once."""
    photos = coco_files[:8]
    want = _inline_vectors(db_url, photos, media_dir)
    name = _deferred(db_url, photos, media_dir)
    with connect(db_url) as c:
        planned = [
            r[0]
            for r in c.execute(
                "SELECT id FROM mediatag.keyframe_pending WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY id",
                (name,),
            )
        ]
        c.commit()
    seen: dict[str, object] = {}

    def kill_one_actor_mid_run() -> None:
        with connect(db_url, autocommit=True) as c:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                done, waiting, _ = _counts(c, name)
                pids = _embedding_actor_pids()
                if done >= 1 and waiting >= 2 and pids:
                    os.kill(pids[0], signal.SIGKILL)
                    seen.update(pid=pids[0], actors=len(pids), done=done, waiting=waiting)
                    return
                time.sleep(0.02)

    killer = threading.Thread(target=kill_one_actor_mid_run, daemon=True)
    killer.start()
    summary = backfill(db_url, name, BackfillOptions(ray_address="local", workers=2, unit_rows=1, progress=False))
    killer.join(timeout=5)
    # The kill happened mid-run: some units committed, others still to do.
    assert seen.get("pid"), f"no embedding actor was killed mid-run (actors seen: {_embedding_actor_pids()})"
    assert seen["done"] >= 1 and seen["waiting"] >= 2, seen
    assert summary.failed == [] and summary.units == len(photos), summary.render()
    with connect(db_url) as c:
        assert _counts(c, name) == (len(photos), 0, 0)
        ids = [
            r[0]
            for r in c.execute(
                "SELECT id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY id", (name,)
            )
        ]
        assert ids == planned  # none lost, none twice, each under the id it got at ingest
        _assert_same(_vectors(c, name), want)
        # A run afterwards finds nothing left to embed.
        again = backfill(db_url, name, BackfillOptions(progress=False))
        assert (again.units, again.stored) == (0, 0)
    print(f"\nkilled actor pid {seen['pid']} of {seen['actors']} at {seen['done']} stored / {seen['waiting']} waiting:"
          f" {summary.render()}")  # fmt: skip


def test_reembed_then_switch_keeps_the_old_model_beside(db_url, service, logins, photos, media_dir):
    name = unique("bf_switch")
    with connect(db_url) as c:
        ingest(c, name, photos[:3], IngestOptions(progress=False, media_dir=media_dir))
        old_model, old_dim = c.execute(
            "SELECT visual_model, visual_dim FROM mediatag.dataset WHERE name = %s", (name,)
        ).fetchone()
        c.commit()
    # A switch before the new model's vectors exist is refused with the command that fixes it.
    with psycopg.connect(db_url, autocommit=True) as c, pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
        c.execute("SELECT mediatag.switch_dataset_model(%s, %s)", (name, STRONG))
    assert f"mediatag backfill {name} --model {STRONG}" in e.value.diag.message_hint
    summary = backfill(logins["editor"], name, BackfillOptions(model=STRONG, progress=False))
    assert summary.stored == 3
    # Editors back-fill; switching is an admin's.
    with psycopg.connect(logins["editor"], autocommit=True) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("SELECT mediatag.switch_dataset_model(%s, %s)", (name, STRONG))
    switched = backfill(logins["admin"], name, BackfillOptions(model=STRONG, switch=True, progress=False))
    assert (switched.stored, switched.switched) == (0, 3)
    with connect(db_url) as c:
        model, dim = c.execute(
            "SELECT visual_model, visual_dim FROM mediatag.dataset WHERE name = %s", (name,)
        ).fetchone()
        assert (model, dim) != (old_model, old_dim) and model == STRONG
        assert {len(v) for v in _vectors(c, name).values()} == {dim}
        old = c.execute(
            "SELECT count(*), min(vector_dims(embedding)) FROM mediatag.keyframe_vector WHERE model = %s"
            " AND dataset_id = mediatag.dataset_id(%s)",
            (old_model, name),
        ).fetchone()
        assert old == (3, old_dim)  # the old vectors stay, ready to switch back
        assert c.execute("SELECT count(*) FROM mediatag.keyframe_vector WHERE model = %s", (STRONG,)).fetchone()[0] == 0
        hits = c.execute("SELECT count(*) FROM mediatag.search(%s, 'a photo', k => 3)", (name,)).fetchone()[0]
        assert hits == 3


def test_viewer_and_editor_without_write_access_are_refused(db_url, logins, photos, media_dir):
    name = _deferred(db_url, photos[:2], media_dir)
    for role in ("viewer", "editor"):
        if role == "editor":  # an editor who may read the dataset but not write it
            with connect(db_url) as c:
                c.execute("SELECT mediatag.grant_dataset_access(%s, %s, 'viewer')", (name, _login_name(logins[role])))
                c.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            backfill(logins[role], name, BackfillOptions(progress=False))
        assert "back-filling embeddings" in str(e.value)
        with psycopg.connect(logins[role], autocommit=True) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "SELECT mediatag.backfill_store(%s, 'visual', NULL, ARRAY[1]::bigint[], ARRAY['[1,0]'::halfvec])",
                (name,),
            )
    with connect(db_url) as c:
        assert _counts(c, name) == (0, 2, 2)  # nothing moved
    with pytest.raises(ValueError, match="invalid modality"):
        backfill(db_url, name, BackfillOptions(modality="audio", progress=False))


def _login_name(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(url)["user"]
