"""Concepts end to end through SQL and the SDK, on real photos with the real offline model: create, label
(yes / no / skip, who and when), import labels, example images, versions, continue_labeling, scores in SQL."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from mediatag.db import connect

from .conftest import keyframes_by_file, unique


def _asset_files(conn, dataset: str) -> dict[str, int]:
    """original file name → asset id"""
    rows = conn.execute(
        "SELECT a.path, a.id FROM mediatag.asset a WHERE a.dataset_id = mediatag.dataset_id(%s)", (dataset,)
    ).fetchall()
    return {Path(p).name: i for p, i in rows}


@pytest.fixture
def concept(client, coco_dataset) -> str:
    name = unique("dogs")
    client.create_concept(coco_dataset, name, "a photo of a dog")
    return name


def test_create_concept_trains_version_one_from_the_description(client, coco_dataset, concept):
    rows = {r["name"]: r for r in client.list_concepts(coco_dataset)}
    c = rows[concept]
    assert c["version"] == 1 and c["applied_version"] == 1 and c["dataset"] == coco_dataset
    assert c["training_summary"]["prior"] == "description" and c["training_summary"]["kind"] == "zero_shot"
    assert c["labels_yes"] == 0 and c["examples"] == 0
    # The description is calibrated like a tag's prompt: with the model's shipped calibration, not the EM fit.
    assert c["training_summary"]["prior_summary"]["calibration"] == "model"


def test_concept_names_are_unique_ignoring_case(client, coco_dataset, video_dataset, concept):
    with pytest.raises(Exception, match="already exists"):
        client.create_concept(video_dataset, concept.upper())
    with pytest.raises(Exception, match="invalid concept name"):
        client.create_concept(coco_dataset, "   ")


def test_unknown_concept_and_dataset(client, coco_dataset):
    with pytest.raises(Exception, match='unknown concept "no_such_concept"'):
        client.concept_scores("no_such_concept")
    with pytest.raises(Exception, match='unknown concept "no_such_concept"'):
        client.label_concept("no_such_concept", [1], "yes")
    with pytest.raises(Exception, match='unknown dataset "no_such_dataset"'):
        client.create_concept("no_such_dataset", unique("x"))


def test_labels_version_and_record_who_and_when(client, conn, coco_dataset, labels, concept):
    kf = keyframes_by_file(conn, coco_dataset)
    dogs = [kf[f] for f in kf if "dog" in labels[f]]
    others = [kf[f] for f in kf if "dog" not in labels[f]]
    assert client.label_concept(concept, dogs, "yes") == 2
    assert client.label_concept(concept, others[:8], "no") == 3
    assert client.label_concept(concept, others[8:10], "skip") == 4
    who = conn.execute("SELECT session_user").fetchone()[0]
    rows = client.concept_labels(concept)
    assert {r["label"] for r in rows} == {"yes", "no", "skip"} and len(rows) == len(dogs) + 10
    assert all(r["labeled_by"] == who and r["labeled_at"] is not None for r in rows)
    versions = client.concept_versions(concept)
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert versions[-1]["in_use"] and versions[-1]["kind"] == "labels"
    assert versions[-1]["labels_yes"] == len(dogs) and versions[-1]["labels_no"] == 8  # skips do not train
    scores = {r["keyframe_id"]: r["score"] for r in client.concept_scores(concept)}
    assert len(scores) == len(kf)
    assert min(scores[k] for k in dogs) > max(scores[k] for k in others[:8])
    with pytest.raises(Exception, match='invalid concept label value "maybe": use yes, no or skip'):
        client.label_concept(concept, dogs[:1], "maybe")
    with pytest.raises(Exception, match="unknown keyframe"):
        client.label_concept(concept, [10**12], "yes")
    with pytest.raises(Exception, match="no keyframes given"):
        client.label_concept(concept, [], "yes")


def test_labels_for_keyframes_of_another_dataset_are_refused(client, conn, concept, video_dataset):
    other = conn.execute(
        "SELECT k.id FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s) LIMIT 1", (video_dataset,)
    ).fetchone()[0]
    with pytest.raises(Exception, match=f'keyframe {other} belongs to dataset "{video_dataset}"'):
        client.label_concept(concept, [other], "yes")
    assert client.concept_labels(concept) == []


def test_only_positive_labels_train_against_background_and_say_so(client, conn, coco_dataset, labels):
    name = unique("blue_uniform2")  # no description: the name means nothing to the model
    client.create_concept(coco_dataset, name)
    first = client.list_concepts(coco_dataset)
    assert next(r for r in first if r["name"] == name)["training_summary"]["kind"] == "flat"
    kf = keyframes_by_file(conn, coco_dataset)
    people = [kf[f] for f in kf if "person" in labels[f]]
    client.label_concept(name, people[:6], "yes")
    s = client.concept_versions(name)[-1]["summary"]
    assert s["kind"] == "positives_vs_background" and s["n_background"] > 0
    assert any("only positive labels" in n for n in s["notes"])
    scores = {r["keyframe_id"]: r["score"] for r in client.concept_scores(name)}
    rest_people = [scores[k] for k in people[6:]]
    non_people = [scores[k] for f, k in kf.items() if "person" not in labels[f]]
    # The unlabeled people rank above the non-people on average: the positives taught something.
    assert sum(rest_people) / len(rest_people) > sum(non_people) / len(non_people)


def test_only_negative_labels_train_and_say_so(client, conn, coco_dataset, labels, concept):
    kf = keyframes_by_file(conn, coco_dataset)
    others = [kf[f] for f in kf if "dog" not in labels[f]]
    before = {r["keyframe_id"]: r["score"] for r in client.concept_scores(concept)}
    client.label_concept(concept, others[:5], "no")
    s = client.concept_versions(concept)[-1]["summary"]
    assert s["kind"] == "negatives_only" and any("only negative labels" in n for n in s["notes"])
    after = {r["keyframe_id"]: r["score"] for r in client.concept_scores(concept)}
    assert all(after[k] <= before[k] + 1e-6 for k in others[:5])

    bare = unique("nothing_known")
    client.create_concept(coco_dataset, bare)
    client.label_concept(bare, others[:3], "no")
    notes = client.concept_versions(bare)[-1]["summary"]["notes"]
    assert any("nothing says what the concept looks like" in n for n in notes)


def test_two_people_labeling_at_once_lose_no_label(db_url, client, conn, coco_dataset, concept):
    kf = sorted(keyframes_by_file(conn, coco_dataset).values())
    halves = (kf[0:20:2], kf[1:20:2])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def person(ids: list[int], label: str) -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                barrier.wait()
                for i in ids:  # one label per call: the two sessions interleave and contend on the concept
                    c.execute(
                        "SELECT mediatag.label_concept(concept => %s, keyframes => %s, label => %s)",
                        (concept, [i], label),
                    )
        except BaseException as e:  # noqa: BLE001 — reported by the main thread
            errors.append(e)

    threads = [
        threading.Thread(target=person, args=(halves[0], "yes")),
        threading.Thread(target=person, args=(halves[1], "no")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    got = {r["keyframe_id"]: r["label"] for r in client.concept_labels(concept)}
    assert got == {**{i: "yes" for i in halves[0]}, **{i: "no" for i in halves[1]}}
    versions = client.concept_versions(concept)
    assert [v["version"] for v in versions] == list(range(1, 22))  # one version per call, no number reused
    assert versions[-1]["labels_yes"] == 10 and versions[-1]["labels_no"] == 10  # the last one saw every label


def test_continue_labeling_is_unlabeled_diverse_and_explores_early(client, conn, coco_dataset, labels, concept):
    kf = keyframes_by_file(conn, coco_dataset)
    dogs = [kf[f] for f in kf if "dog" in labels[f]]
    client.label_concept(concept, dogs[:2], "yes")
    client.label_concept(concept, [kf[f] for f in kf if "dog" not in labels[f]][:2], "skip")
    labeled = {r["keyframe_id"] for r in client.concept_labels(concept)}
    rows = client.continue_labeling(concept, n=12)
    ids = [r["keyframe_id"] for r in rows]
    assert len(ids) == 12 and len(set(ids)) == 12 and not set(ids) & labeled
    reasons = {r["reason"] for r in rows}
    assert reasons == {"uncertain", "explore"}, reasons  # 2 labels: part of the batch explores
    # Labeling the batch and asking again never repeats a keyframe.
    client.label_concept(concept, ids, "no")
    again = [r["keyframe_id"] for r in client.continue_labeling(concept, n=12)]
    assert not set(again) & (labeled | set(ids))
    with pytest.raises(Exception, match="n must be between 1 and 200"):
        client.continue_labeling(concept, n=0)


def test_continue_labeling_skips_near_duplicates(db_url, client, conn, coco_files, tmp_copy, media_dir):
    from mediatag.ingest import IngestOptions, ingest

    name = unique("dups")
    files = [tmp_copy(f) for f in coco_files[:10]]
    dup = tmp_copy(coco_files[0], "copy_of_first.png")  # same picture, other bytes
    from PIL import Image

    Image.open(coco_files[0]).save(dup)
    with connect(db_url) as c:
        ingest(c, name, [*files, dup], IngestOptions(progress=False, media_dir=media_dir))
    kf = keyframes_by_file(conn, name)
    concept = unique("dup_concept")
    client.create_concept(name, concept, "a photo")
    first = kf[coco_files[0].name]
    client.label_concept(concept, [first], "yes")
    picks = {r["keyframe_id"] for r in client.continue_labeling(concept, n=10)}
    assert kf["copy_of_first.png"] not in picks, "a near-duplicate of a labeled keyframe was proposed"
    assert len(picks) == 9  # all the rest


def test_import_labels_by_file_name_asset_id_and_csv(client, conn, coco_dataset, labels, concept, tmp_path):
    assets = _asset_files(conn, coco_dataset)
    files = sorted(assets)
    rows = client.import_concept_labels(concept, [files[0], str(assets[files[1]])], ["yes", "no"])
    assert [(r["item"], r["label"], r["keyframes"]) for r in rows] == [
        (files[0], "yes", 1),
        (str(assets[files[1]]), "no", 1),
    ]
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,label\n" + "".join(f"{f},{'yes' if 'dog' in labels[f] else 'no'}\n" for f in files[2:12]))
    rows = client.import_concept_labels_csv(concept, csv_path)
    assert len(rows) == 10
    got = {Path(r["path"]).name: r for r in client.concept_labels(concept)}
    assert all(got[f]["origin"] == "import" for f in files[2:12])
    assert got[files[1]]["label"] == "no"
    with pytest.raises(Exception, match=r"1 of 2 rows match no asset .*row 2: 'no_such_file.jpg'"):
        client.import_concept_labels(concept, [files[0], "no_such_file.jpg"], ["yes", "yes"])
    bad = tmp_path / "bad.csv"
    bad.write_text("file,verdict\nx.jpg,yes\n")
    with pytest.raises(ValueError, match="label column"):
        client.import_concept_labels_csv(concept, bad)


def test_example_images_are_positives(client, conn, coco_dataset, labels, coco_files):
    name = unique("examples")
    client.create_concept(coco_dataset, name)
    outside = [f for f in coco_files[48:] if "dog" in labels[f.name]] or coco_files[48:50]
    v = client.add_concept_examples(name, outside)
    s = client.concept_versions(name)[-1]["summary"]
    assert v == 2 and s["n_examples"] == len(outside) and s["prior"] == "positives_direction"
    row = next(r for r in client.list_concepts(coco_dataset) if r["name"] == name)
    assert row["examples"] == len(outside)


def test_unreadable_or_non_image_upload(client, concept, tmp_path):
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("this is not an image")
    with pytest.raises(Exception, match=r"refused /embed/image: .*notes\.jpg.*not a readable image"):
        client.add_concept_examples(concept, [text_file])
    with pytest.raises(Exception, match=r"refused /embed/image: .*missing\.jpg"):
        client.add_concept_examples(concept, [tmp_path / "missing.jpg"])
    with pytest.raises(Exception, match=r"refused /embed/image: .*notes\.jpg"):
        client.rows("score_images", concept=concept, paths=[str(text_file)])
    with pytest.raises(FileNotFoundError):
        client.score_image(concept, tmp_path / "missing.jpg")
    assert client.concept_versions(concept)[-1]["summary"]["n_examples"] == 0


def test_score_image_matches_concept_scores(client, conn, coco_dataset, coco_files, concept):
    kf = keyframes_by_file(conn, coco_dataset)
    f = coco_files[0]
    got = client.score_image(concept, f)
    stored = {r["keyframe_id"]: r for r in client.concept_scores(concept)}[kf[f.name]]
    # The keyframe holds a halfvec of (a possibly resized copy of) the file: the same score to a few decimals.
    assert got["score"] == pytest.approx(stored["score"], abs=0.02)
    assert got["version"] == 1 and got["decision"] == (got["score"] >= 0.5)


def test_concept_scores_in_joins_and_where(client, conn, coco_dataset, labels, concept):
    kf = keyframes_by_file(conn, coco_dataset)
    client.label_concept(concept, [kf[f] for f in kf if "dog" in labels[f]], "yes")
    client.label_concept(concept, [kf[f] for f in kf if "dog" not in labels[f]][:10], "no")
    n = conn.execute(
        "SELECT count(*) FROM mediatag.concept_scores(concept => %s) s WHERE s.decision", (concept,)
    ).fetchone()[0]
    joined = conn.execute(
        "SELECT count(DISTINCT t.asset_id) FROM mediatag.coactive_table t "
        "JOIN mediatag.concept_scores(concept => %s) s ON s.keyframe_id = t.keyframe_id "
        "WHERE s.score >= 0.5 AND t.dataset = %s",
        (concept, coco_dataset),
    ).fetchone()[0]
    assert n == joined and 0 < n < len(kf)
    top = client.concept_top(concept, n=3)
    assert len(top) == 3 and top[0]["score"] >= top[1]["score"] >= top[2]["score"]
    best = max(r["score"] for r in client.concept_scores(concept))
    assert top[0]["score"] == pytest.approx(best)


def test_versions_pin_and_follow(client, conn, coco_dataset, concept):
    kf = sorted(keyframes_by_file(conn, coco_dataset).values())
    client.label_concept(concept, kf[:2], "yes")
    assert client.apply_concept(concept, 1) == 1
    client.label_concept(concept, kf[2:4], "no")  # version 3, not in use while pinned
    v1 = {r["keyframe_id"]: r["score"] for r in client.concept_scores(concept, version=1)}
    used = {r["keyframe_id"]: r["score"] for r in client.concept_scores(concept)}
    assert used == v1
    assert [v["in_use"] for v in client.concept_versions(concept)] == [True, False, False]
    assert client.apply_concept(concept) == 3
    with pytest.raises(Exception, match="has no classifier version 9"):
        client.apply_concept(concept, 9)


def test_new_ingests_are_scored_without_a_job(db_url, client, coco_files, media_dir):
    from mediatag.ingest import IngestOptions, ingest

    name = unique("growing")
    with connect(db_url) as c:
        ingest(c, name, coco_files[:5], IngestOptions(progress=False, media_dir=media_dir))
    concept = unique("grow")
    client.create_concept(name, concept, "a photo of food")
    assert len(client.concept_scores(concept)) == 5
    with connect(db_url) as c:
        ingest(c, name, coco_files[5:8], IngestOptions(progress=False, media_dir=media_dir))
    assert len(client.concept_scores(concept)) == 8


def test_cli_concept_workflow(db_url, service, coco_dataset, labels, conn, tmp_path, monkeypatch, capsys):
    import json

    from mediatag.cli import main

    monkeypatch.setenv("MEDIATAG_DATABASE_URL", db_url)
    name = unique("cli_dogs")
    assert main(["concepts", "create", coco_dataset, name, "--description", "a dog"]) == 0
    files = sorted(_asset_files(conn, coco_dataset))
    csv_path = tmp_path / "l.csv"
    csv_path.write_text("".join(f"{f},{'yes' if 'dog' in labels[f] else 'no'}\n" for f in files[:6]))  # no header
    assert main(["concepts", "import", name, str(csv_path)]) == 0
    capsys.readouterr()
    assert main(["concepts", "next", name, "-n", "4", "--json"]) == 0
    picks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(picks) == 4
    assert main(["search", coco_dataset, "a dog", "-k", "3", "--concept", name]) == 0
    assert main(["concepts", "label", name, "yes", str(10**12)]) == 2
    assert "unknown keyframe" in capsys.readouterr().err
