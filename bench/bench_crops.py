"""Zero-shot AP of the offline default with its image vectors averaged over crops and flips (issue 29).

Same AP as bench_zero_shot.py (prompt·image per tag, the tag name as a user types it, read as conse-effnet-lite02-wn2
reads it), but each photo's vector is an ensemble over views of the photo, each view embedded by the unchanged model
(both networks, window pooling and all, the view squashed to the networks' square inputs as the whole photo is):
  full       the photo (today's single view)
  flip       the photo mirrored left-right
  centre80   the central 80 % of width and height (a 1.25x zoom)
  tl60 ...   the four corners, 60 % of width and height each (1.67x zoom; together they cover the photo)
Ensemble rule (fixed before measuring): the mean of the views' unit class vectors sqrt(p), renormalised. Two other
rules are printed for the largest ensemble: mean of p (then sqrt) and per-class max of p.

Photos: all 128 COCO photos (31 classes with >= 5 positives, tune/held split and >= 8 as in bench_zero_shot.py) and a
fixed stratified subset of the clothing photos (CPU: every view costs a full embedding): per class, the files in
order of sha256(file name), the first round(n_class * N / 3068) of them (N = --clothing-photos, 800). No random
seed; the same subset for every ensemble, and the single view's AP is recomputed on it in the same run.
Vectors are cached per (model, view pixels) under ~/.cache/mediatag/zero-shot-views (MEDIATAG_ZERO_SHOT_CACHE's
sibling); the full view comes from bench_zero_shot.py's cache. Cost: views per photo x the measured seconds of one
view (SPEED_PHOTOS clothing photos, this run, MEDIATAG_TORCH_THREADS as set).

    MEDIATAG_TORCH_THREADS=1 python bench/bench_crops.py [--clothing-photos 800] [--views flip,centre80]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_zero_shot import (
    average_precision,
    half_of,
    image_vectors,
    photos_per_second,
    scores,
    zero_shot_sets,
)
from embedding_cache import CachedVisualEncoder
from PIL import Image, ImageOps

from mediatag.media.images import load_image
from mediatag.models.conse.classprob import ClassProbVisualEncoder
from mediatag.models.registry import STRONG_OFFLINE_VISUAL, get_visual_encoder


def crop(left: float, top: float, side: float) -> Callable[[Image.Image], Image.Image]:
    """The box of `side` x the photo's width and height whose top-left corner is at (left, top) x (width, height)."""

    def view(im: Image.Image) -> Image.Image:
        w, h = im.size
        return im.crop((round(left * w), round(top * h), round((left + side) * w), round((top + side) * h)))

    return view


VIEWS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "flip": ImageOps.mirror,
    "centre80": crop(0.1, 0.1, 0.8),
    "tl60": crop(0.0, 0.0, 0.6),
    "tr60": crop(0.4, 0.0, 0.6),
    "bl60": crop(0.0, 0.4, 0.6),
    "br60": crop(0.4, 0.4, 0.6),
}
CORNERS = ("tl60", "tr60", "bl60", "br60")
ENSEMBLES: list[tuple[str, tuple[str, ...]]] = [
    ("full (single view, today)", ()),
    ("full + flip", ("flip",)),
    ("full + centre 0.8", ("centre80",)),
    ("full + flip + centre 0.8", ("flip", "centre80")),
    ("full + 4 corners 0.6", CORNERS),
    ("full + centre 0.8 + 4 corners 0.6", ("centre80", *CORNERS)),
    ("full + flip + centre 0.8 + 4 corners 0.6", ("flip", "centre80", *CORNERS)),
]


def combine(views: np.ndarray, class_dims: int, rule: str = "mean") -> np.ndarray:
    """views (n_views, n, dim) image vectors → (n, dim): class part by `rule` (mean: mean of the unit sqrt(p) vectors,
    renormalised; meanp: sqrt of the mean p; maxp: sqrt of the per-class max p, renormalised), feature part as the
    mean of the views' features rescaled to the first view's norm (the model's layout: every image vector has one
    norm)."""
    c = views[:, :, :class_dims].astype(np.float64)
    if rule == "mean":
        part = c.mean(0)
    elif rule == "meanp":
        part = np.sqrt((c**2).mean(0))
    elif rule == "maxp":
        part = np.sqrt((c**2).max(0))
    else:
        raise ValueError(f"unknown rule {rule!r}")
    out = np.empty(views.shape[1:], np.float32)
    out[:, :class_dims] = part / np.linalg.norm(part, axis=1, keepdims=True)
    f = views[:, :, class_dims:].mean(0)
    scale = np.linalg.norm(views[0, :, class_dims:], axis=1, keepdims=True)
    out[:, class_dims:] = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12) * scale
    return out


def clothing_subset(files: list[str], truth: np.ndarray, n: int) -> np.ndarray:
    """Indices of a stratified subset of about n photos (one class a photo): per class the first round(n_class * n /
    total) files in sha256 order. Ordered so that every prefix is stratified too (by rank / class size)."""
    rank_key = [hashlib.sha256(f.encode()).hexdigest() for f in files]
    chosen: list[tuple[float, int]] = []
    cls = truth.argmax(1)
    for k in range(truth.shape[1]):
        members = sorted(np.flatnonzero(cls == k), key=lambda i: rank_key[i])
        take = round(len(members) * n / len(files))
        chosen += [((r + 0.5) / take, int(i)) for r, i in enumerate(members[:take])]
    return np.array([i for _, i in sorted(chosen)])


def view_vectors(cached: CachedVisualEncoder, folder: Path, files: list[str], view: str) -> np.ndarray:
    """One view of every photo, from the cache where it is there; progress every 64 photos."""
    out, start, misses = [], time.perf_counter(), cached.misses
    for i in range(0, len(files), 16):
        ims = [VIEWS[view](load_image(folder / "images" / f)) for f in files[i : i + 16]]
        out.append(cached.embed_images(ims))
        fresh = cached.misses - misses
        if fresh and (i // 16) % 4 == 3:
            el = time.perf_counter() - start
            print(f"  {view} {folder.name}: {i + len(ims)}/{len(files)} ({fresh} embedded, {el / fresh:.2f} s each)")
    return np.concatenate(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clothing-photos", type=int, default=800, help="size of the stratified clothing subset")
    ap.add_argument("--views", default=",".join(VIEWS), help="views to embed (ensembles needing others are skipped)")
    args = ap.parse_args()
    views = [v for v in args.views.split(",") if v]
    unknown = sorted(set(views) - set(VIEWS))
    if unknown:
        ap.error(f"unknown views {unknown}: use some of {', '.join(VIEWS)}")
    sets = zero_shot_sets()
    if sets is None:
        return 1
    encoder = get_visual_encoder(STRONG_OFFLINE_VISUAL)
    assert isinstance(encoder, ClassProbVisualEncoder)
    root = os.environ.get("MEDIATAG_ZERO_SHOT_CACHE")
    cached = CachedVisualEncoder(
        encoder, (Path(root).parent if root else Path.home() / ".cache" / "mediatag") / "zero-shot-views"
    )

    sub = clothing_subset(sets.cloth_files, sets.cloth_truth, args.clothing_photos)
    cloth_files = [sets.cloth_files[i] for i in sub]
    cloth_truth = sets.cloth_truth[sub]
    half_a = np.array([half_of(f) for f in cloth_files])
    tune = np.array([half_of(c) for c in sets.coco_classes])
    eight = sets.coco_truth.sum(0) >= 8
    print(
        f"COCO: {len(sets.coco_files)} photos, {len(sets.coco_classes)} classes ({tune.sum()} tune, "
        f"{(~tune).sum()} held, {eight.sum()} with >= 8 positives). Clothing: stratified subset of {len(sub)} of "
        f"{len(sets.cloth_files)} photos ({half_a.sum()} in A, {(~half_a).sum()} in B), positives per tag "
        + ", ".join(f"{t} {n}" for t, n in zip(sets.cloth_tags, cloth_truth.sum(0), strict=True)),
        flush=True,
    )
    coco_v = {"full": image_vectors(encoder, sets.coco, sets.coco_files)}
    cloth_v = {"full": image_vectors(encoder, sets.clothing, sets.cloth_files)[sub]}
    for view in views:  # COCO's 128 photos first, then the clothing subset, each in the order given
        coco_v[view] = view_vectors(cached, sets.coco, sets.coco_files, view)
    for view in views:
        cloth_v[view] = view_vectors(cached, sets.clothing, cloth_files, view)
    seconds = 1.0 / photos_per_second(encoder, sets.clothing, sets.cloth_files)

    def row(label: str, coco_x: np.ndarray, cloth_x: np.ndarray, n_views: int) -> None:
        sc = scores(encoder, encoder.relevance, coco_x, sets.coco_classes)
        c_ap = np.array([average_precision(sc[:, j], sets.coco_truth[:, j]) for j in range(sc.shape[1])])
        sl = scores(encoder, encoder.relevance, cloth_x, sets.cloth_tags)

        def cloth(mask: np.ndarray) -> float:
            return float(np.mean([average_precision(sl[mask, j], cloth_truth[mask, j]) for j in range(sl.shape[1])]))

        print(
            f"{label:56s} {c_ap.mean():8.3f} {c_ap[tune].mean():5.3f} {c_ap[~tune].mean():5.3f} "
            f"{c_ap[eight].mean():4.3f} | {cloth(np.ones(len(sub), bool)):12.3f} {cloth(half_a):5.3f} "
            f"{cloth(~half_a):5.3f} | {n_views:5d} {n_views * seconds:7.2f}",
            flush=True,
        )

    head = "COCO all  tune  held  >=8 | clothing all    A     B | views  s/photo"
    print(f"{'image vector (rule: mean of unit vectors)':56s} {head}")
    largest = None
    for label, extra in ENSEMBLES:
        if not set(extra) <= set(coco_v):
            continue
        names = ("full", *extra)
        coco_stack = np.stack([coco_v[v] for v in names])
        cloth_stack = np.stack([cloth_v[v] for v in names])
        row(label, combine(coco_stack, encoder.class_dims), combine(cloth_stack, encoder.class_dims), len(names))
        largest = (label, coco_stack, cloth_stack) if extra else largest
    if largest is not None:
        label, coco_stack, cloth_stack = largest
        for rule in ("meanp", "maxp"):
            row(
                f"  {label.split(' (')[0]}, rule {rule}",
                combine(coco_stack, encoder.class_dims, rule),
                combine(cloth_stack, encoder.class_dims, rule),
                len(coco_stack),
            )
    print(
        f"cost: one view {seconds:.2f} s/photo ({encoder.runtime}, MEDIATAG_TORCH_THREADS="
        f"{os.environ.get('MEDIATAG_TORCH_THREADS', 'unset')}), measured this run on 16 clothing photos; "
        f"s/photo = views x that. Cache: {cached.hits} vectors read, {cached.misses} embedded"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
