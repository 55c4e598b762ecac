"""The asset page plays its video (served with HTTP Range requests) and seeks from a segment, a transcript-free
keyframe button and a search result: the player's currentTime is read back in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlencode

import httpx
from playwright.sync_api import expect

from ..mediafactory import video_with_cuts
from ..test_segments import CLIPS, TRUTH, make_red_group


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
