"""People (issue 27) on real face photos of the shared LFW subset: faces off by default, found and clustered,
named, merged, split and forgotten, face search, a person from 5 photos ranking their other photos first, who is
on screen, and the role rules."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import psycopg
import pytest

from mediatag.db import connect
from mediatag.faces.scan import scan_faces
from mediatag.ingest import IngestOptions, ingest

from .conftest import unique
from .facephotos import MISSING, lfw_photos

PEOPLE = ["Colin_Powell", "Serena_Williams", "Junichiro_Koizumi", "Hugo_Chavez", "Gloria_Macapagal_Arroyo"]
PER_PERSON = 8

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def _photos() -> dict[str, list[Path]]:
    return lfw_photos(PEOPLE, PER_PERSON)


@pytest.fixture(scope="module")
def people_dataset(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """The photos ingested with --faces; returns (dataset, person label by file name)."""
    photos = _photos()
    truth = {p.name: person for person, files in photos.items() for p in files}
    name = unique("faces")
    with connect(db_url) as c:
        s = ingest(c, name, [p for files in photos.values() for p in files],
                   IngestOptions(progress=False, media_dir=tmp_path_factory.mktemp("kf"), faces=True))  # fmt: skip
    assert s.ingested == len(truth) and s.faces >= len(truth), s.render()
    return name, truth


def _center_faces(conn: psycopg.Connection, dataset: str) -> dict[int, str]:
    """face id → the file it is in, for the face nearest the photo's centre (LFW centres the named person)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (f.asset_id) f.face_id, a.path FROM mediatag.faces(%s) f JOIN mediatag.asset a"
        " ON a.id = f.asset_id ORDER BY f.asset_id, abs(f.x + f.w / 2 - 75) + abs(f.y + f.h / 2 - 75)",
        (dataset,),
    ).fetchall()
    return {fid: Path(p).name for fid, p in rows}


def test_faces_off_by_default(db_url: str, tmp_path: Path):
    name = unique("nofaces")
    photo = _photos()[PEOPLE[0]][0]
    with connect(db_url) as c:
        s = ingest(c, name, [photo], IngestOptions(progress=False, media_dir=tmp_path))
        assert s.faces == 0
        assert c.execute("SELECT enabled, faces FROM mediatag.face_status(%s)", (name,)).fetchone() == (False, 0)
        assert "faces are off" in (scan_faces(c, name, progress=False).off or "")


def test_faces_found_and_clustered(conn: psycopg.Connection, people_dataset):
    name, truth = people_dataset
    centre = _center_faces(conn, name)
    assert len(centre) == len(truth)  # a face on every photo
    row = conn.execute("SELECT * FROM mediatag.faces(%s) LIMIT 1", (name,)).fetchone()
    assert row is not None
    crop = conn.execute("SELECT mediatag.face_crop(%s)", (row[0],)).fetchone()[0]
    assert bytes(crop[:2]) == b"\xff\xd8"  # a JPEG
    by_person = defaultdict(set)
    for fid, person_id in conn.execute("SELECT face_id, person_id FROM mediatag.faces(%s)", (name,)):
        if fid in centre:
            by_person[truth[centre[fid]]].add(person_id)
    # every person's photos land in one cluster of their own
    clusters = {p: ids - {None} for p, ids in by_person.items()}
    for person, ids in clusters.items():
        assert len(ids) == 1, (person, ids)
    assert len({next(iter(ids)) for ids in clusters.values()}) == len(PEOPLE)
    people = conn.execute("SELECT person_id, faces, face_id FROM mediatag.people(%s)", (name,)).fetchall()
    assert len(people) >= len(PEOPLE) and all(n >= 3 for _, n, _ in people)


def _person_of(conn: psycopg.Connection, dataset: str, truth: dict[str, str], who: str) -> int:
    centre = _center_faces(conn, dataset)
    for fid, pid in conn.execute("SELECT face_id, person_id FROM mediatag.faces(%s)", (dataset,)):
        if fid in centre and truth[centre[fid]] == who and pid is not None:
            return pid
    raise AssertionError(f"no person for {who}")


def test_name_merge_split_and_search(conn: psycopg.Connection, people_dataset):
    name, truth = people_dataset
    colin = _person_of(conn, name, truth, "Colin_Powell")
    conn.execute("SELECT mediatag.name_person(%s, 'Colin Powell')", (colin,))
    faces = [r[0] for r in conn.execute("SELECT face_id FROM mediatag.faces(%s, person => %s)", (name, colin))]
    # split three faces off, then merge them back: the name stays
    other = conn.execute("SELECT mediatag.split_person(%s, %s)", (colin, faces[:3])).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM mediatag.faces(%s, person => %s)", (name, other)).fetchone()[0] == 3
    assert conn.execute("SELECT mediatag.merge_people(%s, %s)", (other, colin)).fetchone()[0] == 3
    assert conn.execute(
        "SELECT name, faces FROM mediatag.people(%s) WHERE person_id = %s", (name, colin)
    ).fetchone() == (
        "Colin Powell",
        len(faces),
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        serena = _person_of(conn, name, truth, "Serena_Williams")
        conn.execute("SELECT mediatag.name_person(%s, 'colin powell')", (serena,))
    # face search: the same person's faces come first
    hits = conn.execute("SELECT face_id, person_id FROM mediatag.search(%s, face => %s, k => 10)", (name, faces[0]))
    hits = hits.fetchall()
    assert hits[0][0] == faces[0] and len(hits) >= 5 and all(p == colin for _, p in hits[:5])
    # a face labeled "not Colin" leaves and stays out
    assert conn.execute("SELECT mediatag.label_face(%s, %s, correct => false)", (faces[-1], colin)).fetchone()[0] == 1
    assert faces[-1] not in {
        r[0] for r in conn.execute("SELECT face_id FROM mediatag.faces(%s, person => %s)", (name, colin))
    }
    # who is on screen: photos give one range each
    ranges = conn.execute(
        "SELECT asset_id, start_ms, end_ms FROM mediatag.appearances(%s, person => %s)", (name, colin)
    )
    assert len(ranges.fetchall()) == len(faces) - 1


def test_person_from_five_photos_ranks_their_other_photos_first(conn: psycopg.Connection, people_dataset):
    name, truth = people_dataset
    centre = _center_faces(conn, name)
    mine = sorted(f for f, file in centre.items() if truth[file] == "Hugo_Chavez")
    person = conn.execute("SELECT mediatag.create_person(%s, 'Hugo (from 5 photos)', %s)", (name, mine[:5])).fetchone()[
        0
    ]
    kf_truth = {
        k: truth[centre[f]]
        for f, k in conn.execute("SELECT face_id, keyframe_id FROM mediatag.faces(%s)", (name,))
        if f in centre
    }
    held_out = {
        k for f, k in conn.execute("SELECT face_id, keyframe_id FROM mediatag.faces(%s)", (name,)) if f in mine[5:]
    }
    ranked = [
        k
        for k, _ in conn.execute(
            "SELECT keyframe_id, score FROM mediatag.person_scores(%s) ORDER BY score DESC", (person,)
        )
        if kf_truth.get(k) != "Hugo_Chavez" or k in held_out
    ]
    assert set(ranked[: len(held_out)]) == held_out


def test_forget_person_leaves_no_descriptor(conn: psycopg.Connection, people_dataset):
    name, truth = people_dataset
    serena = _person_of(conn, name, truth, "Serena_Williams")
    ids = [r[0] for r in conn.execute("SELECT face_id FROM mediatag.faces(%s, person => %s)", (name, serena))]
    assert conn.execute("SELECT mediatag.forget_person(%s)", (serena,)).fetchone()[0] >= len(ids)
    assert conn.execute("SELECT count(*) FROM mediatag.face WHERE id = ANY(%s)", (ids,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM mediatag.person WHERE id = %s", (serena,)).fetchone()[0] == 0
    # a rescan does not find them again (their keyframes stay scanned)
    assert scan_faces(conn, name, progress=False).faces == 0


def test_role_rules(db_url: str, logins: dict[str, str], people_dataset):
    name, _ = people_dataset
    with connect(db_url, autocommit=True) as c:
        person = c.execute("SELECT person_id FROM mediatag.people(%s) LIMIT 1", (name,)).fetchone()[0]
    with psycopg.connect(logins["viewer"], autocommit=True) as v:
        assert v.execute("SELECT count(*) FROM mediatag.faces(%s)", (name,)).fetchone()[0] > 0
        for sql in (
            "SELECT mediatag.name_person(%s, 'x')",
            "SELECT mediatag.forget_person(%s)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                v.execute(sql, (person,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            v.execute("SELECT mediatag.enable_faces(%s, false)", (name,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            v.execute("INSERT INTO mediatag.person (dataset_id) VALUES (1)")
    with psycopg.connect(logins["editor"], autocommit=True) as e:
        assert e.execute("SELECT mediatag.name_person(%s, 'Someone')", (person,)).fetchone()[0] == person
