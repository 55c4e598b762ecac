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
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in conn.execute(
            f"EXPLAIN SELECT id FROM mediatag.keyframe WHERE dataset_id = {did} "
            f"ORDER BY embedding::halfvec({dim}) <#> (SELECT embedding FROM mediatag.keyframe LIMIT 1)::halfvec({dim}) "
            "LIMIT 5"
        )
    )
    assert f"keyframe_hnsw_ds{did}" in plan


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
