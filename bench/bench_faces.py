"""Faces on the shared LFW subset (lfw-20: 3,023 photos of 62 people): verification accuracy, clustering quality,
a person from 5 labeled photos, and speed. No figure here was used to tune anything: the distances are dlib's
documented 0.6 and the clustering rule is fixed in mediatag.faces.cluster.

    python bench/bench_faces.py [--per-person N] [--pairs 3000] [--seed 0]

* Verification: LFW's own pairs.txt is not in the shared set, so pairs are drawn the way the protocol draws them:
  `--pairs` same-person and as many different-person pairs, at random (seeded); a pair is "same" when the
  descriptors are nearer than 0.6. The face nearest the photo's centre is the named person (LFW centres them).
* Clustering: mediatag.faces.cluster on every photo's face; pairwise precision and recall against the names, and
  the number of clusters of at least 3 faces against the number of people.
* Person from 5 photos: per person, 5 random photos are the person's faces; every other photo is ranked by its
  distance to the nearest of the 5 (what mediatag.person_scores does): precision@10 and average precision of that
  person's other photos, averaged over people.
* Speed: faces per second (detection + landmarks + descriptor) on this machine's cores.
* Celebrities (person tags): a group of `--celebrities` people (the first by name with at least 10 photos), each tag
  trained from 5 of that person's photos; every other photo (theirs and the other people's) is held out and scored
  as mediatag scores a person tag (mediatag._face_score of the distance to the nearest exemplar, threshold 0.5, which
  is distance < 0.6): precision and recall per tag at the default threshold (and at 0.9 and 0.99, stricter),
  micro-averaged over the tags. Descriptors are cached in .cache/ (a rerun skips detection).
* --ingest N: the cost faces add to ingest, per keyframe: N photos of lfw-20 (150 px faces) and N of COCO
  (640 px scenes, some with people) ingested through the whole pipeline with faces off and on (after a warm-up
  ingest that loads the models), into scratch datasets of the bench database that are dropped after.
* --fit-score: the slope of mediatag._face_score, P(same person | distance) fitted by logistic regression on all
  same and different pairs of the photos, balanced (sql/src/faces.sql records the figure it uses).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediatag.faces.cluster import average_linkage  # noqa: E402
from mediatag.faces.detect import detect_faces  # noqa: E402
from mediatag.faces.models import faces_unavailable  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-20"
SAME = 0.6
SCORE_SLOPE = 30.7  # mediatag._face_score's, in units of max_distance (sql/src/faces.sql)
TAG_ANCHOR = 0.85  # mediatag._face_tag_score's 0.5 point, as a share of max_distance (fitted by --anchor)


def descriptors(per_person: int | None) -> tuple[np.ndarray, list[str], int, float, int]:
    """The centre face's descriptor of each photo (at most per_person each), cached under .cache/ by per_person:
    the figures that only need descriptors rerun in seconds (the speed figure is the first run's)."""
    cache = ROOT / ".cache" / f"bench_faces_{per_person or 'all'}.npz"
    if cache.is_file():
        z = np.load(cache)
        return z["d"], [str(n) for n in z["names"]], int(z["found"]), float(z["seconds"]), int(z["missed"])
    out = _descriptors(per_person)
    cache.parent.mkdir(exist_ok=True)
    np.savez(cache, d=out[0], names=np.array(out[1]), found=out[2], seconds=out[3], missed=out[4])
    return out


def _descriptors(per_person: int | None) -> tuple[np.ndarray, list[str], int, float, int]:
    by: dict[str, list[str]] = defaultdict(list)
    with open(LFW / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            by[row["person"]].append(row["file"])
    vecs, names, found, missed = [], [], 0, 0
    t0 = time.monotonic()
    for person in sorted(by):
        for f in by[person][:per_person]:
            faces = detect_faces(Image.open(LFW / "images" / f))
            found += len(faces)
            if not faces:
                missed += 1
                continue
            centre = min(faces, key=lambda x: abs(x.box[0] + x.box[2] / 2 - 75) + abs(x.box[1] + x.box[3] / 2 - 75))
            vecs.append(centre.descriptor)
            names.append(person)
    return np.stack(vecs), names, found, time.monotonic() - t0, missed


def verification(d: np.ndarray, names: list[str], pairs: int, rng: random.Random) -> float:
    idx: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        idx[n].append(i)
    people = [p for p in idx if len(idx[p]) >= 2]
    right = 0
    for _ in range(pairs):
        a, b = rng.sample(idx[rng.choice(people)], 2)
        right += np.linalg.norm(d[a] - d[b]) < SAME
        p, q = rng.sample(people, 2)
        right += np.linalg.norm(d[rng.choice(idx[p])] - d[rng.choice(idx[q])]) >= SAME
    return right / (2 * pairs)


def clustering(d: np.ndarray, names: list[str]) -> tuple[float, float, int]:
    labels = average_linkage(d, SAME)
    sizes = np.bincount(labels)
    labels = np.where(sizes[labels] >= 3, labels, -1)  # clusters below 3 faces wait, as in cluster_people
    arr = np.array(names)
    same = arr[:, None] == arr[None, :]
    together = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)
    iu = np.triu_indices(len(arr), 1)
    tp = (same & together)[iu].sum()
    return tp / max(1, together[iu].sum()), tp / same[iu].sum(), int((sizes >= 3).sum())


def person_from_five(d: np.ndarray, names: list[str], rng: random.Random) -> tuple[float, float]:
    arr = np.array(names)
    p10, aps = [], []
    for person in sorted(set(names)):
        mine = np.flatnonzero(arr == person)
        if len(mine) < 8:
            continue
        seeds = rng.sample(list(mine), 5)
        rest = np.setdiff1d(np.arange(len(arr)), seeds)
        dist = np.linalg.norm(d[rest][:, None, :] - d[seeds][None, :, :], axis=2).min(1)
        rel = arr[rest][np.argsort(dist)] == person
        p10.append(rel[:10].mean())
        hits = np.cumsum(rel)
        aps.append(float((hits[rel] / (np.flatnonzero(rel) + 1)).mean()))
    return float(np.mean(p10)), float(np.mean(aps))


def face_score(distance: np.ndarray, max_distance: float = SAME) -> np.ndarray:
    """mediatag._face_score (sql/src/faces.sql), here for held-out photos scored without a database."""
    return 1.0 / (1.0 + np.exp(-SCORE_SLOPE * (max_distance - distance) / max_distance))


def face_tag_score(distance: np.ndarray, max_distance: float = SAME) -> np.ndarray:
    """mediatag._face_tag_score: a person tag's score, its 0.5 point at TAG_ANCHOR x max_distance."""
    return face_score(distance + (1 - TAG_ANCHOR) * max_distance, max_distance)


def _tag_distances(d: np.ndarray, arr: np.ndarray, n_tags: int | None, min_photos: int) -> list[tuple]:
    """Person tags from 5 photos each (people with at least min_photos): per tag, every held-out photo's distance
    to its nearest exemplar and whether it is that person; the held-out photos are all but the exemplars."""
    tags = [p for p in sorted(set(arr)) if (arr == p).sum() >= min_photos][:n_tags]
    train = np.zeros(len(arr), dtype=bool)
    for p in tags:
        train[np.flatnonzero(arr == p)[:5]] = True
    held = np.flatnonzero(~train)
    out = []
    for p in tags:
        exemplars = d[np.flatnonzero(train & (arr == p))]
        out.append((np.linalg.norm(d[held][:, None, :] - exemplars[None, :, :], axis=2).min(1), arr[held] == p))
    return out


def _counts(per_tag: list[tuple], decide) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for dist, truth in per_tag:
        decided = decide(dist)
        tp += int((decided & truth).sum())
        fp += int((decided & ~truth).sum())
        fn += int((~decided & truth).sum())
    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return p, r, 2 * p * r / max(1e-9, p + r)


def celebrities(
    d: np.ndarray, names: list[str], n_tags: int, threshold: float = 0.5
) -> tuple[list[str], float, float, int, int]:
    """Tags of n_tags people from 5 photos each; (tags, precision, recall, held-out photos, positives) at a
    threshold on the tags' scores."""
    arr = np.array(names)
    per_tag = _tag_distances(d, arr, n_tags, 10)
    precision, recall, _ = _counts(per_tag, lambda dist: face_tag_score(dist) >= threshold)
    tags = [p for p in sorted(set(names)) if (arr == p).sum() >= 10][:n_tags]
    return tags, precision, recall, len(per_tag[0][0]) if per_tag else 0, sum(int(t.sum()) for _, t in per_tag)


def fit_anchor(d: np.ndarray, names: list[str]) -> list[str]:
    """The distance cut of a person tag, fitted where it is used: every person with >= 8 photos a tag from 5 of them,
    over one half of the people (alternate names), the cut with the best F1 there, then held on the other half."""
    arr = np.array(names)
    people = sorted(set(names))
    halves = [np.isin(arr, people[0::2]), np.isin(arr, people[1::2])]
    cuts = np.arange(0.30, 0.65, 0.005)
    lines = []
    for fit, held in ((0, 1), (1, 0)):
        train = _tag_distances(d[halves[fit]], arr[halves[fit]], None, 8)
        test = _tag_distances(d[halves[held]], arr[halves[held]], None, 8)
        best = max(cuts, key=lambda c: _counts(train, lambda dist: dist < c)[2])
        p, r, f = _counts(test, lambda dist, c=best: dist < c)
        p6, r6, f6 = _counts(test, lambda dist: dist < SAME)
        lines.append(f"half {fit} -> half {held}: cut {best:.3f} ({best / SAME:.2f} x max_distance); held-out"
                     f" precision {p:.3f} recall {r:.3f} F1 {f:.3f}"
                     f" (at {SAME}: {p6:.3f} / {r6:.3f} / {f6:.3f})")  # fmt: skip
    return lines


def fit_score_slope(d: np.ndarray, names: list[str]) -> tuple[float, float, int, int]:
    """Logistic regression of "same person" on (0.6 - distance), classes balanced: (slope, 0.5 point, same
    pairs, different pairs)."""
    from sklearn.linear_model import LogisticRegression

    arr = np.array(names)
    iu = np.triu_indices(len(arr), 1)
    dist = np.linalg.norm(d[:, None, :] - d[None, :, :], axis=2)[iu]
    same = (arr[:, None] == arr[None, :])[iu]
    weight = np.where(same, 0.5 / same.mean(), 0.5 / (~same).mean())
    m = LogisticRegression(C=100).fit((SAME - dist)[:, None], same, sample_weight=weight)
    slope, bias = float(m.coef_[0][0]), float(m.intercept_[0])
    return slope, SAME + bias / slope, int(same.sum()), int((~same).sum())


def ingest_cost(n: int) -> None:
    """Seconds per keyframe of a real ingest with faces off and on, and what faces add."""
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_db import bench_database_url

    from mediatag.db import connect
    from mediatag.ingest import IngestOptions, ingest
    from mediatag.sample_data import coco_dir

    with open(LFW / "labels.csv", newline="") as fh:
        lfw = [LFW / "images" / row["file"] for row in csv.DictReader(fh)][:: 3023 // n][:n]
    sets = {"lfw-20": lfw, "coco128": sorted((coco_dir() / "images").glob("*.jpg"))[:n]}
    stamp = int(time.time())
    with connect(bench_database_url("mediatag_bench")) as conn, tempfile.TemporaryDirectory() as tmp:

        def run(name: str, paths: list[Path], faces: bool) -> tuple[float, int, int]:
            ds = f"faces_ingest_{name}_{stamp}"
            t0 = time.perf_counter()
            s = ingest(conn, ds, paths, IngestOptions(progress=False, media_dir=Path(tmp) / ds, faces=faces))
            dt = time.perf_counter() - t0
            found = conn.execute("SELECT count(*) FROM mediatag.faces(%s)", (ds,)).fetchone()[0] if faces else 0
            conn.execute("SELECT mediatag.drop_dataset(%s)", (ds,))
            conn.commit()
            return dt, s.keyframes, found

        run("warmup", sets["coco128"][:4], True)
        for label, paths in sets.items():
            off, kf, _ = run(f"{label.replace('-', '')}_off", paths, False)
            on, kf_on, found = run(f"{label.replace('-', '')}_on", paths, True)
            print(f"ingest {label}: {kf} keyframes, faces off {1000 * off / kf:.0f} ms/keyframe, on"
                  f" {1000 * on / kf_on:.0f} ms/keyframe ({found} faces): faces add"
                  f" {1000 * (on / kf_on - off / kf):.0f} ms per keyframe")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-person", type=int, default=None, help="at most this many photos per person (default all)")
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--celebrities", type=int, default=10, help="people in the Celebrities group (default 10)")
    ap.add_argument("--fit-score", action="store_true", help="fit the slope of mediatag._face_score on these photos")
    ap.add_argument("--anchor", action="store_true", help="fit a person tag's cut on half the people, hold on the rest")
    ap.add_argument("--ingest", type=int, default=0, help="time ingest of N photos per set with faces off and on")
    args = ap.parse_args()
    if args.ingest and not faces_unavailable():
        ingest_cost(args.ingest)
        return
    if faces_unavailable() or not (LFW / "labels.csv").is_file():
        print(f"skipped: {faces_unavailable() or f'{LFW} is missing'}")
        return
    rng = random.Random(args.seed)
    d, names, found, seconds, missed = descriptors(args.per_person)
    photos = len(names) + missed
    print(f"photos {photos} of {len(set(names))} people; faces found {found}; photos with no face {missed}")
    print(f"faces/s (HOG detection + 5-point alignment + descriptor, 150x150 photos): {found / seconds:.1f}")
    print(f"verification accuracy ({args.pairs} same + {args.pairs} different pairs, d < {SAME}):"
          f" {verification(d, names, args.pairs, rng):.4f}")  # fmt: skip
    precision, recall, clusters = clustering(d, names)
    print(f"clustering: pairwise precision {precision:.3f}, recall {recall:.3f}, "
          f"{clusters} clusters of >= 3 faces for {len(set(names))} people")  # fmt: skip
    p10, mean_ap = person_from_five(d, names, rng)
    print(f"person from 5 photos: precision@10 {p10:.3f}, AP {mean_ap:.3f} (mean over people)")
    for threshold in (0.5, 0.9, 0.99):
        tags, precision, recall, held, positives = celebrities(d, names, args.celebrities, threshold)
        print(f"Celebrities group of {len(tags)} person tags (5 photos each), {held} held-out photos ({positives} of"
              f" them of a tag's person), threshold {threshold}{' (default)' if threshold == 0.5 else ''}:"
              f" precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip
    if args.anchor:
        for line in fit_anchor(d, names):
            print(f"person tag cut: {line}")
    if args.fit_score:
        slope, half, n_same, n_diff = fit_score_slope(d, names)
        print(f"score slope: {slope:.1f} per unit of distance ({slope * SAME:.1f} per max_distance), 0.5 at d = "
              f"{half:.3f} ({n_same} same, {n_diff} different pairs, balanced)")  # fmt: skip


if __name__ == "__main__":
    main()
