"""Scoring cost follows new data: new assets are scored alone, appended to the live version's partitions; a full
rescore happens only for a new version; the calibration sample is topped up, not redrawn."""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique
from .mediafactory import write_srt


def _copies(coco_files: list[Path], idx: range, folder: Path, tag: str) -> list[Path]:
    out = []
    for i in idx:
        dst = folder / f"{tag}{i}.jpg"
        dst.write_bytes(coco_files[i].read_bytes() + tag.encode())  # own sha256, same picture
        out.append(dst)
    return out


def _group_slug(conn, group: str) -> str:
    return conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]


def _rows(conn, table: str, key: str) -> dict:
    q = sql.SQL("SELECT {}, version, scores FROM mediatag_data.{} ORDER BY 1").format(
        sql.Identifier(key), sql.Identifier(table)
    )
    return {r[0]: (r[1], [round(x, 5) if x is not None else None for x in r[2]]) for r in conn.execute(q)}


def _pending_jobs(conn, group: str) -> list[tuple[str, int]]:
    return conn.execute(
        "SELECT j.kind, jsonb_array_length(coalesce(j.payload -> 'asset_ids', '[]')) FROM mediatag.job j "
        "JOIN mediatag.tag_group g ON g.id = (j.payload ->> 'group_id')::bigint "
        "WHERE lower(g.name) = lower(%s) AND j.state = 'queued' ORDER BY j.id",
        (group,),
    ).fetchall()


def test_new_assets_are_scored_alone_into_the_live_partitions(
    client, conn, db_url, coco_files, sample_video, media_dir, tmp_path
):
    ds = unique("incr")
    opts = IngestOptions(progress=False, media_dir=media_dir)
    with connect(db_url) as c:
        ingest(c, ds, _copies(coco_files, range(13, 17), tmp_path, "a"), opts)
    group = unique("Incr")
    client.create_tag_group(ds, group, ["dog", "person", "pizza"])
    client.add_prompt(group, "person", "someone talking", modality="transcript")
    client.publish_tag_group(group)
    client.run_jobs()
    slug = _group_slug(conn, group)
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (ds,)).fetchone()[0]
    part = f"dt_{slug}_visual_scores_ds{did}"
    oid_before = conn.execute("SELECT %s::regclass::oid", (f"mediatag_data.{part}",)).fetchone()[0]
    full_job_seconds = client.tag_group_status(group)[0]["score_seconds"]

    video = tmp_path / "more.mp4"
    video.write_bytes(sample_video.read_bytes() + b"incr")
    write_srt(tmp_path / "more.srt", [(200, 1500, "someone talking about pizza"), (2100, 3800, "a red screen")])
    with connect(db_url) as c:
        s = ingest(c, ds, [*_copies(coco_files, range(17, 19), tmp_path, "b"), video], opts)
    assert s.ingested == 3 and s.scoring_jobs == 1
    assert _pending_jobs(conn, group) == [("score_assets", 3)]  # no full rescore queued
    assert client.run_jobs() >= 1
    st = client.tag_group_status(group)[0]
    assert st["status"] == "scored" and st["scored_version"] == 1 and full_job_seconds is not None
    # Appended to the live partition (same table), not rebuilt beside it.
    assert conn.execute("SELECT %s::regclass::oid", (f"mediatag_data.{part}",)).fetchone()[0] == oid_before
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM mediatag.keyframe WHERE dataset_id = %(d)s),"
        " (SELECT count(*) FROM mediatag.shot s JOIN mediatag.asset a ON a.id = s.asset_id WHERE a.dataset_id = %(d)s),"
        " (SELECT count(*) FROM mediatag.asset WHERE dataset_id = %(d)s),"
        " (SELECT count(*) FROM mediatag.transcript_segment WHERE dataset_id = %(d)s)",
        {"d": did},
    ).fetchone()
    levels = [("visual", "keyframe_id"), ("shot", "shot_id"), ("video", "asset_id"), ("transcript", "segment_id")]
    incremental = {lvl: _rows(conn, f"dt_{slug}_{lvl}_scores", key) for lvl, key in levels}
    assert tuple(len(incremental[lvl]) for lvl, _ in levels) == counts and counts[1] == 3 and counts[3] == 2
    # The same scores a full rescore of the version gives.
    client.score_tag_group(group)
    assert {lvl: _rows(conn, f"dt_{slug}_{lvl}_scores", key) for lvl, key in levels} == incremental
    # Running the same incremental job again adds nothing (idempotent).
    conn.execute(
        "SELECT mediatag._score_assets_job(g.id, %s, ARRAY(SELECT id FROM mediatag.asset WHERE dataset_id = %s)) "
        "FROM mediatag.tag_group g WHERE lower(g.name) = lower(%s)",
        (did, did, group),
    )
    assert {lvl: _rows(conn, f"dt_{slug}_{lvl}_scores", key) for lvl, key in levels} == incremental


def test_new_version_rescores_in_full_and_covers_new_assets(client, conn, db_url, coco_files, media_dir, tmp_path):
    ds = unique("incrv")
    opts = IngestOptions(progress=False, media_dir=media_dir)
    with connect(db_url) as c:
        ingest(c, ds, _copies(coco_files, range(19, 22), tmp_path, "c"), opts)
    group = unique("IncrV")
    client.create_tag_group(ds, group, ["dog"])
    client.publish_tag_group(group)
    client.run_jobs()
    client.add_prompt(group, "dog", "a puppy")
    client.publish_tag_group(group)  # v2: a full job is queued
    with connect(db_url) as c:
        ingest(c, ds, _copies(coco_files, range(22, 24), tmp_path, "d"), opts)
    assert _pending_jobs(conn, group) == [("score_group", 0)]  # the full job will read the new assets too
    client.run_jobs()
    st = client.tag_group_status(group)[0]
    assert (st["status"], st["scored_version"]) == ("scored", 2)
    slug = _group_slug(conn, group)
    assert _rows(conn, f"dt_{slug}_visual_scores", "keyframe_id").keys() == {
        r[0] for r in conn.execute("SELECT id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (ds,))
    }


def test_calibration_sample_is_topped_up_not_redrawn(client, conn, db_url, coco_files, media_dir, tmp_path):
    ds = unique("sample")
    opts = IngestOptions(progress=False, media_dir=media_dir)
    with connect(db_url) as c:
        ingest(c, ds, _copies(coco_files, range(24, 28), tmp_path, "e"), opts)
    client.create_tag_group(ds, unique("Sample"), ["dog"])  # training draws the sample
    before = dict(
        conn.execute(
            "SELECT keyframe_id, xmin::text FROM mediatag.keyframe_sample WHERE dataset_id = mediatag.dataset_id(%s)",
            (ds,),
        ).fetchall()
    )
    assert len(before) == 4
    with connect(db_url) as c:
        ingest(c, ds, _copies(coco_files, range(28, 30), tmp_path, "f"), opts)
    after = dict(
        conn.execute(
            "SELECT keyframe_id, xmin::text FROM mediatag.keyframe_sample WHERE dataset_id = mediatag.dataset_id(%s)",
            (ds,),
        ).fetchall()
    )
    assert len(after) == 6  # below its size (10,000): the new keyframes join it
    assert {k: after[k] for k in before} == before  # the rows drawn before are untouched (same row versions)


def _hits_match_full_table(conn, client, group: str) -> None:
    slug = _group_slug(conn, group)
    full = set(
        conn.execute(
            sql.SQL("SELECT tag, keyframe_id FROM mediatag_data.{} WHERE threshold_decision").format(
                sql.Identifier(f"dt_{slug}_visual")
            )
        ).fetchall()
    )
    hits = set(
        conn.execute(sql.SQL("SELECT tag, keyframe_id FROM mediatag_data.{}").format(sql.Identifier(f"dt_{slug}_hits")))
    )
    assert hits == full
    total = conn.execute(
        sql.SQL("SELECT count(*) FROM mediatag_data.{}").format(sql.Identifier(f"dt_{slug}_visual_scores"))
    ).fetchone()[0]
    overview = {r["tag"]: (r["keyframes_above_threshold"], r["keyframes_scored"]) for r in client.group_overview(group)}
    assert overview == {t: (sum(1 for tt, _ in full if tt == t), total) for t in overview}


def test_per_tag_queries_read_the_hits_table(client, conn, db_url, coco_files, media_dir, tmp_path):
    ds = unique("hits")
    opts = IngestOptions(progress=False, media_dir=media_dir)
    with connect(db_url) as c:
        ingest(c, ds, _copies(coco_files, range(30, 38), tmp_path, "g"), opts)
    group = unique("Hits")
    client.create_tag_group(ds, group, ["dog", "person", "pizza"])
    conn.execute(
        "UPDATE mediatag.tag SET threshold = 0.05 WHERE group_id = (SELECT id FROM mediatag.tag_group "
        "WHERE lower(name) = lower(%s)) AND name = 'person'",
        (group,),
    )  # some hits for sure
    client.publish_tag_group(group)
    client.run_jobs()
    _hits_match_full_table(conn, client, group)
    with connect(db_url) as c:  # new assets: their hits are appended too
        ingest(c, ds, _copies(coco_files, range(38, 41), tmp_path, "h"), opts)
    client.run_jobs()
    _hits_match_full_table(conn, client, group)
    slug = _group_slug(conn, group)
    conn.execute("SET enable_seqscan = off")
    query = sql.SQL("EXPLAIN SELECT keyframe_id, score FROM mediatag_data.{} WHERE tag = 'person' ORDER BY score DESC")
    plan = "\n".join(r[0] for r in conn.execute(query.format(sql.Identifier(f"dt_{slug}_hits"))))
    conn.execute("RESET enable_seqscan")
    assert "Index" in plan and f"dt_{slug}_hits_scores_ds" in plan, plan
