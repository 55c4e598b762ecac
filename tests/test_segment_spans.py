"""Each keyframe's span and place (mediatag.keyframe_span) are stored where keyframes are made and kept right when a
video's keyframes or shots change; segments read from them equal, row by row, the window definition the scoring job
used to evaluate over every keyframe (mediatag._segments_by_window), through full and incremental scoring, saved
thresholds and segment options."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique
from .mediafactory import video_with_cuts

# 3 s shots with a keyframe every second: several keyframes per shot, so spans end halfway between neighbours.
CLIPS = ("red", "testsrc", "red", "mandelbrot", "red")
OPTIONS = {"keyframe_every_s": 1.0, "progress": False}


def _spans(conn: psycopg.Connection, dataset: str) -> tuple[list[tuple], list[tuple]]:
    """(stored, by definition): every keyframe's span and place in the dataset, as keyframe_span holds them and as
    the window definition computes them now from mediatag.keyframe."""
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
    stored = conn.execute(
        "SELECT s.keyframe_id, s.span_start_ms, s.span_end_ms, s.ord FROM mediatag.keyframe_span s "
        "JOIN mediatag.keyframe k ON k.id = s.keyframe_id WHERE k.dataset_id = %s ORDER BY 1",
        (did,),
    ).fetchall()
    definition = conn.execute(
        sql.SQL("SELECT x.id, x.span_start, x.span_end, x.ord::int FROM ({}) x ORDER BY 1").format(
            sql.SQL(
                conn.execute(
                    "SELECT mediatag._segment_keyframes(format('SELECT k.id, k.asset_id, k.shot_id, k.time_ms "
                    "FROM mediatag.keyframe k WHERE k.dataset_id = %%s', %s::bigint))",
                    (did,),
                ).fetchone()[0]
            )
        )
    ).fetchall()
    return stored, definition


def _segments_equal_reference(conn: psycopg.Connection, group: str, dataset: str) -> int:
    """Asserts the stored segments equal the window definition's row by row; returns how many there are."""
    gid, slug = conn.execute(
        "SELECT id, slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)
    ).fetchone()
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (dataset,)).fetchone()[0]
    reference = conn.execute("SELECT mediatag._segments_by_window(%s, %s)", (gid, did)).fetchone()[0]
    cols = "dataset_id, asset_id, video_id, position, start_ms, end_ms, peak_score, mean_score, keyframes, sources"
    want = conn.execute(sql.SQL(f"SELECT {cols} FROM ({{}}) q ORDER BY 1, 2, 4, 5").format(sql.SQL(reference)))
    want = want.fetchall()
    got = conn.execute(
        sql.SQL(f"SELECT {cols} FROM mediatag_data.{{}} WHERE dataset_id = %s ORDER BY 1, 2, 4, 5").format(
            sql.Identifier(f"dt_{slug}_segment_scores")
        ),
        (did,),
    ).fetchall()
    assert got == want
    return len(got)


def _ingest_clip(db_url: str, media_dir: Path, tmp_path: Path) -> str:
    """A new dataset holding one 15-s video of five 3-s shots, a keyframe every second."""
    ds = unique("span")
    with connect(db_url) as c:
        ingest(
            c,
            ds,
            [video_with_cuts(tmp_path / "a.mp4", CLIPS, seconds=3)],
            IngestOptions(media_dir=media_dir, **OPTIONS),
        )
    return ds


def test_spans_are_stored_at_ingest_and_follow_changes(client, conn, db_url, media_dir, tmp_path: Path):
    ds = _ingest_clip(db_url, media_dir, tmp_path)
    stored, definition = _spans(conn, ds)
    assert len(stored) >= 12 and stored == definition
    # Several keyframes in a shot: inner spans end halfway to the next keyframe, not at the shot's bounds.
    assert any(e - s < 1500 for _, s, e, _ in stored), stored
    assert sorted(o for *_, o in stored) == list(range(1, len(stored) + 1))

    # A keyframe removed from the middle of a shot: its neighbours stretch over its time, later places move up.
    kf = conn.execute(
        "SELECT k.id FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s) "
        "AND EXISTS (SELECT 1 FROM mediatag.keyframe p WHERE p.shot_id = k.shot_id AND p.time_ms < k.time_ms) "
        "AND EXISTS (SELECT 1 FROM mediatag.keyframe n WHERE n.shot_id = k.shot_id AND n.time_ms > k.time_ms) "
        "ORDER BY k.time_ms LIMIT 1",
        (ds,),
    ).fetchone()[0]
    conn.execute("DELETE FROM mediatag.keyframe WHERE id = %s", (kf,))
    after, definition = _spans(conn, ds)
    assert after == definition and len(after) == len(stored) - 1 and after != [r for r in stored if r[0] != kf]

    # A shot whose bounds move: its first and last keyframes' spans follow.
    shot = conn.execute(
        "SELECT sh.id FROM mediatag.shot sh JOIN mediatag.asset a ON a.id = sh.asset_id "
        "WHERE a.dataset_id = mediatag.dataset_id(%s) ORDER BY sh.shot_index LIMIT 1",
        (ds,),
    ).fetchone()[0]
    conn.execute("UPDATE mediatag.shot SET start_ms = start_ms + 10, end_ms = end_ms - 10 WHERE id = %s", (shot,))
    moved, definition = _spans(conn, ds)
    assert moved == definition and moved != after

    # A keyframe moved in time within its shot: its own and its neighbours' spans follow; an update that moves no
    # time, shot or video (a model switch rewrites embeddings) leaves them as they are.
    conn.execute(
        "UPDATE mediatag.keyframe SET time_ms = time_ms + 100 WHERE id = (SELECT s.keyframe_id FROM "
        "mediatag.keyframe_span s JOIN mediatag.keyframe k ON k.id = s.keyframe_id "
        "WHERE k.dataset_id = mediatag.dataset_id(%s) AND s.span_end_ms - s.span_start_ms < 1500 "
        "ORDER BY k.time_ms LIMIT 1)",
        (ds,),
    )
    shifted, definition = _spans(conn, ds)
    assert shifted == definition and shifted != moved
    conn.execute("UPDATE mediatag.keyframe SET width = width WHERE dataset_id = mediatag.dataset_id(%s)", (ds,))
    assert _spans(conn, ds) == (shifted, shifted)
    moved = shifted

    # A keyframe added to the video (as the Ray back-fill moves pending ones in): spans and places recomputed.
    conn.execute(
        "INSERT INTO mediatag.keyframe (dataset_id, asset_id, shot_id, keyframe_index, time_ms, image_path, embedding) "
        "SELECT dataset_id, asset_id, shot_id, 1000, time_ms + 1, image_path, embedding FROM mediatag.keyframe "
        "WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY time_ms LIMIT 1",
        (ds,),
    )
    added, definition = _spans(conn, ds)
    assert added == definition and len(added) == len(moved) + 1
    conn.rollback()


def test_segments_equal_the_window_definition(client, conn, db_url, media_dir, tmp_path: Path):
    ds = _ingest_clip(db_url, media_dir, tmp_path)
    group = unique("Span")
    client.create_tag_group(ds, group, ["red", "pattern"])
    rows = conn.execute(
        "SELECT k.id, k.time_ms FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s)", (ds,)
    ).fetchall()
    red = [k for k, t in rows if (t // 3000) % 2 == 0]
    client.call("label_keyframes", tag_group=group, tag="red", keyframes=red, label=True)
    client.call(
        "label_keyframes", tag_group=group, tag="red", keyframes=[k for k, _ in rows if k not in red], label=False
    )
    client.publish_tag_group(group)
    client.run_jobs()  # the full job
    counts = [_segments_equal_reference(conn, group, ds)]
    # Saved thresholds and options refresh one tag's segments; each result is the definition's.
    for threshold, gap, length in ((0.5, 2000, 1000), (0.5, 200, 0), (0.2, 0, 0), (0.9, 200, 500)):
        client.call("set_threshold", tag_group=group, tag="red", threshold=threshold)
        client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=gap, min_length_ms=length)
        client.call("set_segment_options", tag_group=group, tag="pattern", max_gap_ms=gap, min_length_ms=length)
        counts.append(_segments_equal_reference(conn, group, ds))
    # Incremental scoring of a second video reads its keyframes' rows by address, with their stored spans.
    with connect(db_url) as c:
        more = video_with_cuts(tmp_path / "b.mp4", ("testsrc", "red", "red", "smpte"), seconds=2)
        ingest(c, ds, [more], IngestOptions(media_dir=media_dir, **OPTIONS))
    client.run_jobs()
    counts.append(_segments_equal_reference(conn, group, ds))
    assert max(counts) >= 3 and len(set(counts)) > 1, counts
