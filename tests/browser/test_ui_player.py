"""The asset page plays its video (served with HTTP Range requests) and seeks from a segment, a transcript-free
keyframe button and a search result: the player's currentTime is read back in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from urllib.parse import urlencode

import httpx
import opentimelineio as otio
from playwright.sync_api import expect

from mediatag.segment_export import frames

from ..mediafactory import video_with_cuts
from ..test_segments import CLIPS, TRUTH, make_red_group
from .conftest import SCREENSHOTS


def _webm(tmp_path):
    """The segments' test video as VP9 WebM: Debian's Chromium plays open codecs only."""
    mp4 = video_with_cuts(tmp_path / "reds.mp4", CLIPS)
    out = tmp_path / "reds.webm"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(mp4), "-c:v", "libvpx-vp9", "-deadline", "realtime",
         "-cpu-used", "8", "-b:v", "300k", str(out)],
        check=True,
    )  # fmt: skip
    return out


def _current_ms(page, want_ms: int) -> int:
    page.wait_for_function(
        "ms => { const v = document.querySelector('#asset-player');"
        " return v && Math.abs(v.currentTime * 1000 - ms) < 50; }",
        arg=want_ms,
    )
    return round(page.evaluate("() => document.querySelector('#asset-player').currentTime") * 1000)


def test_player_seeks_from_segments_and_search(editor, ui_url, client, conn, db_url, media_dir, tmp_path):
    ds, group, _ = make_red_group(client, conn, db_url, media_dir, _webm(tmp_path))
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500)
    asset = conn.execute("SELECT id FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)", (ds,)).fetchone()[
        0
    ]

    editor.goto(f"/mediatag/asset?id={asset}")
    red = editor.locator("td:nth-child(2)", has_text=re.compile(r"^red$"))
    rows = editor.locator("#asset-segments tbody tr", has=red)  # the other tag may have segments of its own
    expect(rows).to_have_count(len(TRUTH))
    rows.nth(1).click()
    assert abs(_current_ms(editor, TRUTH[1][0]) - TRUTH[1][0]) < 50
    # The file itself: a Range request answers 206 with the bytes asked for.
    cookies = {c["name"]: c["value"] for c in editor.context.cookies()}
    r = httpx.get(f"{ui_url}/mediatag/video/{asset}", headers={"Range": "bytes=0-99"}, cookies=cookies)
    assert r.status_code == 206 and len(r.content) == 100 and r.headers["content-range"].startswith("bytes 0-99/")

    # A search result of the video opens the asset page at the result's time.
    editor.goto("/mediatag/search?" + urlencode({"dataset": ds, "q": "red"}))
    link = editor.locator("#search-results .mt-tile a", has_text="asset").first
    t = int(link.get_attribute("href").split("t=")[1].split("&")[0])
    link.click()
    assert abs(_current_ms(editor, t) - t) < 50


def _frames_of(timeline, rate: float) -> list[tuple[int, int]]:
    ranges = [c.source_range for c in timeline.find_clips()]
    return [(round(r.start_time.rescaled_to(rate).value), round(r.duration.rescaled_to(rate).value)) for r in ranges]


def test_score_timeline_exports_and_reel(editor, viewer, ui_url, client, conn, db_url, media_dir, tmp_path):
    """The score timeline seeks where it is clicked; the segment list's EDL, OTIO and CSV download and read back frame
    by frame; an editor's "Make reel" shows progress and offers a file ffprobe measures; a viewer gets no reel."""
    ds, group, _ = make_red_group(client, conn, db_url, media_dir, _webm(tmp_path))
    client.call("set_segment_options", tag_group=group, tag="red", max_gap_ms=500)
    asset = conn.execute("SELECT id FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)", (ds,)).fetchone()[
        0
    ]
    segments = client.rows("tag_segments", dataset=ds, tag_group=group, tag="red")
    want = [frames(s)[1:] for s in segments]
    assert len(want) == len(TRUTH)

    editor.goto(f"/mediatag/asset?id={asset}")
    chart = editor.locator('#score-timeline figure[data-tag="red"] svg')
    expect(chart).to_be_visible()
    expect(editor.locator('#score-timeline figure[data-tag="red"] .mt-tl-seg')).to_have_count(len(TRUTH))
    assert editor.locator('#score-timeline figure[data-tag="red"] .mt-tl-shot').count() == len(CLIPS)
    expect(editor.locator('#score-timeline figure[data-tag="red"] .mt-tl-thr')).to_have_count(1)
    # A click at 75 % of the chart's width plays from 75 % of the video (12 s long).
    box = chart.bounding_box()
    chart.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    assert abs(_current_ms(editor, 9000) - 9000) < 50
    shot = SCREENSHOTS / "asset_score_timeline.jpg"
    editor.locator("#asset-time").screenshot(path=str(shot), type="jpeg", quality=80)

    row = editor.locator('#asset-exports tr[data-tag="red"]')
    for fmt, adapter in (("edl", "cmx_3600"), ("otio", "otio_json"), ("csv", None)):
        with editor.expect_download() as dl:
            row.locator(f'a[data-format="{fmt}"]').click()
        path = tmp_path / dl.value.suggested_filename
        dl.value.save_as(path)
        assert path.suffix == f".{fmt}"
        if adapter:
            tl = otio.adapters.read_from_file(str(path), adapter, **({"rate": 25} if fmt == "edl" else {}))
            assert _frames_of(tl, 25) == want, fmt
        else:
            rows = list(csv.DictReader(path.open()))
            assert [(int(r["start_ms"]), int(r["end_ms"])) for r in rows] == [
                (s["start_ms"], s["end_ms"]) for s in segments
            ]

    row.get_by_role("button", name="Make reel").click()
    link = row.locator("a.mt-reel-file")
    expect(link).to_be_visible(timeout=120_000)
    with editor.expect_download() as dl:
        link.click()
    reel = tmp_path / "reel.mp4"
    dl.value.save_as(reel)
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(reel)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout  # fmt: skip
    )
    assert {s["codec_type"] for s in probe["streams"]} >= {"video"}
    total = sum(s["end_ms"] - s["start_ms"] for s in segments) / 1000
    assert abs(float(probe["format"]["duration"]) - total) <= len(segments) / 25 + 1e-3

    # A viewer sees the timeline and the exports, but no reel button, and the API refuses one.
    viewer.goto(f"/mediatag/asset?id={asset}")
    expect(viewer.locator('#score-timeline figure[data-tag="red"] svg')).to_be_visible()
    expect(viewer.locator('#asset-exports tr[data-tag="red"] a[data-format="otio"]')).to_be_visible()
    assert viewer.locator("#asset-exports .mt-reel").count() == 0
    status = viewer.evaluate(
        """async (body) => (await fetch('/mediatag/api/reels', {method: 'POST', headers: {'content-type':
            'application/json', 'x-csrftoken': document.querySelector('meta[name=csrftoken]').content},
            body: JSON.stringify(body)})).status""",
        {"asset": asset, "group": group, "tag": "red"},
    )
    assert status == 403
    # Nobody logged in gets no export.
    params = {"id": asset, "group": group, "tag": "red", "format": "csv"}
    r = httpx.get(f"{ui_url}/mediatag/asset/export", params=params)
    assert r.status_code == 302 and "/mediatag/login" in r.headers["location"]
