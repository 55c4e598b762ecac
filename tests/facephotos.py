"""Real face photos for the People tests: a few people of the shared LFW subset (../shared/data/lfw-20), a short real
video made of more of their photos (one shot each, VP9 WebM: Debian's Chromium plays open codecs only), ingested with
faces on."""

from __future__ import annotations

import csv
import subprocess
from collections import defaultdict
from pathlib import Path

import psycopg

from mediatag.db import connect
from mediatag.faces import faces_unavailable
from mediatag.ingest import IngestOptions, ingest
from mediatag.sample_data import shared_data_dir

LFW = (shared_data_dir() or Path(__file__).resolve().parents[2] / "shared" / "data") / "lfw-20"
# Why the People tests cannot run here, or None.
MISSING = (
    "the shared lfw-20 photos are not beside the checkout"
    if not (LFW / "labels.csv").is_file()
    else faces_unavailable()
)


def lfw_photos(people: list[str], per_person: int | None, skip: int = 0) -> dict[str, list[Path]]:
    """Each person's photos in labels.csv order: `per_person` of them (None: all) after the first `skip`."""
    by: dict[str, list[Path]] = defaultdict(list)
    with open(LFW / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["person"] in people:
                by[row["person"]].append(LFW / "images" / row["file"])
    return {p: by[p][skip : None if per_person is None else skip + per_person] for p in people}


def slideshow(path: Path, photos: list[Path], seconds: int = 2) -> Path:
    """A real video of `photos`, `seconds` each: a cut, so a shot, per photo."""
    inputs = [a for p in photos for a in ("-loop", "1", "-t", str(seconds), "-i", str(p))]
    chain = "".join(f"[{i}]" for i in range(len(photos))) + f"concat=n={len(photos)}:v=1:a=0,fps=25,format=yuv420p[v]"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", chain, "-map", "[v]",
         "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def ingest_faces(db_url: str, dataset: str, files: list[Path], media_dir: Path, faces: bool = True) -> None:
    with connect(db_url) as c:
        s = ingest(c, dataset, files, IngestOptions(progress=False, media_dir=media_dir, faces=faces))
    assert s.ingested == len(files), s.render()


def person_of_files(conn: psycopg.Connection, dataset: str, truth: dict[str, str]) -> dict[str, int]:
    """Who is who: each LFW name -> the person most of their photos' central faces are in (LFW centres the named
    person in its 150 px photos; other faces in the background are someone else)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (f.asset_id) a.path, f.person_id FROM mediatag.faces(%s) f"
        " JOIN mediatag.asset a ON a.id = f.asset_id WHERE a.kind = 'image'"
        " ORDER BY f.asset_id, abs(f.x + f.w / 2 - 75) + abs(f.y + f.h / 2 - 75)",
        (dataset,),
    ).fetchall()
    votes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for path, person in rows:
        if person is not None and Path(path).name in truth:
            votes[truth[Path(path).name]][person] += 1
    return {who: max(v, key=v.__getitem__) for who, v in votes.items()}
