"""The labeled photo sources the tag-quality benches share (bench_quality.py, bench_label_efficiency.py): reading
a source's labels, its tag names as a user types them, loading its photos through the real ingest, and labeling.

A source is a folder with images/ and labels.csv (`file`, and `classes` ';'-joined or one `class`): the shared
COCO photos (multi-label) and the clothing product photos (one class a photo).
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediatag.ingest import IngestOptions, ingest

# The clothing classes as a user would type them as tags (a tag name may not contain "-").
CLOTHING_TAGS = {
    "t-shirt": "t shirt",
    "longsleeve": "long sleeve shirt",
    "outwear": "outerwear",
    "pants": "pants",
    "shirt": "shirt",
    "dress": "dress",
    "hat": "hat",
    "shoes": "shoes",
    "shorts": "shorts",
    "skirt": "skirt",
}


@dataclass
class Source:
    """A labeled photo folder, its files sorted by name, each file's classes and each class's tag name."""

    name: str
    folder: Path
    files: list[str]  # sorted
    truth: dict[str, set[str]]  # file -> its classes
    tag_names: dict[str, str]  # class -> tag name

    def positives(self, files: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in files:
            for c in self.truth[f]:
                counts[c] = counts.get(c, 0) + 1
        return counts

    def classes(self, coco_min_positives: int) -> list[str]:
        """The classes a bench reports: on COCO those with >= coco_min_positives photos, on clothing all ten."""
        counts = self.positives(self.files)
        least = coco_min_positives if self.name == "coco" else 1
        return sorted(c for c, n in counts.items() if n >= least and c in self.tag_names)

    def folds(self) -> tuple[list[str], list[str]]:
        """The two halves by file name (COCO: photos 1-64 = samples/coco64, and 65-128)."""
        half = len(self.files) // 2
        return self.files[:half], self.files[half:]


def read_source(name: str, folder: Path) -> Source:
    with (folder / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    truth = {r["file"]: set(filter(None, (r.get("classes") or r.get("class") or "").split(";"))) for r in rows}
    classes = sorted({c for s in truth.values() for c in s})
    names = CLOTHING_TAGS if name == "clothing" else {c: c for c in classes}
    return Source(name, folder, sorted(truth), truth, names)


def ingest_photos(conn, dataset: str, src: Source, files: list[str], encoder) -> tuple[np.ndarray, list[str]]:  # noqa: ANN001
    """These photos of the source as `dataset`, through the real ingest (kept between runs: a rerun adds nothing);
    its keyframe ids and file names in id order. `encoder` is any VisualEncoder (the benches pass the cached one)."""
    summary = ingest(
        conn, dataset, [src.folder / "images" / f for f in files], IngestOptions(progress=False, visual_encoder=encoder)
    )
    if summary.errors:
        sys.exit(f"{src.name}: {len(summary.errors)} photos failed to ingest, e.g. {summary.errors[0]}")
    rows = conn.execute(
        "SELECT k.id, k.image_path FROM mediatag.keyframe k WHERE k.dataset_id = mediatag.dataset_id(%s) ORDER BY k.id",
        (dataset,),
    ).fetchall()
    conn.commit()
    return np.array([r[0] for r in rows]), [Path(r[1]).name for r in rows]


def label(conn, group: str, tag: str, ids: list[int], answers: list[bool]) -> None:
    """Yes/no labels on keyframes of a tag, as an import (what a person's answers would be)."""
    for value in (True, False):
        sel = [i for i, a in zip(ids, answers, strict=True) if a == value]
        if sel:
            conn.execute("SELECT mediatag.label_keyframes(%s, %s, %s, %s, 'import')", (group, tag, sel, value))
