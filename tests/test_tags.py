"""Dynamic Tags end to end through SQL and the SDK, on real photos with the real offline model."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mediatag.db import connect

from .conftest import keyframes_by_file, unique


def _slug(conn, group: str) -> str:
    return conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]


@pytest.fixture
def group(client, coco_dataset) -> str:
    name = unique("Objects")
    client.create_tag_group(coco_dataset, name, "dog\n\n  pizza \nperson\n")
    return name


def test_group_from_lines(client, conn, group):
    overview = client.group_overview(group)
    assert [r["tag"] for r in overview] == ["dog", "pizza", "person"]  # blank line skipped, spaces trimmed
    for r in overview:
        assert r["visual_positive"] == [r["tag"]] and r["transcript_positive"] == [r["tag"]]
        assert r["classifier_version"] == 1
        assert r["training_summary"]["prompts"]["positive"] == 1
    groups = {g["name"]: g for g in client.list_tag_groups()}
    assert groups[group]["state"] == "draft" and groups[group]["visibility"] == "secret"


@pytest.mark.parametrize(
    "lines, bad_line",
    [
        ("dog\nTaylor_Swift", 2),
        ("dog\ncat\nx; DROP TABLE mediatag.asset", 3),
        ("Beyoncé", 1),
        ("a" * 101, 1),
    ],
)
def test_invalid_tag_names_name_the_line(client, coco_dataset, lines, bad_line):
    with pytest.raises(Exception, match=f"invalid tag name on line {bad_line}"):
        client.create_tag_group(coco_dataset, unique("Bad"), lines)


def test_sql_looking_group_names_are_data(client, conn, coco_dataset):
    evil = 'x"; DROP TABLE mediatag.asset; --'
    client.create_tag_group(coco_dataset, evil, ["dog"])
    client.publish_tag_group(evil)
    client.score_tag_group(evil)
    slug = _slug(conn, evil)
    assert slug == "x_drop_table_mediata"  # 20 characters of [a-z0-9_]
    n = conn.execute(sql.SQL("SELECT count(*) FROM mediatag_data.{}").format(sql.Identifier(f"dt_{slug}_visual")))
    assert n.fetchone()[0] == 48
    assert conn.execute("SELECT count(*) FROM mediatag.asset").fetchone()[0] >= 48  # still there
    client.drop_tag_group(evil)


def test_colliding_group_names(client, conn, coco_dataset):
    a, b = unique("Cats") + "!", None
    client.create_tag_group(coco_dataset, a, ["cat"])
    b = a[:-1] + "?"
    client.create_tag_group(coco_dataset, b, ["cat"])  # same slug base, different name
    assert _slug(conn, a) != _slug(conn, b)
    with pytest.raises(Exception, match="already exists"):
        client.create_tag_group(coco_dataset, a.upper(), ["cat"])


def test_unknown_group_and_tag(client, group):
    with pytest.raises(Exception, match='unknown tag group "nope"'):
        client.group_overview("nope")
    with pytest.raises(Exception, match='unknown tag "unicorn"'):
        client.add_prompt(group, "unicorn", "a horn")


def test_prompt_edits_retrain_and_change_preview(client, group):
    before = client.preview(group, "dog", kind="compare", n=48, seed=1)
    client.add_prompt(group, "dog", "a photo of a pizza")  # a deliberately different direction
    after = client.preview(group, "dog", kind="compare", n=48, seed=1)
    assert client.group_overview(group)[0]["classifier_version"] == 2
    assert {(r["keyframe_id"], round(r["score"], 4)) for r in before} != {
        (r["keyframe_id"], round(r["score"], 4)) for r in after
    }
    client.edit_prompt(group, "dog", "a photo of a pizza", "a dog on a leash")
    client.add_prompt(group, "dog", "a cat", polarity="negative", modality="visual")
    o = client.group_overview(group)[0]
    assert o["visual_negative"] == ["a cat"] and o["transcript_negative"] == []
    assert o["classifier_version"] == 4 and o["training_summary"]["prompts"] == {"positive": 2, "negative": 1}
    assert client.remove_prompt(group, "dog", "a cat", polarity="negative", modality="visual") == 1


def test_preview_splits_at_threshold(client, group):
    rows = client.preview(group, "dog", kind="compare", n=48, seed=3)
    assert rows, "the sample must yield preview rows"
    for r in rows:
        assert (r["side"] == "positive") == (r["score"] >= 0.5) == r["decision"]
    low = client.preview(group, "dog", kind="positives", threshold=0.0, n=100)
    assert len(low) == 48 and all(r["side"] == "positive" for r in low)
    high = client.preview(group, "dog", kind="negatives", threshold=1.0, n=5)
    assert len(high) == 5 and all(not r["decision"] for r in high)
    with pytest.raises(Exception, match="threshold must be between 0 and 1"):
        client.preview(group, "dog", threshold=1.5)


def test_dog_tag_ranks_dog_photos_first(client, conn, coco_dataset, labels, group):
    rows = client.preview(group, "dog", kind="positives", threshold=0.0, n=100)
    ranked = sorted(rows, key=lambda r: -r["score"])
    top = [Path(r["path"]).name for r in ranked[:5]]
    dogs = {f for f, c in labels.items() if "dog" in c}
    in_dataset = dogs & set(keyframes_by_file(conn, coco_dataset))
    assert in_dataset, "the 48 photos hold dogs"
    assert len(set(top) & dogs) >= 1, f"no dog among the top 5: {top}"


def test_labels_retrain_and_are_validated(client, conn, coco_dataset, labels, group):
    kf = keyframes_by_file(conn, coco_dataset)
    dogs = [kf[f] for f in kf if "dog" in labels[f]]
    others = [kf[f] for f in kf if "dog" not in labels[f]][:6]
    assert client.label_keyframes(group, "dog", dogs, True) == len(dogs)
    assert client.label_keyframes(group, "dog", others, False, origin="search") == len(others)
    o = client.group_overview(group)[0]
    assert o["labels_yes"] == len(dogs) and o["labels_no"] == len(others)
    assert o["training_summary"]["n_pos"] == len(dogs) and o["training_summary"]["n_neg"] == len(others)
    assert o["classifier_version"] == 3
    scores = {
        r["keyframe_id"]: r["score"] for r in client.preview(group, "dog", threshold=0.0, kind="positives", n=100)
    }
    assert min(scores[k] for k in dogs) > max(scores[k] for k in others)
    with pytest.raises(Exception, match="unknown keyframe"):
        client.label_keyframes(group, "dog", [10**12], True)
    with pytest.raises(Exception, match="label origin"):
        client.label_keyframes(group, "dog", dogs[:1], True, origin="guess")


def test_labels_from_another_dataset_are_refused(client, conn, group, video_dataset):
    other = conn.execute(
        "SELECT k.id FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id WHERE d.name = %s LIMIT 1",
        (video_dataset,),
    ).fetchone()[0]
    with pytest.raises(Exception, match=f'keyframe {other} belongs to dataset "{video_dataset}"'):
        client.label_keyframes(group, "dog", [other], True)


def test_uncertain_keyframes_are_unlabeled_and_distinct(client, conn, coco_dataset, group):
    kf = list(keyframes_by_file(conn, coco_dataset).values())
    client.label_keyframes(group, "person", kf[:3], True)
    rows = client.uncertain_keyframes(group, "person", k=8)
    ids = [r["keyframe_id"] for r in rows]
    assert len(ids) == 8 and len(set(ids)) == 8 and not set(ids) & set(kf[:3])
    gaps = sorted(abs(r["score"] - 0.5) for r in rows)
    all_gaps = sorted(
        abs(r["score"] - 0.5) for r in client.preview(group, "person", threshold=0.0, kind="positives", n=100)
    )
    assert gaps[0] <= all_gaps[len(all_gaps) // 2], "uncertain picks come from near the boundary"


def test_search_for_labeling_finds_the_query(client, conn, coco_dataset, labels, group):
    rows = client.search_for_labeling(group, "a pizza on a plate", k=5)
    assert len(rows) == 5
    assert any("pizza" in labels[Path(r["path"]).name] for r in rows)


def test_publish_score_and_threshold_decision(client, conn, coco_dataset, group):
    v = client.publish_tag_group(group)
    assert v == 1
    status = client.tag_group_status(group)
    assert status[0]["status"] == "queued" and status[0]["role"] == "training"
    assert client.run_jobs() >= 1
    status = client.tag_group_status(group)[0]
    assert status["status"] == "scored" and status["scored_version"] == 1
    slug = _slug(conn, group)
    rows = conn.execute(
        sql.SQL("SELECT tag, score, threshold, threshold_decision, keyframe_time_ms FROM mediatag_data.{}").format(
            sql.Identifier(f"dt_{slug}_visual")
        )
    ).fetchall()
    assert len(rows) == 48 * 3
    assert all(0.0 <= s <= 1.0 and d == (s >= t) for _, s, t, d, _ in rows)
    client.set_threshold(group, "dog", 0.0)
    n = conn.execute(
        sql.SQL("SELECT count(*) FILTER (WHERE threshold_decision) FROM mediatag_data.{} WHERE tag = 'dog'").format(
            sql.Identifier(f"dt_{slug}_visual")
        )
    ).fetchone()[0]
    assert n == 48, "a saved threshold changes threshold_decision at once"
    video = conn.execute(sql.SQL("SELECT count(*) FROM mediatag_data.{}").format(sql.Identifier(f"dt_{slug}_video")))
    assert video.fetchone()[0] == 48 * 3  # one row per asset and tag (images are their own 'video' level)
    strat = client.stratified_preview(group, "person", per_bucket=2)
    assert strat and all(r["bucket_low"] <= r["score"] < r["bucket_high"] + 1e-6 for r in strat)


def test_secret_groups_stay_home_and_shareable_apply(client, conn, group, video_dataset):
    client.publish_tag_group(group)
    with pytest.raises(Exception, match="is secret"):
        client.apply_tag_group(group, video_dataset)
    assert group not in {g["name"] for g in client.list_tag_groups(video_dataset)}
    # Nothing edited since version 1: the visibility alone changes, no new version to score (issue 24).
    assert client.publish_tag_group(group, visibility="shareable") == 1
    assert group in {g["name"] for g in client.list_tag_groups(video_dataset)}
    client.apply_tag_group(group, video_dataset, version=1)
    client.run_jobs()
    st = {r["dataset"]: r for r in client.tag_group_status(group)}
    assert st[video_dataset]["role"] == "applied" and st[video_dataset]["status"] == "scored"
    assert not st[video_dataset]["update_available"]
    with pytest.raises(Exception, match="only its training dataset"):
        client.add_prompt(group, "dog", "a puppy", dataset=video_dataset)
    client.add_prompt(group, "dog", "a puppy")
    client.publish_tag_group(group)
    st = {r["dataset"]: r for r in client.tag_group_status(group)}
    assert st[video_dataset]["update_available"] and st[video_dataset]["applied_version"] == 1
    client.update_tag_group(group, video_dataset)
    client.run_jobs()
    st = {r["dataset"]: r for r in client.tag_group_status(group)}
    assert st[video_dataset]["scored_version"] == 2 and not st[video_dataset]["update_available"]
    slug = _slug(conn, group)
    shots = conn.execute(
        sql.SQL("SELECT DISTINCT shot_id FROM mediatag_data.{} WHERE dataset_id = mediatag.dataset_id(%s)").format(
            sql.Identifier(f"dt_{slug}_shot")
        ),
        (video_dataset,),
    ).fetchall()
    assert len(shots) == 3
    tx = conn.execute(
        sql.SQL(
            "SELECT text, tag, score FROM mediatag_data.{} WHERE dataset_id = mediatag.dataset_id(%s) "
            "ORDER BY score DESC"
        ).format(sql.Identifier(f"dt_{slug}_transcript")),
        (video_dataset,),
    ).fetchall()
    assert len(tx) == 3 * 3
    # Every tag scores every segment on transcripts.
    assert sorted(r[1] for r in tx) == sorted(["dog", "pizza", "person"] * 3)
    assert all(0 <= r[2] <= 1 for r in tx)


def test_viewer_cannot_apply(client, logins, group, video_dataset):
    client.publish_tag_group(group, visibility="shareable")
    with psycopg.connect(logins["viewer"]) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="mediatag_editor"):
            c.execute("SELECT mediatag.apply_tag_group(%s, %s)", (group, video_dataset))


def test_new_assets_get_scored_automatically(client, conn, db_url, coco_files, media_dir, group):
    from mediatag.ingest import IngestOptions, ingest

    ds = unique("grow")
    with connect(db_url) as c:
        ingest(c, ds, coco_files[50:54], IngestOptions(progress=False, media_dir=media_dir))
    g2 = unique("Grow")
    client.create_tag_group(ds, g2, ["car"])
    client.publish_tag_group(g2)
    client.run_jobs()
    with connect(db_url) as c:
        s = ingest(c, ds, coco_files[54:57], IngestOptions(progress=False, media_dir=media_dir))
    assert s.scoring_jobs == 1
    assert client.tag_group_status(g2)[0]["status"] == "queued"
    client.run_jobs()
    slug = _slug(conn, g2)
    n = conn.execute(sql.SQL("SELECT count(*) FROM mediatag_data.{}").format(sql.Identifier(f"dt_{slug}_visual")))
    assert n.fetchone()[0] == 7


def test_worker_killed_mid_scoring_keeps_old_table_and_retries(client, conn, db_url, group):
    client.publish_tag_group(group)
    client.run_jobs()
    slug = _slug(conn, group)
    table = sql.Identifier(f"dt_{slug}_visual")
    client.add_prompt(group, "pizza", "a slice of pizza")
    client.publish_tag_group(group)  # v2 queued

    killed = threading.Event()

    def doomed_worker():
        with psycopg.connect(db_url, autocommit=True) as w:
            w.execute("SET mediatag.fault_delay_before_swap = '30'")
            try:
                w.execute("CALL mediatag.run_jobs(1, 'doomed', NULL)")
            except psycopg.OperationalError:
                killed.set()

    t = threading.Thread(target=doomed_worker)
    t.start()
    with psycopg.connect(db_url, autocommit=True) as spy:
        for _ in range(200):
            pid = spy.execute(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL mediatag.run_jobs(1, ''doomed''%%' "
                "AND wait_event = 'PgSleep'"
            ).fetchone()
            if pid:
                break
            time.sleep(0.1)
        assert pid, "the doomed worker reached the swap"
        # While the new version is being built, the old one stays readable.
        versions = spy.execute(sql.SQL("SELECT DISTINCT version FROM mediatag_data.{}").format(table)).fetchall()
        assert versions == [(1,)]
        spy.execute("SELECT pg_terminate_backend(%s)", (pid[0],))
    t.join(10)
    assert killed.is_set()
    job = conn.execute(
        "SELECT state, attempts FROM mediatag.job WHERE kind = 'score_group' AND worker = 'doomed' "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert job == ("running", 1)
    assert conn.execute(sql.SQL("SELECT DISTINCT version FROM mediatag_data.{}").format(table)).fetchall() == [(1,)]
    conn.rollback()
    assert client.run_jobs() >= 1  # the orphaned job is picked up again
    st = client.tag_group_status(group)[0]
    assert st["status"] == "scored" and st["scored_version"] == 2
    assert conn.execute(sql.SQL("SELECT DISTINCT version FROM mediatag_data.{}").format(table)).fetchall() == [(2,)]


def test_two_people_labeling_at_once_lose_nothing(client, conn, db_url, coco_dataset, group):
    kf = list(keyframes_by_file(conn, coco_dataset).values())
    halves = (kf[:20], kf[20:40])
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def label(ids: list[int], value: bool) -> None:
        try:
            with connect(db_url) as c:
                barrier.wait()
                for k in ids:
                    c.execute("SELECT mediatag.label_keyframes(%s, 'person', %s, %s)", (group, [k], value))
                    c.commit()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [
        threading.Thread(target=label, args=(halves[0], True)),
        threading.Thread(target=label, args=(halves[1], False)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    o = {r["tag"]: r for r in client.group_overview(group)}["person"]
    assert o["labels_yes"] == 20 and o["labels_no"] == 20
    versions = conn.execute(
        "SELECT count(*), count(DISTINCT version) FROM mediatag.classifier c JOIN mediatag.tag t "
        "ON t.id = c.tag_id JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s "
        "AND t.name = 'person' AND c.modality = 'visual'",
        (group,),
    ).fetchone()
    assert versions == (41, 41)


def test_rename_tag(client, group):
    client.rename_tag(group, "person", "people")
    o = client.group_overview(group)
    assert [r["tag"] for r in o] == ["dog", "pizza", "people"]
    assert o[2]["visual_positive"] == ["people"]
    with pytest.raises(Exception, match="already has a tag"):
        client.rename_tag(group, "people", "DOG")
    with pytest.raises(Exception, match="invalid tag name"):
        client.rename_tag(group, "people", "people!")


def test_drop_dataset_drops_derived_tables(client, conn, db_url, coco_files, media_dir):
    from mediatag.ingest import IngestOptions, ingest

    ds = unique("doomed")
    with connect(db_url) as c:
        ingest(c, ds, coco_files[62:64], IngestOptions(progress=False, media_dir=media_dir))
    g = unique("Doomed")
    client.create_tag_group(ds, g, ["dog"])
    client.publish_tag_group(g)
    client.run_jobs()
    slug = _slug(conn, g)
    assert conn.execute("SELECT to_regclass(%s)", (f"mediatag_data.dt_{slug}_visual",)).fetchone()[0]
    client.drop_dataset(ds)
    assert conn.execute("SELECT to_regclass(%s)", (f"mediatag_data.dt_{slug}_visual",)).fetchone()[0] is None
    assert conn.execute("SELECT count(*) FROM mediatag.tag_group WHERE name = %s", (g,)).fetchone()[0] == 0
    with pytest.raises(Exception, match=f'unknown dataset "{ds}"'):
        client.drop_dataset(ds)


def test_uncertain_after_publish_draws_on_the_score_table(client, conn, group):
    client.publish_tag_group(group)
    client.run_jobs()
    rows = client.uncertain_keyframes(group, "dog", k=5)
    assert len(rows) == 5 and len({r["keyframe_id"] for r in rows}) == 5
    boundary = conn.execute(
        "SELECT count(*) FROM mediatag._scored_boundary((SELECT g FROM mediatag.tag_group g WHERE g.name = %s),"
        " (SELECT t FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s AND "
        "t.name = 'dog'), 7)",
        (group, group),
    ).fetchone()[0]
    assert boundary == 7


def _latest_visual_summary(conn, group: str, tag: str) -> dict:
    return conn.execute(
        "SELECT c.summary FROM mediatag.classifier c JOIN mediatag.tag t ON t.id = c.tag_id "
        "JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s AND t.name = %s AND c.modality = 'visual' "
        "ORDER BY c.version DESC LIMIT 1",
        (group, tag),
    ).fetchone()[0]


def test_prompt_only_tags_use_the_shipped_model_calibration(client, conn, coco_dataset):
    group = unique("Shipped")
    client.create_tag_group(coco_dataset, group, ["dog"])
    s = _latest_visual_summary(conn, group, "dog")
    assert s["calibration"] == "model"
    assert "samples/coco64" in s["model_calibration"]["source"]  # fitted on photos outside the repo's samples
    assert s["model_calibration"]["temperature"] > 0
    # 0.5 sits at the count-matching cut: the flagged share of the sample is the expected prevalence.
    assert s["sample_frac_above_half"] == pytest.approx(s["expected_prevalence"], abs=1.5 / s["n_sample"])


def test_model_calibration_from_labeled_photos(client, conn, coco_dataset, labels):
    kf = keyframes_by_file(conn, coco_dataset)
    counts: dict[str, int] = {}
    for f in kf:
        for c in labels[f]:
            counts[c] = counts.get(c, 0) + 1
    classes = sorted(c for c, n in counts.items() if n >= 3)[:6]
    assert len(classes) >= 3
    group = unique("Generic")
    client.create_tag_group(coco_dataset, group, classes)
    for c in classes:
        for value in (True, False):
            ids = [i for f, i in kf.items() if (c in labels[f]) == value]
            client.label_keyframes(group, c, ids, value, origin="import")
    model = conn.execute("SELECT visual_model FROM mediatag.dataset WHERE name = %s", (coco_dataset,)).fetchone()[0]
    try:
        fit = client.fit_model_calibration(group, save=False)
        assert fit["model"] == model and fit["tags"] == len(classes) and fit["pairs"] == len(classes) * len(kf)
        assert fit["temperature"] > 0
        n_stored = conn.execute("SELECT count(*) FROM mediatag.model_calibration WHERE model = %s", (model,))
        assert n_stored.fetchone()[0] == 0
        stored = client.fit_model_calibration(group)
        row = conn.execute(
            "SELECT temperature, bias, tail, source FROM mediatag.model_calibration WHERE model = %s", (model,)
        ).fetchone()
        assert row[0] == pytest.approx(stored["temperature"]) and row[1] == pytest.approx(stored["bias"])
        assert group in row[3]
        # A prompt-only tag trained now uses the stored calibration instead of the shipped one.
        other = unique("UsesStored")
        client.create_tag_group(coco_dataset, other, ["cat"])
        s = _latest_visual_summary(conn, other, "cat")
        assert s["model_calibration"]["temperature"] == pytest.approx(stored["temperature"])
        assert group in s["model_calibration"]["source"]
    finally:
        assert conn.execute("SELECT mediatag.reset_model_calibration(%s)", (model,)).fetchone()[0] in (True, False)
    client.retrain(other)
    assert "samples/coco64" in _latest_visual_summary(conn, other, "cat")["model_calibration"]["source"]
    with pytest.raises(Exception, match="no tag with a visual prompt and at least 3 positive"):
        client.fit_model_calibration(other, save=False)


def test_calibration_sample_is_random_not_the_oldest(conn, coco_dataset):
    # The training reads 2,000 rows of the dataset's random sample ordered by a hash of the id; on a sample
    # larger than that, the picks must not be the lowest ids.
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT keyframe_id FROM mediatag.keyframe_sample WHERE dataset_id = mediatag.dataset_id(%s) "
            "ORDER BY hashint8(keyframe_id), keyframe_id LIMIT 10",
            (coco_dataset,),
        )
    ]
    assert len(ids) == 10 and ids != sorted(ids)
