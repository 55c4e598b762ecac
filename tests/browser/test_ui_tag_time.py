"""The tag page in time: Video Shots tiles show their shot's range and play exactly it (on hover and from ▶, read
back from the <video>'s currentTime), and after publish the Stratified tab shows each score bucket's keyframes."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from ..conftest import unique
from ..test_segments import TRUTH, make_red_group
from .test_ui import set_range
from .test_ui_player import _webm

PLAYED = """li => { const v = li.querySelector('video.mt-shot-video');
    const b = li.querySelector('.mt-shot-play');
    return v && v.paused && v.currentTime * 1000 >= Number(b.dataset.endMs) - 120; }"""


def _tag_url(group: str, tag: str, **more: str) -> str:
    return "/mediatag/tag?" + urlencode({"group": group, "tag": tag, **more})


def _shots(conn, dataset: str) -> set[tuple[int, int]]:
    rows = conn.execute(
        "SELECT s.start_ms, s.end_ms FROM mediatag.shot s JOIN mediatag.asset a ON a.id = s.asset_id "
        "WHERE a.dataset_id = mediatag.dataset_id(%s)",
        (dataset,),
    )
    return {(a, b) for a, b in rows}


def _range(tile) -> tuple[int, int]:
    b = tile.locator(".mt-shot-play")
    return int(b.get_attribute("data-start-ms")), int(b.get_attribute("data-end-ms"))


def test_video_shots_play_their_range(editor, client, conn, db_url, media_dir, tmp_path):
    ds, group, _ = make_red_group(client, conn, db_url, media_dir, _webm(tmp_path))
    shots = _shots(conn, ds)
    editor.goto(_tag_url(group, "red", tab="shot"))
    buttons = editor.locator("#preview .mt-shot-play")
    expect(buttons.first).to_be_visible()
    ranges = buttons.evaluate_all("bs => bs.map(b => [Number(b.dataset.startMs), Number(b.dataset.endMs)])")
    assert ranges and {tuple(r) for r in ranges} <= shots, (ranges, shots)

    # Hover: the tile's image gives way to its shot, which plays from the shot's start and stops at its end.
    tiles = editor.locator("#preview .mt-tile:has(.mt-shot-play)")
    tile = tiles.first
    start, end = _range(tile)
    tile.locator("img").hover()
    video = tile.locator("video.mt-shot-video")
    expect(video).to_be_visible()
    editor.wait_for_function(PLAYED, arg=tile.element_handle(), timeout=30_000)
    t = video.evaluate("v => v.currentTime * 1000")
    assert start <= t <= end + 100, (t, start, end)
    editor.mouse.move(0, 0)  # the pointer leaves: the still comes back
    expect(video).to_have_count(0)
    expect(tile.locator("img")).to_be_visible()

    # ▶ (keyboard or touch): the same range, without selecting the tile for labeling.
    other = tiles.last
    start, end = _range(other)
    other.locator(".mt-shot-play").focus()
    editor.keyboard.press("Enter")
    editor.wait_for_function(PLAYED, arg=other.element_handle(), timeout=30_000)
    assert start <= other.locator("video").evaluate("v => v.currentTime * 1000") <= end + 100
    assert "mt-selected" not in (other.get_attribute("class") or "")

    # After the slider moves, the redrawn tiles still carry their ranges.
    set_range(editor.locator("#threshold"), "0.10")
    expect(editor.locator("#preview")).to_have_attribute("data-threshold", "0.10")
    again = editor.locator("#preview .mt-shot-play").evaluate_all(
        "bs => bs.map(b => [Number(b.dataset.startMs), Number(b.dataset.endMs)])"
    )
    assert again and {tuple(r) for r in again} <= shots


def test_stratified_tab_after_publish(editor, viewer, client, conn, db_url, media_dir, tmp_path):
    ds, group, _ = make_red_group(client, conn, db_url, media_dir, _webm(tmp_path))
    want = client.rows("stratified_preview", tag_group=group, tag="red", per_bucket=10)
    per_bucket: dict[str, int] = {}
    for r in want:
        key = f"{r['bucket_low']:.1f}–{r['bucket_high']:.1f}"
        per_bucket[key] = per_bucket.get(key, 0) + 1

    editor.goto(_tag_url(group, "red"))
    editor.get_by_role("link", name="Stratified").click()
    buckets = editor.locator("#preview .mt-bucket")
    expect(buckets).to_have_count(len(per_bucket))
    got = {b.get_attribute("data-bucket"): b.locator(".mt-tile").count() for b in buckets.all()}
    assert got == per_bucket and all(n <= 10 for n in got.values())
    shown = editor.locator("#preview .mt-tile").evaluate_all("ts => ts.map(t => Number(t.dataset.kf))")
    assert sorted(shown) == sorted(r["keyframe_id"] for r in want)
    # The threshold decides yes / no of each keyframe in place.
    set_range(editor.locator("#threshold"), "0.00")
    expect(editor.locator("#preview [data-field=decision]", has_text="no")).to_have_count(0)
    set_range(editor.locator("#threshold"), "1.00")
    expect(editor.locator("#preview [data-field=decision]", has_text="yes")).to_have_count(0)
    assert editor.locator("#preview .mt-tile input[type=checkbox]").count() == len(want)  # editors label here too

    viewer.goto(_tag_url(group, "red", tab="stratified"))
    expect(viewer.locator("#preview .mt-tile")).to_have_count(len(want))
    assert viewer.locator("#preview .mt-tile input[type=checkbox]").count() == 0

    # Before publish there is no stratified view to offer.
    draft = unique("Draft")
    client.create_tag_group(ds, draft, ["blue"])
    editor.goto(_tag_url(draft, "blue"))
    expect(editor.get_by_role("link", name="Video Shots")).to_be_visible()
    assert editor.get_by_role("link", name="Stratified").count() == 0
    editor.goto(_tag_url(draft, "blue", tab="stratified"))
    expect(editor.locator("#stratified-unavailable")).to_contain_text("has not been scored")


def test_shot_level_evaluation_in_the_ui(editor, viewer, client, conn, db_url, media_dir, tmp_path):
    """An editor starts a shot-level evaluation from the tag page, plays a shot from its item, judges every shot and
    saves the suggested threshold: dt_<group>_shot gets it, the keyframes keep theirs; a viewer may only look."""
    ds, group, slug = make_red_group(client, conn, db_url, media_dir, _webm(tmp_path))
    shots = _shots(conn, ds)
    kf_threshold = client.group_overview(group)[0]["threshold"]
    editor.goto(_tag_url(group, "red"))
    editor.get_by_label("Sample size").fill("10")
    editor.get_by_label("Items", exact=True).select_option("shot")
    editor.get_by_role("button", name="Start an evaluation").click()
    editor.wait_for_url("**/mediatag/evaluation?id=*")
    expect(editor.locator("#eval-level")).to_have_text("at shot level")
    items = editor.locator("#eval-items .mt-tile")
    expect(items).to_have_count(len(shots))
    ranges = {}
    for i in range(items.count()):
        b = items.nth(i).locator(".mt-shot-play")
        ranges[int(items.nth(i).get_attribute("data-kf"))] = (
            int(b.get_attribute("data-start-ms")),
            int(b.get_attribute("data-end-ms")),
        )
    assert set(ranges.values()) == shots
    first = items.first
    first.locator(".mt-shot-play").click()
    editor.wait_for_function(PLAYED, arg=first.element_handle(), timeout=30_000)

    red = {kf for kf, (a, _) in ranges.items() if any(a0 <= a < b0 for a0, b0 in TRUTH)}
    assert len(red) == len(TRUTH)
    for value, button in [(True, "Tag applies (y)"), (False, "Does not apply (n)")]:
        for i in range(items.count()):
            if (int(items.nth(i).get_attribute("data-kf")) in red) is value:
                items.nth(i).get_by_role("checkbox").check()
        editor.get_by_role("button", name=button).click()
        expect(editor.locator("#selected-count")).to_have_text("0 selected")
    expect(editor.locator("#eval-progress [data-field=judged]")).to_have_text(str(len(shots)))
    expect(editor.locator("#chart polyline")).to_have_count(5, timeout=30_000)
    eid = int(editor.url.split("id=")[1].split("&")[0])

    viewer.goto(f"/mediatag/evaluation?id={eid}")
    expect(viewer.locator("#eval-level")).to_have_text("at shot level")
    assert viewer.locator("#apply-save").count() == 0 and viewer.locator("#truth-yes").count() == 0

    editor.get_by_role("button", name="Apply and save").click()
    editor.wait_for_url("**/mediatag/tag?*")
    saved = conn.execute(
        "SELECT saved_threshold FROM mediatag.evaluation WHERE id = %s AND level = 'shot'", (eid,)
    ).fetchone()[0]
    thresholds = conn.execute(
        f'SELECT DISTINCT threshold FROM mediatag_data."dt_{slug}_shot" WHERE tag = %s', ("red",)
    ).fetchall()
    assert [t[0] for t in thresholds] == [pytest.approx(saved)]
    assert client.group_overview(group)[0]["threshold"] == pytest.approx(kf_threshold)
    expect(editor.locator("#evaluation-list")).to_contain_text("(shots)")
