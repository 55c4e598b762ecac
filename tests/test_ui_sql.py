"""The read functions the web UI's pages call (sql/src/ui.sql), and its thumbnail cache."""

from __future__ import annotations

import os
import time

import psycopg
import pytest
from PIL import Image


def test_list_assets_pages_and_counts(conn, coco_dataset):
    rows = conn.execute("SELECT * FROM mediatag.list_assets(%s, 10, 40)", [coco_dataset]).fetchall()
    assert len(rows) == 8 and all(r[-1] == 48 for r in rows)  # 48 in all, the last 8 from offset 40
    first = conn.execute(
        "SELECT keyframes, first_keyframe_id FROM mediatag.list_assets(%s, 1)", [coco_dataset]
    ).fetchone()
    assert first[0] == 1 and first[1] is not None  # an image is one keyframe


@pytest.mark.parametrize("lim, off, msg", [(0, 0, "lim must be between 1 and 1000"), (5, -1, "off must be 0 or more")])
def test_list_assets_bad_paging(conn, coco_dataset, lim, off, msg):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=msg):
        conn.execute("SELECT * FROM mediatag.list_assets(%s, %s, %s)", [coco_dataset, lim, off])


def test_list_assets_unknown_dataset(conn):
    with pytest.raises(psycopg.errors.NoDataFound, match='unknown dataset "nope"'):
        conn.execute("SELECT * FROM mediatag.list_assets('nope')")


def test_asset_detail_of_a_video(conn, video_dataset):
    asset = conn.execute(
        "SELECT a.id FROM mediatag.asset a JOIN mediatag.dataset d ON d.id = a.dataset_id WHERE d.name = %s",
        [video_dataset],
    ).fetchone()[0]
    d = conn.execute("SELECT mediatag.asset_detail(%s)", [asset]).fetchone()[0]
    assert d["dataset"] == video_dataset and d["kind"] == "video"
    assert [s["shot_index"] for s in d["shots"]] == sorted(s["shot_index"] for s in d["shots"]) and len(d["shots"]) == 3
    assert [t["text"] for t in d["transcript"]][-1] == "Fractals are beautiful."
    assert d["metadata"]["SeriesName"] == "Test Series"
    assert all(k["shot_id"] in {s["shot_id"] for s in d["shots"]} for k in d["keyframes"])


def test_unknown_asset_and_keyframe(conn):
    with pytest.raises(psycopg.errors.NoDataFound, match="unknown asset -1"):
        conn.execute("SELECT mediatag.asset_detail(-1)")
    with pytest.raises(psycopg.errors.NoDataFound, match="unknown keyframe -1"):
        conn.execute("SELECT mediatag.keyframe_image(-1)")


def test_job_progress_counts(conn):
    before = conn.execute("SELECT mediatag.job_progress()").fetchone()[0]
    j = conn.execute("SELECT mediatag.enqueue_job('ui_test_noop')").fetchone()[0]
    after = conn.execute("SELECT mediatag.job_progress(recent => 1)").fetchone()[0]
    conn.execute("DELETE FROM mediatag.job WHERE id = %s", [j])
    assert after["queued"] == before["queued"] + 1
    assert [r["id"] for r in after["recent"]] == [j]


def test_thumbnails_made_once_and_sized(tmp_path, coco_files):
    from datasette_mediatag import thumbs

    out, key = thumbs.thumbnail(coco_files[0], 320, tmp_path)
    with Image.open(out) as im:
        assert im.width <= 320 and im.height <= 240 and max(im.width / 320, im.height / 240) > 0.99
    mtime = out.stat().st_mtime_ns
    time.sleep(0.01)
    again, key2 = thumbs.thumbnail(coco_files[0], 320, tmp_path)
    assert again == out and key2 == key and out.stat().st_mtime_ns == mtime  # served from the cache
    assert thumbs.thumbnail(coco_files[0], 160, tmp_path)[1] != key  # each size its own entry
    with pytest.raises(ValueError, match="thumbnail width must be one of"):
        thumbs.thumbnail(coco_files[0], 333, tmp_path)


def test_thumbnail_follows_a_changed_file(tmp_path, coco_files):
    from datasette_mediatag import thumbs

    src = tmp_path / "photo.jpg"
    src.write_bytes(coco_files[0].read_bytes())
    _, k1 = thumbs.thumbnail(src, 160, tmp_path / "cache")
    src.write_bytes(coco_files[1].read_bytes())
    os.utime(src, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    _, k2 = thumbs.thumbnail(src, 160, tmp_path / "cache")
    assert k1 != k2


def _concept_on(conn, dataset: str) -> str:
    from .conftest import unique

    name = unique("ui_csv")
    conn.execute("SELECT mediatag.create_concept(%s, %s, 'a photo of a giraffe')", [dataset, name])
    return name


def test_import_concept_labels_csv_header_or_not(conn, coco_dataset):
    concept = _concept_on(conn, coco_dataset)
    rows = conn.execute(
        "SELECT a.id, k.id, k.image_path FROM mediatag.asset a JOIN mediatag.keyframe k ON k.asset_id = a.id"
        " WHERE a.dataset_id = mediatag.dataset_id(%s) ORDER BY a.id LIMIT 4",
        [coco_dataset],
    ).fetchall()
    (a0, _, p0), (a1, _, _), (_, k2, _), (a3, _, p3) = rows
    name0 = os.path.basename(p0)
    # A byte-order mark, a header in another order, blank lines and quoting.
    text = f'\ufefflabel,file\n\nyes,"{name0}"\nno,{a1}\n'
    got = conn.execute("SELECT * FROM mediatag.import_concept_labels_csv(%s, %s)", [concept, text]).fetchall()
    assert got == [(name0, "yes", 1), (str(a1), "no", 1)]
    got = conn.execute(
        "SELECT * FROM mediatag.import_concept_labels_csv(%s, %s)", [concept, f"keyframe_id,answer\n{k2},skip\n"]
    ).fetchall()
    assert got == [(f"keyframe:{k2}", "skip", 1)]
    got = conn.execute(
        "SELECT * FROM mediatag.import_concept_labels_csv(%s, %s)", [concept, f"{a3},yes\n{os.path.basename(p3)},no\n"]
    ).fetchall()
    assert got == [(str(a3), "yes", 1), (os.path.basename(p3), "no", 1)]  # no header: item, label
    labels = dict(
        conn.execute("SELECT l.label, count(*) FROM mediatag.concept_labels(%s) l GROUP BY 1", [concept]).fetchall()
    )
    assert labels == {"yes": 1, "no": 2, "skip": 1}  # asset 3 labeled twice: the last row wins


@pytest.mark.parametrize(
    "text, error, match",
    [
        ("", psycopg.errors.InvalidParameterValue, "the CSV is empty"),
        ("file,verdict\nx.jpg,yes\n", psycopg.errors.InvalidParameterValue, "needs an item column .* a label column"),
        ("file,label\n", psycopg.errors.InvalidParameterValue, "a header but no rows"),
        ("file,label\nonly_one_column\n", psycopg.errors.InvalidParameterValue, "CSV line 2: expected an item"),
        ("no_such_file.jpg,yes\n", psycopg.errors.NoDataFound, "1 of 1 rows match no asset"),
        ("x.jpg,maybe\n", psycopg.errors.InvalidParameterValue, "maybe"),
    ],
)
def test_import_concept_labels_csv_errors(conn, coco_dataset, text, error, match):
    concept = _concept_on(conn, coco_dataset)
    with pytest.raises(error, match=match):
        conn.execute("SELECT * FROM mediatag.import_concept_labels_csv(%s, %s)", [concept, text])
    assert conn.execute("SELECT count(*) FROM mediatag.concept_labels(%s)", [concept]).fetchone()[0] == 0
