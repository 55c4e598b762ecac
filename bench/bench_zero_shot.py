"""Zero-shot AP of the offline default, per source and per way of reading a prompt, and its photos/s (issue 29).

Every photo of the two shared labeled sources is ranked by prompt·image for each tag, the prompt being the tag name
as a user types it; AP per tag, averaged over tags:
  - COCO photos (coco128-train2017, 128 photos): the 31 classes with >= 5 positives, tag = class name. Choices were
    made on the "tune" half of the classes (a hash of the class name); "held" are names never used in choosing
    (the generalisation figure). Also the 10 classes with >= 8 positives (the bench_quality set).
  - clothing photos (clothing-train, 3,068 photos, 10 classes): tags "t shirt", "long sleeve shirt", "outerwear",
    ... Photos split in halves by a hash of the file name: choices were made on half A; B is held out.
The variants differ only in how a prompt becomes a vector, so they share one set of image vectors (the image side
of conse-effnet-lite02-wn and -wn2 is identical). The image vectors are computed once and kept in
~/.cache/mediatag/zero-shot (MEDIATAG_ZERO_SHOT_CACHE), keyed by the model and the photo files; photos/s is measured
on SPEED_PHOTOS fresh photos every run.

    MEDIATAG_SHARED_DATA=/path/to/shared/data python bench/bench_zero_shot.py
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mediatag.media.images import load_image
from mediatag.models.conse.classprob import ClassProbVisualEncoder
from mediatag.models.conse.relevance import ClassRelevance, PromptRules
from mediatag.models.registry import PREVIOUS_OFFLINE_VISUAL, STRONG_OFFLINE_VISUAL, get_visual_encoder
from mediatag.sample_data import shared_data_dir

SPEED_PHOTOS = 16
BATCH = 16
# Tag names as a user types them ("-" is not allowed in a tag name).
CLOTHING_TAGS = {"t-shirt": "t shirt", "longsleeve": "long sleeve shirt", "outwear": "outerwear"}


def half_of(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2 == 0


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    t = truth[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


def read_source(folder: Path) -> tuple[list[str], list[set[str]]]:
    rows = list(csv.DictReader(open(folder / "labels.csv", newline="")))
    labels = [r.get("classes") or r.get("class") or "" for r in rows]  # COCO: ";"-joined set; clothing: one class
    return [r["file"] for r in rows], [set(filter(None, lab.split(";"))) for lab in labels]


def cache_path(model: str, folder: Path, files: list[str]) -> Path:
    root = Path(os.environ.get("MEDIATAG_ZERO_SHOT_CACHE") or Path.home() / ".cache" / "mediatag" / "zero-shot")
    h = hashlib.sha256()
    for f in files:
        st = (folder / "images" / f).stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return root / f"{model}-{folder.name}-{h.hexdigest()[:16]}.npy"


def image_vectors(encoder: ClassProbVisualEncoder, folder: Path, files: list[str]) -> np.ndarray:
    path = cache_path(encoder.name, folder, files)
    if path.is_file():
        return np.load(path)
    print(f"  embedding {len(files)} photos of {folder.name} (cached afterwards in {path})", flush=True)
    vecs = []
    for i in range(0, len(files), BATCH):
        vecs.append(encoder.embed_images([load_image(folder / "images" / f) for f in files[i : i + BATCH]]))
    out = np.concatenate(vecs)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def photos_per_second(encoder: ClassProbVisualEncoder, folder: Path, files: list[str]) -> float:
    images = [load_image(folder / "images" / f) for f in files[:SPEED_PHOTOS]]
    encoder.embed_images(images[:1])  # first-call set-up (kernel selection) is not per-photo cost
    start = time.perf_counter()
    encoder.embed_images(images)
    return len(images) / (time.perf_counter() - start)


def variants(encoder: ClassProbVisualEncoder) -> list[tuple[str, ClassRelevance]]:
    """(label, prompt reader): the shipped readings and the knobs measured around them."""
    base = encoder.relevance

    def reader(rules: PromptRules, gamma: float | None = None, tau: float | None = None) -> ClassRelevance:
        return base.variant(rules, gamma, tau)

    both = PromptRules(phrase=True, covering_sense=True)
    return [
        (f"{PREVIOUS_OFFLINE_VISUAL} (before): tag name as typed, noun's first sense", reader(PromptRules())),
        ("  + phrased like the class names ('a photo of a ...')", reader(PromptRules(phrase=True))),
        ("  + WordNet sense that covers ImageNet classes", reader(PromptRules(covering_sense=True))),
        (f"{STRONG_OFFLINE_VISUAL} (shipped): both", reader(both)),
        ("  shipped, no WordNet (gamma 0)", reader(both, gamma=0.0)),
        ("  shipped, WordNet gamma 1", reader(both, gamma=1.0)),
        ("  shipped, tau 0.08", reader(both, tau=0.08)),
        ("  shipped, tau 0.16", reader(both, tau=0.16)),
    ]


def scores(encoder: ClassProbVisualEncoder, reader: ClassRelevance, x: np.ndarray, tags: list[str]) -> np.ndarray:
    r = reader.weights(tags, encoder.text.embed_texts(reader.texts_to_embed(tags)))
    return x[:, : encoder.class_dims] @ r.T


@dataclass
class ZeroShotSets:
    """The two labeled sources as the zero-shot benches read them: files, tags as typed, truth (photos x tags)."""

    coco: Path
    coco_files: list[str]
    coco_classes: list[str]
    coco_truth: np.ndarray
    clothing: Path
    cloth_files: list[str]
    cloth_tags: list[str]
    cloth_truth: np.ndarray


def zero_shot_sets() -> ZeroShotSets | None:
    """COCO's classes with >= 5 positives (tag = class name) and the clothing classes; None without the photos."""
    shared = shared_data_dir()
    coco, clothing = (shared / "coco128-train2017", shared / "clothing-train") if shared else (None, None)
    if coco is None or not (clothing / "labels.csv").is_file():
        print("no shared photos: set MEDIATAG_SHARED_DATA to the folder holding coco128-train2017 and clothing-train")
        return None
    coco_files, coco_sets = read_source(coco)
    names = sorted({c for s in coco_sets for c in s})
    coco_truth = np.array([[c in s for c in names] for s in coco_sets])
    keep = coco_truth.sum(0) >= 5
    cloth_files, cloth_sets = read_source(clothing)
    cloth_classes = sorted({c for s in cloth_sets for c in s})
    return ZeroShotSets(
        coco,
        coco_files,
        [c for c, k in zip(names, keep, strict=True) if k],
        coco_truth[:, keep],
        clothing,
        cloth_files,
        [CLOTHING_TAGS.get(c, c) for c in cloth_classes],
        np.array([[c in s for c in cloth_classes] for s in cloth_sets]),
    )


def main() -> int:
    sets = zero_shot_sets()
    if sets is None:
        return 1
    encoder = get_visual_encoder(STRONG_OFFLINE_VISUAL)
    assert isinstance(encoder, ClassProbVisualEncoder)

    coco, coco_files, coco_classes, coco_truth = sets.coco, sets.coco_files, sets.coco_classes, sets.coco_truth
    tune = np.array([half_of(c) for c in coco_classes])
    eight = coco_truth.sum(0) >= 8

    clothing, cloth_files, cloth_tags, cloth_truth = sets.clothing, sets.cloth_files, sets.cloth_tags, sets.cloth_truth
    half_a = np.array([half_of(f) for f in cloth_files])

    coco_x = image_vectors(encoder, coco, coco_files)
    cloth_x = image_vectors(encoder, clothing, cloth_files)
    speed = photos_per_second(encoder, clothing, cloth_files)

    print(
        f"COCO: {len(coco_files)} photos, {len(coco_classes)} classes >= 5 positives ({tune.sum()} tune, "
        f"{(~tune).sum()} held), {eight.sum()} with >= 8. Clothing: {len(cloth_files)} photos ({half_a.sum()} in A, "
        f"{(~half_a).sum()} in B), tags {', '.join(cloth_tags)}. torch threads {torch.get_num_threads()}"
    )
    print(f"{'variant':72s} COCO all  tune  held  >=8 | clothing all    A     B")
    per_tag: dict[str, list[float]] = {}
    for label, reader in variants(encoder):
        sc = scores(encoder, reader, coco_x, coco_classes)
        coco_ap = np.array([average_precision(sc[:, j], coco_truth[:, j]) for j in range(len(coco_classes))])
        sl = scores(encoder, reader, cloth_x, cloth_tags)

        def cloth(mask: np.ndarray, sl: np.ndarray = sl) -> np.ndarray:
            return np.array([average_precision(sl[mask, j], cloth_truth[mask, j]) for j in range(len(cloth_tags))])

        all_ap = cloth(np.ones(len(cloth_files), bool))
        print(
            f"{label:72s} {coco_ap.mean():8.3f} {coco_ap[tune].mean():5.3f} {coco_ap[~tune].mean():5.3f} "
            f"{coco_ap[eight].mean():4.3f} | {all_ap.mean():12.3f} {cloth(half_a).mean():5.3f} "
            f"{cloth(~half_a).mean():5.3f}",
            flush=True,
        )
        if label.startswith((PREVIOUS_OFFLINE_VISUAL + " ", STRONG_OFFLINE_VISUAL + " ")):
            per_tag[label.split()[0]] = list(all_ap)
    print("clothing AP per tag (before -> shipped):")
    before, after = per_tag[PREVIOUS_OFFLINE_VISUAL], per_tag[STRONG_OFFLINE_VISUAL]
    print("  " + ", ".join(f"{t} {b:.2f}->{a:.2f}" for t, b, a in zip(cloth_tags, before, after, strict=True)))
    print(
        f"speed: {speed:.2f} photos/s ({SPEED_PHOTOS} clothing photos, batch {encoder.config.batch_size}; the image "
        "side is the same for every variant: none adds crops or passes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
