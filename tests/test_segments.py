"""Segments: a tag's keyframe scores over a real video become time ranges (dt_<group>_segment), refreshed by full
and incremental scoring and when a threshold or segment option is saved; exports read back frame by frame."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import opentimelineio as otio
import psycopg
import pytest
from psycopg import sql

from mediatag.cli import main
from mediatag.db import connect
from mediatag.ingest import IngestOptions, ingest
from mediatag.segment_export import frames, render

from .conftest import unique
from .mediafactory import video_with_cuts

# Red where the ground truth says so: 2 s clips of real test sources cut together.
CLIPS = ("red", "testsrc", "red", "mandelbrot", "red", "smpte")
TRUTH = [(0, 2000), (4000, 6000), (8000, 10000)]


def _segments(conn, slug: str, dataset: str) -> list[tuple]:
    q = sql.SQL(
        "SELECT tag, start_ms, end_ms, keyframes, sources FROM mediatag_data.{} "
        "WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY tag, asset_id, start_ms"
    ).format(sql.Identifier(f"dt_{slug}_segment"))
    return conn.execute(q, (dataset,)).fetchall()


def make_red_group(client, conn, db_url: str, media_dir: Path, video: Path) -> tuple[str, str, str]:
    """A dataset with `video` (cut as CLIPS) and a published group whose "red" tag separates the red clips, its
    threshold between the red keyframes' scores and the others' (what an evaluation would save): (dataset, group,
    slug)."""
    ds = unique("seg")
    with connect(db_url) as c:
        ingest(c, ds, [video], IngestOptions(progress=False, media_dir=media_dir))
    group = unique("Seg")
    client.create_tag_group(ds, group, ["red", "pattern"])
    rows = conn.execute(
        "SELECT k.id, k.time_ms FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s) ORDER BY 2",
        (ds,),
    ).fetchall()
    red = [k for k, t in rows if any(a <= t < b for a, b in TRUTH)]
    other = [k for k, _ in rows if k not in red]
    client.call("label_keyframes", tag_group=group, tag="red", keyframes=red, label=True)
    client.call("label_keyframes", tag_group=group, tag="red", keyframes=other, label=False)
    client.publish_tag_group(group)
    client.run_jobs()
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
    scores = dict(
        conn.execute(
            sql.SQL("SELECT keyframe_id, score FROM mediatag_data.{} WHERE tag = 'red'").format(
                sql.Identifier(f"dt_{slug}_visual")
            )
        ).fetchall()
    )
    lo, hi = max(scores[k] for k in other), min(scores[k] for k in red)
    assert hi > lo, "the labels must separate red from the rest"
    client.call("set_threshold", tag_group=group, tag="red", threshold=(lo + hi) / 2)
    return ds, group, slug


@pytest.fixture
def red_group(client, conn, db_url, media_dir, tmp_path):
    video = video_with_cuts(tmp_path / "reds.mp4", CLIPS)
    return (*make_red_group(client, conn, db_url, media_dir, video), tmp_path)


def test_segments_follow_ground_truth_options_and_incremental_scoring(red_group, client, conn, db_url, media_dir):
    ds, group, slug, tmp_path = red_group
    # Default max gap (2 s) closes the 2 s gaps between the red clips: one range over all three.
    got = [s for s in _segments(conn, slug, ds) if s[0] == "red"]
    assert [(s[1], s[2], s[4]) for s in got] == [(0, 10000, "visual")], got
    # A shorter max gap keeps them apart; boundaries are the shot cuts (within one frame at 25 fps).
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500)
    got = [s for s in _segments(conn, slug, ds) if s[0] == "red"]
    assert len(got) == len(TRUTH), got
    for (_, start, end, n, src), (a, b) in zip(got, TRUTH, strict=True):
        assert abs(start - a) <= 40 and abs(end - b) <= 40 and n >= 1 and src == "visual"
    # A minimum length above 2 s drops them all; a threshold of 1 leaves nothing to enter.
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500, min_length_ms=2500)
    assert not [s for s in _segments(conn, slug, ds) if s[0] == "red"]
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500)
    assert len([s for s in _segments(conn, slug, ds) if s[0] == "red"]) == 3

    # Incremental scoring: a new video's segments arrive with its scores, the others stay.
    more = video_with_cuts(tmp_path / "more.mp4", ("testsrc", "red", "mandelbrot"))
    with connect(db_url) as c:
        ingest(c, ds, [more], IngestOptions(progress=False, media_dir=media_dir))
    client.run_jobs()
    got = [s for s in _segments(conn, slug, ds) if s[0] == "red"]
    assert len(got) == 4 and any(abs(s[1] - 2000) <= 40 and abs(s[2] - 4000) <= 40 for s in got), got

    rows = client.call("tag_segments", dataset=ds, tag_group=group, tag="red")
    assert len(rows) == 4 and all(r["fps"] == pytest.approx(25) for r in rows)


def test_concept_segments(red_group, client, conn):
    ds, _, _, _ = red_group
    concept = unique("reds")
    client.call("create_concept", dataset=ds, name=concept)
    rows = conn.execute(
        "SELECT k.id, k.time_ms FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s)", (ds,)
    ).fetchall()
    red = [k for k, t in rows if any(a <= t < b for a, b in TRUTH)]
    client.call("label_concept", concept=concept, keyframes=red, label="yes")
    client.call("label_concept", concept=concept, keyframes=[k for k, _ in rows if k not in red], label="no")
    scores = dict(conn.execute("SELECT keyframe_id, score FROM mediatag.concept_scores(%s)", (concept,)).fetchall())
    lo, hi = max(scores[k] for k, _ in rows if k not in red), min(scores[k] for k in red)
    assert hi > lo
    client.call("set_concept_threshold", concept=concept, threshold=(lo + hi) / 2)
    segs = client.call("concept_segments", concept=concept, max_gap_ms=500)
    assert [Path(s["path"]).name for s in segs] == ["reds.mp4"] * 3
    for s, (a, b) in zip(segs, TRUTH, strict=True):
        assert abs(s["start_ms"] - a) <= 40 and abs(s["end_ms"] - b) <= 40 and s["sources"] == "visual"


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def test_export_and_reel_commands(red_group, client, db_url, monkeypatch):
    """The CLI's EDL and OTIO read back with OpenTimelineIO frame by frame; the reel probed with ffprobe."""
    ds, group, _, tmp_path = red_group
    monkeypatch.setenv("MEDIATAG_DATABASE_URL", db_url)
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500)
    rows = client.rows("tag_segments", dataset=ds, tag_group=group, tag="red")
    want = [frames(r)[1:] for r in rows]
    assert len(rows) == 3
    for fmt, adapter in (("edl", "cmx_3600"), ("otio", "otio_json"), ("fcpxml", "fcp_xml")):
        out = tmp_path / f"red.{fmt}"
        assert main(["export", ds, "--group", group, "--tag", "red", "--format", fmt, "-o", str(out)]) == 0
        tl = otio.adapters.read_from_file(str(out), adapter, **({"rate": 25} if fmt == "edl" else {}))
        ranges = [c.source_range for c in tl.find_clips()]
        got = [(round(r.start_time.rescaled_to(25).value), round(r.duration.rescaled_to(25).value)) for r in ranges]
        assert got == want, fmt

    reel = tmp_path / "reel.mp4"
    assert main(["reel", ds, "--group", group, "--tag", "red", "-o", str(reel), "-q"]) == 0
    info = _ffprobe(reel)
    assert {s["codec_type"] for s in info["streams"]} >= {"video"}
    expected = sum(r["end_ms"] - r["start_ms"] for r in rows) / 1000
    assert abs(float(info["format"]["duration"]) - expected) <= len(rows) / 25 + 1e-3
    capped = tmp_path / "capped.mp4"
    assert main(["reel", ds, "--group", group, "--tag", "red", "-o", str(capped), "-q", "--max-seconds", "3"]) == 0
    assert abs(float(_ffprobe(capped)["format"]["duration"]) - 3) <= 2 / 25 + 1e-3


def test_export_segments_in_sql(red_group, client, conn, logins):
    """The same renderer in SQL, as a viewer: text formats, and EDL/OTIO/FCP XML through the OpenTimelineIO that
    `make -C sql install` puts beside the extension's Python, read back frame by frame."""
    ds, group, _, _ = red_group
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500)
    rows = client.rows("tag_segments", dataset=ds, tag_group=group, tag="red")
    want = [frames(r)[1:] for r in rows]
    assert len(want) == 3

    with psycopg.connect(logins["viewer"], autocommit=True) as viewer:

        def export(fmt: str) -> str:
            q = "SELECT mediatag.export_segments(dataset => %s, tag_group => %s, tag => %s, format => %s)"
            return viewer.execute(q, (ds, group, "red", fmt)).fetchone()[0]

        assert export("csv") == render(rows, "csv", "red")
        assert export("vtt") == render(rows, "vtt", "red") and export("srt").count(" --> ") == 3
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='invalid export format "avi": use csv'):
            export("avi")
        for fmt, adapter in (("otio", "otio_json"), ("edl", "cmx_3600"), ("fcpxml", "fcp_xml")):
            tl = otio.adapters.read_from_string(export(fmt), adapter, **({"rate": 25} if fmt == "edl" else {}))
            clips = tl.find_clips()
            got = [(round(c.source_range.start_time.rescaled_to(25).value),
                    round(c.source_range.duration.rescaled_to(25).value)) for c in clips]  # fmt: skip
            assert got == want, fmt
            if fmt == "otio":
                assert [c.media_reference.target_url.rsplit("/", 1)[-1] for c in clips] == ["reds.mp4"] * 3
        assert export("otio") == render(rows, "otio", "red")  # the server writes what the client would


def _relkind(conn, table: str) -> str | None:
    row = conn.execute("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(%s)", (table,)).fetchone()
    return row[0] if row else None


def test_a_segment_table_from_before_partitioning_is_converted(red_group, client, conn):
    """What the upgrade does to a group's segment table from before segments were partitioned by dataset: one
    partition per dataset with the same rows, the views read it in place (a user's view over them stays and works),
    and a dataset that lost its partition gets one back from the next refresh."""
    ds, group, slug, _ = red_group
    parent, did = f"dt_{slug}_segment_scores", conn.execute("SELECT mediatag.dataset_id(%s)", (ds,)).fetchone()[0]
    before = _segments(conn, slug, ds)
    assert before and _relkind(conn, f"mediatag_data.{parent}") == "p"
    # The old layout: one plain table with the rows, both views reading it.
    conn.execute(f"ALTER TABLE mediatag_data.{parent} RENAME TO {parent}_p")
    conn.execute(f"CREATE TABLE mediatag_data.{parent} AS SELECT * FROM mediatag_data.{parent}_p")
    conn.execute(f"ALTER TABLE mediatag_data.{parent} OWNER TO mediatag_owner")
    for schema in ("mediatag_data", "mediatag_bi"):
        view = f"{schema}.dt_{slug}_segment"
        definition = conn.execute("SELECT pg_get_viewdef(%s::regclass)", (view,)).fetchone()[0]
        conn.execute(f"CREATE OR REPLACE VIEW {view} AS {definition.replace(f'{parent}_p', parent)}")
    conn.execute(f"DROP TABLE mediatag_data.{parent}_p")
    conn.execute(f"CREATE VIEW public.seg_user_{slug} AS SELECT tag, start_ms FROM mediatag_data.dt_{slug}_segment")
    user_view = conn.execute("SELECT %s::regclass::oid", (f"public.seg_user_{slug}",)).fetchone()[0]
    assert _relkind(conn, f"mediatag_data.{parent}") == "r"

    conn.execute("SET ROLE mediatag_owner")  # as the upgrade's postlude leaves what it makes: the owner role's
    conn.execute("SELECT mediatag._ensure_segment_table(g) FROM mediatag.tag_group g WHERE g.slug = %s", (slug,))
    conn.execute("RESET ROLE")
    assert _relkind(conn, f"mediatag_data.{parent}") == "p"
    partitions = conn.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
        (f"mediatag_data.{parent}",),
    ).fetchall()
    assert partitions == [(f"mediatag_data.{parent}_ds{did}",)]
    assert _segments(conn, slug, ds) == before
    assert conn.execute("SELECT %s::regclass::oid", (f"public.seg_user_{slug}",)).fetchone()[0] == user_view
    assert sorted(conn.execute(f"SELECT tag, start_ms FROM public.seg_user_{slug}").fetchall()) == sorted(
        (s[0], s[1]) for s in before
    )

    # No partition for the dataset (it had no segments when its table was converted): a saved option makes one.
    conn.execute(f"DROP TABLE mediatag_data.{parent}_ds{did}")
    assert _segments(conn, slug, ds) == []
    client.call("set_segment_options", tag_group=group, tag="red")
    assert _segments(conn, slug, ds) == [s for s in before if s[0] == "red"]
    conn.execute(f"DROP VIEW public.seg_user_{slug}")
