"""A person tag in the labeling loop (issue 27), on real LFW photos: uncertain_keyframes ranks a person tag's
keyframes by their face scores (best face against the exemplars), never by the prompt classifier; keyframe labels
change the tag's face exemplars (yes adds the keyframe's face, no drops the examples found on it, unlabel undoes
both); and a labeling loop that answers truthfully raises the tag's recall without adding false positives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest

from .conftest import unique
from .facephotos import MISSING, ingest_faces, lfw_photos

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

HIM = "George_W_Bush"  # the most photos in lfw-20, in many lights and poses
OTHERS = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon"]
TAG = "George W Bush"


@pytest.fixture(scope="module")
def tagged(db_url: str, service: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """14 photos of him and 4 of each of five others (men of his age, the hard case), faces on; a group whose tag
    is him from the faces of 2 of his photos. Returns names, keyframe -> who, and his example faces."""
    photos = lfw_photos([HIM], 14) | lfw_photos(OTHERS, 4)
    name, group = unique("person_label"), unique("Leaders")
    ingest_faces(db_url, name, [p for ps in photos.values() for p in ps], tmp_path_factory.mktemp("kf"))
    truth = {p.name: who for who, ps in photos.items() for p in ps}
    with psycopg.connect(db_url, autocommit=True) as c:
        who = {
            k: truth[Path(p).name]
            for k, p in c.execute(
                "SELECT k.id, a.path FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id"
                " WHERE k.dataset_id = mediatag.dataset_id(%s)",
                (name,),
            )
        }
        mine = sorted(k for k, w in who.items() if w == HIM)
        # The central face of his first two photos (LFW centres the named person).
        examples = [
            c.execute(
                "SELECT face_id FROM mediatag.faces(%s) WHERE keyframe_id = %s"
                " ORDER BY abs(x + w / 2 - 75) + abs(y + h / 2 - 75) LIMIT 1",
                (name, k),
            ).fetchone()[0]
            for k in mine[:2]
        ]
        c.execute("SELECT mediatag.create_tag_group(%s, %s, ARRAY[%s])", (name, group, TAG))
        c.execute("SELECT mediatag.add_face_examples(%s, %s, faces => %s)", (group, TAG, examples))
    return {"dataset": name, "group": group, "who": who, "examples": examples, "mine": mine}


def summary(conn: psycopg.Connection, group: str) -> dict:
    return conn.execute(
        "SELECT c.summary FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id"
        " CROSS JOIN LATERAL mediatag._keyframe_classifier(t.id) c WHERE g.name = %s",
        (group,),
    ).fetchone()[0]


def face_scores(conn: psycopg.Connection, group: str, dataset: str) -> dict[int, float]:
    """Every keyframe's score under the tag's exemplars, computed here from the descriptors: the best face's
    distance to the nearest exemplar through mediatag._face_tag_score (0 without a face)."""
    ex = conn.execute(
        "SELECT x.descriptor::text FROM mediatag.tag t JOIN mediatag.tag_group g ON g.id = t.group_id"
        " CROSS JOIN LATERAL mediatag._keyframe_classifier(t.id) c JOIN mediatag.face_exemplar x"
        " ON x.classifier_id = c.id WHERE g.name = %s",
        (group,),
    ).fetchall()
    exemplars = np.array([np.fromstring(d.strip("[]"), sep=",") for (d,) in ex])
    best: dict[int, float] = {}
    for kf, d in conn.execute(
        "SELECT f.keyframe_id, f.descriptor::text FROM mediatag.face f WHERE f.dataset_id = mediatag.dataset_id(%s)",
        (dataset,),
    ):
        dist = float(np.linalg.norm(exemplars - np.fromstring(d.strip("[]"), sep=","), axis=1).min())
        best[kf] = min(best.get(kf, 9.0), dist)
    return {k: conn.execute("SELECT mediatag._face_tag_score(%s)", (d,)).fetchone()[0] for k, d in best.items()}


def uncertain(conn: psycopg.Connection, group: str, k: int) -> list[tuple[int, float]]:
    return conn.execute(
        "SELECT keyframe_id, score FROM mediatag.uncertain_keyframes(%s, %s, %s)", (group, TAG, k)
    ).fetchall()


def test_uncertain_keyframes_rank_a_person_tag_by_its_faces(conn, tagged):
    scores = face_scores(conn, tagged["group"], tagged["dataset"])
    picks = uncertain(conn, tagged["group"], 6)
    assert len(picks) == 6, picks
    for kf, score in picks:
        # The face score, not the prompt classifier's (which scores a whole frame near 0.5 for any face photo).
        assert score == pytest.approx(scores[kf], abs=1e-3), (kf, score, scores[kf])
        assert kf not in tagged["mine"][:2]  # its examples' keyframes score 1: certain
    # The picks are the most uncertain keyframes (one per shot; photos are a shot each): none of the rest is
    # nearer 0.5 than any pick.
    rest = [abs(s - 0.5) for k, s in scores.items() if k not in {p for p, _ in picks}]
    assert max(abs(s - 0.5) for _, s in picks) <= min(rest), (picks, sorted(rest)[:5])
    assert [abs(s - 0.5) for _, s in picks] == sorted(abs(s - 0.5) for _, s in picks)


def test_keyframe_labels_feed_the_tag_exemplars(conn, tagged):
    group, mine = tagged["group"], tagged["mine"]
    before = summary(conn, group)
    assert before["exemplars"] == 2 and before["from_yes_labels"] == 0, before
    # Yes on one of his photos: its face becomes an exemplar, and that keyframe scores as certain.
    target = min(mine[2:], key=lambda k: face_scores(conn, group, tagged["dataset"])[k])
    conn.execute("SELECT mediatag.label_keyframes(%s, %s, %s, true)", (group, TAG, [target]))
    after = summary(conn, group)
    assert after["exemplars"] == 3 and after["from_yes_labels"] == 1, after
    assert face_scores(conn, group, tagged["dataset"])[target] > 0.99
    # No on an example's keyframe: that example is dropped (a face picked by mistake); unlabel restores both.
    conn.execute("SELECT mediatag.label_keyframes(%s, %s, %s, false)", (group, TAG, [mine[0]]))
    after = summary(conn, group)
    assert after["exemplars"] == 2 and after["dropped_by_no_labels"] == 1, after
    conn.execute("SELECT mediatag.unlabel_keyframes(%s, %s, %s)", (group, TAG, [target, mine[0]]))
    assert summary(conn, group)["exemplars"] == 2 and summary(conn, group)["from_yes_labels"] == 0


def test_a_truthful_labeling_loop_makes_the_person_surer_and_keeps_precision(conn, tagged):
    group, who, dataset = tagged["group"], tagged["who"], tagged["dataset"]
    his = {k for k, w in who.items() if w == HIM}

    def rates() -> tuple[float, float, float]:
        """(recall at 0.5, precision at 0.5, his keyframes' mean score)."""
        scores = face_scores(conn, group, dataset)
        decided = {k for k, s in scores.items() if s >= 0.5}
        hits = len(decided & his)
        return hits / len(his), hits / max(1, len(decided)), float(np.mean([scores.get(k, 0.0) for k in his]))

    recall0, precision0, mean0 = rates()
    yes = 0
    for _ in range(3):  # three rounds of 4: what a person answers on the labeling page
        picks = [k for k, _ in uncertain(conn, group, 4)]
        for label in (True, False):
            chosen = [k for k in picks if (k in his) == label]
            yes += len(chosen) if label else 0
            if chosen:
                conn.execute("SELECT mediatag.label_keyframes(%s, %s, %s, %s)", (group, TAG, chosen, label))
    recall1, precision1, mean1 = rates()
    assert yes > 0 and summary(conn, group)["from_yes_labels"] == yes
    assert mean1 > mean0 and recall1 >= recall0, (mean0, mean1, recall0, recall1)
    assert precision1 >= min(precision0, 0.95), (precision0, precision1)
