"""Person tags and person concepts (issue 27) on real face photos of the shared LFW subset: a "Celebrities" group
whose tags are people (from a named cluster and from uploaded example photos) published, scored into dt_* and
applied to a dataset of other photos; a person concept from 5 faces; search by an uploaded photo (SDK and CLI);
the faces back-fill as a queued job; and the role rules over TCP."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest

from mediatag.db import connect
from mediatag.faces import jobs as face_jobs
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique
from .facephotos import MISSING, lfw_photos
from .test_faces import _center_faces

CELEBS = {
    "Colin_Powell": "Colin Powell",
    "Serena_Williams": "Serena Williams",
    "Junichiro_Koizumi": "Junichiro Koizumi",
}
OTHERS = ["Hugo_Chavez", "Gloria_Macapagal_Arroyo"]
TRAIN, APPLY, UPLOAD = slice(0, 5), slice(5, 10), slice(10, 15)  # each person's photos: who gets which

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def _photos() -> dict[str, list[Path]]:
    return lfw_photos([*CELEBS, *OTHERS], per_person=None)  # all of them


def _ingest(db_url: str, name: str, files: list[Path], media_dir: Path, faces: bool = True) -> None:
    with connect(db_url) as c:
        s = ingest(c, name, files, IngestOptions(progress=False, media_dir=media_dir, faces=faces))
    assert s.ingested == len(files), s.render()


@pytest.fixture(scope="module")
def celeb_data(db_url: str, service: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two datasets with faces on: `train` (5 photos of each celebrity and of each other person) and `applied`
    (5 other photos of each); a photo's person by its file name; 5 more photos per celebrity never ingested."""
    photos = _photos()
    train, applied = unique("celebs_train"), unique("celebs_applied")
    _ingest(db_url, train, [p for ps in photos.values() for p in ps[TRAIN]], tmp_path_factory.mktemp("kf_train"))
    _ingest(db_url, applied, [p for ps in photos.values() for p in ps[APPLY]], tmp_path_factory.mktemp("kf_applied"))
    truth = {p.name: person for person, ps in photos.items() for p in ps}
    return {"train": train, "applied": applied, "truth": truth, "upload": {c: photos[c][UPLOAD] for c in CELEBS}}


def _keyframe_people(conn: psycopg.Connection, dataset: str, truth: dict[str, str]) -> dict[int, str]:
    """keyframe id → the person the photo is of."""
    rows = conn.execute(
        "SELECT k.id, a.path FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id"
        " WHERE k.dataset_id = mediatag.dataset_id(%s)",
        (dataset,),
    )
    return {k: truth[Path(p).name] for k, p in rows}


def _cluster_of(conn: psycopg.Connection, dataset: str, truth: dict[str, str], who: str) -> int:
    """The person (cluster) holding most faces of `who`'s photos."""
    rows = conn.execute(
        "SELECT f.person_id, a.path FROM mediatag.faces(%s) f JOIN mediatag.asset a ON a.id = f.asset_id"
        " WHERE f.person_id IS NOT NULL",
        (dataset,),
    )
    votes: dict[int, int] = defaultdict(int)
    for pid, path in rows:
        votes[pid] += truth[Path(path).name] == who
    return max(votes, key=votes.__getitem__)


def _rates(conn: psycopg.Connection, view: str, dataset: str, people: dict[int, str]) -> dict[str, tuple[float, float]]:
    """Per tag: the share of its person's keyframes above threshold, and the share of everyone else's."""
    out = {}
    rows = conn.execute(
        f"SELECT tag, keyframe_id, threshold_decision FROM mediatag_data.{view}"  # noqa: S608 — a generated name
        " WHERE dataset_id = mediatag.dataset_id(%s)",
        (dataset,),
    ).fetchall()
    for lfw, tag in CELEBS.items():
        mine = [d for t, k, d in rows if t == tag and people[k] == lfw]
        rest = [d for t, k, d in rows if t == tag and people[k] != lfw]
        out[tag] = (sum(mine) / len(mine), sum(rest) / len(rest))
    return out


def test_celebrities_group_publishes_scores_and_applies(conn: psycopg.Connection, client, celeb_data: dict):
    train, applied, truth = celeb_data["train"], celeb_data["applied"], celeb_data["truth"]
    group = unique("Celebrities")
    conn.execute("SELECT mediatag.create_tag_group(%s, %s, %s::text[])", (train, group, list(CELEBS.values())))
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone()[0]
    # Colin Powell and Serena Williams from their named clusters
    clusters = {}
    for lfw in ("Colin_Powell", "Serena_Williams"):
        pid = clusters[lfw] = _cluster_of(conn, train, truth, lfw)
        conn.execute("SELECT mediatag.name_person(%s, %s)", (pid, CELEBS[lfw]))
        n = conn.execute("SELECT mediatag.add_face_examples(%s, %s, person => %s)", (group, CELEBS[lfw], pid))
        assert n.fetchone()[0] >= 4
    # Junichiro Koizumi from 5 uploaded photos (faces found by the SDK; the photos are in no dataset)
    assert client.add_face_example_photos(group, "Junichiro Koizumi", celeb_data["upload"]["Junichiro_Koizumi"]) == 5
    examples = client.face_examples(tag_group=group, tag="Junichiro Koizumi")
    assert [e["face_id"] for e in examples] == [None] * 5 and examples[0]["source"].endswith(".jpg")
    # the overview shows the classifier that scores the keyframes: the face one, with its exemplars
    face_cls = conn.execute(
        "SELECT training_summary FROM mediatag.group_overview(%s) WHERE tag = 'Junichiro Koizumi'", (group,)
    ).fetchone()[0]
    assert face_cls["kind"] == "face" and face_cls["exemplars"] == 5 and face_cls["from_photos"] == 5
    assert face_cls["max_distance"] == pytest.approx(0.6)
    # the preview (the tag page) shows his photos as positives, everyone else's as negatives
    train_people = _keyframe_people(conn, train, truth)
    preview = conn.execute(
        "SELECT side, keyframe_id FROM mediatag.preview(%s, 'Junichiro Koizumi', n => 50)", (group,)
    ).fetchall()
    positives = [train_people[k] for side, k in preview if side == "positive"]
    negatives = [train_people[k] for side, k in preview if side == "negative"]
    assert len(positives) >= 4 and set(positives) == {"Junichiro_Koizumi"} and "Junichiro_Koizumi" not in negatives

    conn.execute("SELECT mediatag.publish_tag_group(%s, visibility => 'shareable')", (group,))
    result = conn.execute("SELECT mediatag.score_tag_group(%s)", (group,)).fetchone()[0]
    assert result["keyframes"] == len(_keyframe_people(conn, train, truth))
    status = conn.execute("SELECT status, scored_version FROM mediatag.tag_group_status(%s)", (group,)).fetchone()
    assert status == ("scored", 1)
    people = _keyframe_people(conn, train, truth)
    for tag, (hit, false_alarm) in _rates(conn, f"dt_{slug}_visual", train, people).items():
        assert hit >= 0.8 and false_alarm <= 0.05, (tag, hit, false_alarm)
    # the image level (dt_*_video) follows its keyframe; every score is a calibrated 0..1
    low, high = conn.execute(f"SELECT min(score), max(score) FROM mediatag_data.dt_{slug}_video").fetchone()
    assert 0 <= low < 0.1 and 0.9 < high <= 1

    # applied to another dataset: the tags carry their exemplars, not the training dataset's person ids
    conn.execute("SELECT mediatag.apply_tag_group(%s, %s)", (group, applied))
    conn.execute("SELECT mediatag.score_tag_group(%s, %s)", (group, applied))
    people_b = _keyframe_people(conn, applied, truth)
    rates_b = _rates(conn, f"dt_{slug}_visual", applied, people_b)
    for tag, (hit, false_alarm) in rates_b.items():
        assert hit >= 0.8 and false_alarm <= 0.05, (tag, hit, false_alarm)
    status = dict(conn.execute("SELECT dataset, status FROM mediatag.tag_group_status(%s)", (group,)).fetchall())
    assert status == {train: "scored", applied: "scored"}

    # thresholds: a live setting, threshold_decision follows
    conn.execute("SELECT mediatag.set_threshold(%s, 'Colin Powell', 0.999)", (group,))
    strict = _rates(conn, f"dt_{slug}_visual", applied, people_b)["Colin Powell"]
    assert strict[0] <= rates_b["Colin Powell"][0] and strict[1] == 0
    conn.execute("SELECT mediatag.set_threshold(%s, 'Colin Powell', 0.5)", (group,))

    # search filtered by a person tag keeps that person's photos only
    found = client.search(dataset=applied, query="a person", tags=[f"{group}:Serena Williams"], k=50)
    assert found and {people_b[r["keyframe_id"]] for r in found} == {"Serena_Williams"}

    # the asset page's scores and an evaluation both score with the face classifier
    serena_asset = next(
        a for a, p in conn.execute(
            "SELECT id, path FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)", (applied,)
        ) if truth[Path(p).name] == "Serena_Williams"
    )  # fmt: skip
    scores = {r["name"]: r for r in client.asset_scores(asset=serena_asset) if r["tag_group"] == group}
    assert scores["Serena Williams"]["decision"] and not scores["Colin Powell"]["decision"]
    ev = conn.execute("SELECT mediatag.start_evaluation(%s, 'Serena Williams', %s, size => 10)", (group, applied))
    buckets = conn.execute("SELECT bucket_population FROM mediatag.evaluation WHERE id = %s", (ev.fetchone()[0],))
    population = buckets.fetchone()[0]
    assert sum(population) == len(people_b) and population[9] >= 4 and population[0] >= len(people_b) - 8

    # back to a prompt tag: the examples go, the next version scores by prompts again
    assert conn.execute("SELECT mediatag.remove_face_examples(%s, 'Serena Williams')", (group,)).fetchone()[0] > 0
    kind = conn.execute(
        "SELECT c.modality FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id"
        " CROSS JOIN LATERAL mediatag._keyframe_classifier(t.id) c WHERE g.name = %s AND t.name = 'Serena Williams'",
        (group,),
    ).fetchone()[0]
    assert kind == "visual"

    # forgetting a person takes every published copy of their descriptors with it (the privacy request)
    colin = clusters["Colin_Powell"]
    faces = [f for (f,) in conn.execute("SELECT id FROM mediatag.face WHERE person_id = %s", (colin,))]
    copies = "SELECT count(*) FROM mediatag.face_exemplar WHERE face_id = ANY(%s)"
    assert conn.execute(copies, (faces,)).fetchone()[0] >= 4
    conn.execute("SELECT mediatag.forget_person(%s)", (colin,))
    assert conn.execute(copies, (faces,)).fetchone()[0] == 0


def test_person_concept_from_five_faces_ranks_their_other_photos_first(conn: psycopg.Connection, celeb_data: dict):
    train, applied, truth = celeb_data["train"], celeb_data["applied"], celeb_data["truth"]
    people = _keyframe_people(conn, applied, truth)
    # five faces of Hugo Chavez (a person of no tag) in the training dataset's photos teach a concept on the other
    # dataset, where five other photos of his are
    picked = sorted(f for f, file in _center_faces(conn, train).items() if truth[file] == "Hugo_Chavez")
    assert len(picked) == 5
    concept = unique("Hugo Chavez person")
    conn.execute("SELECT mediatag.create_concept(%s, %s)", (applied, concept))
    version = conn.execute("SELECT mediatag.add_concept_faces(%s, faces => %s)", (concept, picked)).fetchone()[0]
    assert version >= 2
    listed = conn.execute("SELECT version, kind FROM mediatag.concept_versions(%s)", (concept,)).fetchall()
    assert listed[-1] == (version, "face")
    scores = conn.execute("SELECT keyframe_id, score, decision FROM mediatag.concept_scores(%s)", (concept,)).fetchall()
    ranked = [k for k, _, _ in sorted(scores, key=lambda r: -r[1])]
    mine = {k for k, p in people.items() if p == "Hugo_Chavez"}
    assert len(set(ranked[: len(mine)]) & mine) >= 0.8 * len(mine)  # that person's photos first
    decided = {k for k, _, d in scores if d}
    assert len(decided & mine) >= 0.8 * len(mine) and not decided - mine
    # photos only: no video segments; an image embedding is no face, and says so
    assert conn.execute("SELECT count(*) FROM mediatag.concept_segments(%s)", (concept,)).fetchone()[0] == 0
    with pytest.raises(psycopg.errors.WrongObjectType, match="person concept"):
        conn.execute("SELECT * FROM mediatag.score_embedding(%s, array_fill(0.1, ARRAY[8])::vector)", (concept,))
    top = conn.execute("SELECT keyframe_id FROM mediatag.concept_top(%s, 3)", (concept,)).fetchall()
    assert {k for (k,) in top} <= mine
    # filtering a search by the concept keeps that person
    hits = conn.execute(
        "SELECT keyframe_id FROM mediatag.search(dataset => %s, query => 'a man', concepts => %s, k => 50)",
        (applied, [concept]),
    ).fetchall()
    assert {k for (k,) in hits} == decided


def test_search_by_uploaded_photo(client, conn, db_url: str, celeb_data: dict, tmp_path: Path, monkeypatch, capsys):
    from mediatag.cli import main

    applied, truth = celeb_data["applied"], celeb_data["truth"]
    photo = celeb_data["upload"]["Colin_Powell"][0]  # never ingested
    hits = client.search_face_photo(applied, photo, k=20)
    sql = "SELECT id, path FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(:d)"
    assets = {r["id"]: truth[Path(r["path"]).name] for r in client.query(sql, d=applied)}
    assert len(hits) >= 4 and all(assets[h["asset_id"]] == "Colin_Powell" for h in hits)
    assert all(h["distance"] < 0.6 for h in hits) and hits[0]["rank"] == 1
    # SQL alone: the service finds the photo's faces (under its media roots), search_faces takes the descriptor
    upload = tmp_path / "upload.jpg"
    upload.write_bytes(photo.read_bytes())
    sql_hits = conn.execute(
        "SELECT s.face_id FROM mediatag.photo_faces(%s) p CROSS JOIN LATERAL mediatag.search_faces(%s, p.descriptor,"
        " k => 20) s WHERE p.face_index = 0 ORDER BY s.rank",
        ([str(upload)], applied),
    ).fetchall()
    assert [f for (f,) in sql_hits] == [h["face_id"] for h in hits]
    with pytest.raises(psycopg.errors.Error, match="outside the service's media roots"):
        conn.execute("SELECT * FROM mediatag.photo_faces(%s)", ([str(photo)],))
    monkeypatch.setenv("MEDIATAG_DATABASE_URL", db_url)
    capsys.readouterr()
    assert main(["search", applied, "--face-photo", str(photo), "-k", "3", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["face_id"] for r in rows] == [h["face_id"] for h in hits[:3]]
    # a photo without a face, and a query beside the photo, are refused with a reason
    blank = Path(celeb_data["upload"]["Colin_Powell"][1]).parent.parent.parent / "labels.csv"
    with pytest.raises(SystemExit, match="no such photo file|not an image|no face"):
        main(["search", applied, "--face-photo", str(blank.with_suffix(".missing.jpg"))])
    with pytest.raises(SystemExit, match="does not take query"):
        main(["search", applied, "a man", "--face-photo", str(photo)])


def test_face_backfill_is_a_queued_job(conn: psycopg.Connection, db_url: str, tmp_path: Path):
    name = unique("late_faces")
    files = _photos()["Hugo_Chavez"][:3]
    _ingest(db_url, name, files, tmp_path, faces=False)
    assert conn.execute("SELECT mediatag.enable_faces(%s)", (name,)).fetchone()[0] is True
    status = conn.execute("SELECT scanned, faces, job_state FROM mediatag.face_status(%s)", (name,)).fetchone()
    assert status == (0, 0, "queued")
    job = conn.execute("SELECT mediatag.scan_faces(%s)", (name,)).fetchone()[0]  # the same job, not a second
    assert (
        conn.execute(
            "SELECT count(*) FROM mediatag.job WHERE kind = 'face_scan' AND payload ->> 'dataset_id' ="
            " mediatag.dataset_id(%s)::text",
            (name,),
        ).fetchone()[0]
        == 1
    )
    conn.execute("CALL mediatag.run_jobs(10, 'sql-worker', NULL)")  # the SQL worker leaves it to Python
    assert conn.execute("SELECT state FROM mediatag.job WHERE id = %s", (job,)).fetchone()[0] == "queued"
    assert face_jobs.run_pending(db_url) >= 1
    state, result = conn.execute("SELECT state, result FROM mediatag.job WHERE id = %s", (job,)).fetchone()
    assert state == "done" and result["keyframes"] == 3 and result["faces"] >= 3, result
    status = conn.execute("SELECT scanned, faces, job_state FROM mediatag.face_status(%s)", (name,)).fetchone()
    assert status[0] == 3 and status[1] >= 3 and status[2] == "done"
    # faces off: the back-fill is refused with the way to turn them on
    conn.execute("SELECT mediatag.enable_faces(%s, false)", (name,))
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="faces are off"):
        conn.execute("SELECT mediatag.scan_faces(%s)", (name,))


def test_person_tag_role_rules(db_url: str, logins: dict[str, str], conn: psycopg.Connection, celeb_data: dict):
    train = celeb_data["train"]
    group = unique("Roles celebs")
    conn.execute("SELECT mediatag.create_tag_group(%s, %s, ARRAY['Somebody'])", (train, group))
    face = conn.execute("SELECT face_id FROM mediatag.faces(%s) LIMIT 1", (train,)).fetchone()[0]
    with psycopg.connect(logins["viewer"], autocommit=True) as v:
        zero = "[" + ",".join(["0"] * 128) + "]"
        for sql, args in (
            ("SELECT mediatag.add_face_examples(%s, 'Somebody', faces => %s)", (group, [face])),
            ("SELECT mediatag.add_face_example_descriptors(%s, 'Somebody', %s::vector[])", (group, [zero])),
            ("SELECT mediatag.publish_tag_group(%s)", (group,)),
            ("SELECT mediatag.scan_faces(%s)", (train,)),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                v.execute(sql, args)
        assert v.execute("SELECT count(*) FROM mediatag.face_examples(%s, 'Somebody')", (group,)).fetchone()[0] == 0
    with psycopg.connect(logins["editor"], autocommit=True) as e:
        assert (
            e.execute("SELECT mediatag.add_face_examples(%s, 'Somebody', faces => %s)", (group, [face])).fetchone()[0]
            == 1
        )
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="exactly one of faces, person or descriptors"):
            e.execute("SELECT mediatag.add_face_examples(%s, 'Somebody')", (group,))
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="128-d"):
            e.execute(
                "SELECT mediatag.add_face_example_descriptors(%s, 'Somebody', ARRAY['[1,2,3]'::vector])", (group,)
            )
        assert e.execute("SELECT mediatag.publish_tag_group(%s)", (group,)).fetchone()[0] == 1
        e.execute("SELECT mediatag.score_tag_group(%s)", (group,))
        slug = e.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone()[0]
    with psycopg.connect(logins["viewer"], autocommit=True) as v:
        # the example is listed, its descriptor is not readable: the tables show no row to anyone but the owner
        assert v.execute("SELECT count(*) FROM mediatag.face_examples(%s, 'Somebody')", (group,)).fetchone()[0] == 1
        assert v.execute("SELECT count(*) FROM mediatag.face_example").fetchone()[0] == 0
        assert v.execute("SELECT count(*) FROM mediatag.face_exemplar").fetchone()[0] == 0
    with psycopg.connect(logins["query"], autocommit=True) as q:
        assert q.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual").fetchone()[0] > 0
        assert (
            q.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual WHERE threshold_decision").fetchone()[0]
            >= 1
        )
        for sql in (
            "SELECT count(*) FROM mediatag.face_example",
            "SELECT count(*) FROM mediatag.face_exemplar",
            f"SELECT mediatag.add_face_examples('{group}', 'Somebody', faces => ARRAY[{face}]::bigint[])",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                q.execute(sql)
