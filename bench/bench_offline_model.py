"""Quality and speed of the offline visual models on real labeled photos.

mAP over the COCO classes with at least 5 positives among the 128 shared photos (../shared/data/coco128-train2017),
each class queried with the prompt "a photo of a {class}" and every photo ranked by prompt·image. Every figure is
given on all 128 photos and on two fixed halves, A and B (by a hash of the file name). The knobs of the shipped
model (temperature, window weights, tau, WordNet weight, sqrt) were chosen by mAP on half A only; half B is the
held-out figure. Rows: the variants behind the previous model `conse-effnet-lite0` (marked °), the steps to the
current `conse-effnet-lite02-wn` (marked *), sensitivity around it, prompt wordings, a linear probe showing what
the appended image features add for classifiers trained from labels, then speed.

    HF_HUB_OFFLINE=1 MEDIATAG_SHARED_DATA=/path/to/shared/data python bench/bench_offline_model.py
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from mediatag.models.base import l2_normalize
from mediatag.models.conse.classprob import ClassProbConfig, ClassProbVisualEncoder
from mediatag.models.conse.labels import class_embeddings, imagenet_class_names
from mediatag.models.conse.network import forward, forward_multiscale, load_network, to_batch
from mediatag.models.conse.visual import ConseConfig, ConseVisualEncoder
from mediatag.models.registry import (
    LEGACY_OFFLINE_VISUAL,
    OFFLINE_TEXT,
    STRONG_OFFLINE_VISUAL,
    get_text_encoder,
    get_visual_encoder,
)
from mediatag.sample_data import shared_data_dir


def coco_folder() -> Path:
    """MEDIATAG_COCO_DIR (the coco128-train2017 folder itself), else coco128-train2017 in the shared data folder
    (MEDIATAG_SHARED_DATA, or shared/data beside the checkout). The figures are for those 128 photos only."""
    configured = os.environ.get("MEDIATAG_COCO_DIR")
    if configured:
        return Path(configured)
    shared = shared_data_dir()
    return shared / "coco128-train2017" if shared else Path("coco128-train2017")


COCO = coco_folder()
MIN_POSITIVES = 5
SPEED_PHOTOS = 32


def load_photos() -> tuple[list[Image.Image], list[str], np.ndarray, np.ndarray]:
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))
    images = [ImageOps.exif_transpose(Image.open(COCO / "images" / r["file"])).convert("RGB") for r in rows]
    sets = [set(filter(None, r["classes"].split(";"))) for r in rows]
    classes = sorted({c for s in sets for c in s})
    truth = np.array([[c in s for c in classes] for s in sets])
    keep = truth.sum(0) >= MIN_POSITIVES
    half_a = np.array([int(hashlib.sha256(r["file"].encode()).hexdigest(), 16) % 2 == 0 for r in rows])
    return images, [c for c, k in zip(classes, keep, strict=True) if k], truth[:, keep], half_a


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    t = truth[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


def mean_ap(scores: np.ndarray, truth: np.ndarray, min_pos: int = 1) -> float:
    return float(
        np.mean(
            [
                average_precision(scores[:, j], truth[:, j])
                for j in range(truth.shape[1])
                if truth[:, j].sum() >= min_pos
            ]
        )
    )


def softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = x / temperature
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def outputs(net: object, images: list[Image.Image], size: int) -> dict[str, np.ndarray]:
    """Global logits, half- and third-window logits and features of one network at one input size."""
    g, w2, w3, f = [], [], [], []
    with torch.inference_mode():
        for i in range(0, len(images), 8):
            a, b, c, d = forward_multiscale(net, to_batch(images[i : i + 8], size))
            g.append(a.numpy()), w2.append(b.numpy()), w3.append(c.numpy()), f.append(d.numpy())
    return {k: np.concatenate(v) for k, v in (("g", g), ("w2", w2), ("w3", w3), ("f", f))}


def crops_224(net: object, images: list[Image.Image]) -> np.ndarray:
    """Logits of the classifier run on separate crops: whole image, 2×2 tiles, centre (n, 6, 1000)."""
    out = []
    for im in images:
        w, h = im.size
        boxes = [
            (0, 0, w, h),
            *((j * w // 2, i * h // 2, (j + 1) * w // 2, (i + 1) * h // 2) for i in range(2) for j in range(2)),
            (w // 4, h // 4, 3 * w // 4, 3 * h // 4),
        ]
        with torch.inference_mode():
            g, _, _ = forward(net, to_batch([im.crop(b) for b in boxes], 224))
        out.append(g.numpy())
    return np.stack(out)


def conse(probs: np.ndarray, class_vecs: np.ndarray, top_t: int = 20) -> np.ndarray:
    top = np.argpartition(-probs, top_t - 1, axis=1)[:, :top_t]
    return l2_normalize(np.einsum("nt,ntd->nd", np.take_along_axis(probs, top, 1), class_vecs[top]))


def pooled(out: dict[str, np.ndarray], temperature: float, half: float, third: float = 0.0) -> np.ndarray:
    """(1 - half - third)·p(whole) + half·max over half windows + third·max over third windows."""
    p = (1 - half - third) * softmax(out["g"], temperature)
    if half:
        p = p + half * softmax(out["w2"], temperature).max(1)
    if third:
        p = p + third * softmax(out["w3"], temperature).max(1)
    return p


def linear_probe(x: np.ndarray, truth: np.ndarray) -> float | None:
    """4-fold cross-validated logistic regression per class, mAP of the held-out scores (needs scikit-learn)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
    except ImportError:
        return None
    scores = np.zeros(truth.shape)
    for j in range(truth.shape[1]):
        for tr, te in StratifiedKFold(4, shuffle=True, random_state=0).split(x, truth[:, j]):
            clf = LogisticRegression(C=10.0, max_iter=3000).fit(x[tr], truth[tr, j])
            scores[te, j] = clf.decision_function(x[te])
    return mean_ap(scores, truth)


def timed(fn: Callable[[], object], n: int) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, n / (time.perf_counter() - start)


def main() -> int:
    if not (COCO / "labels.csv").is_file():
        print(f"no photos at {COCO}; set MEDIATAG_SHARED_DATA to the folder holding coco128-train2017", file=sys.stderr)
        return 1
    images, classes, truth, half_a = load_photos()
    prompts_text = [f"a photo of a {c}" for c in classes]
    text = get_text_encoder(OFFLINE_TEXT)
    legacy = get_visual_encoder(LEGACY_OFFLINE_VISUAL)
    new = get_visual_encoder(STRONG_OFFLINE_VISUAL)
    assert isinstance(legacy, ConseVisualEncoder) and isinstance(new, ClassProbVisualEncoder)
    cfg = new.config
    print(
        f"{len(images)} photos ({half_a.sum()} in half A, {(~half_a).sum()} in B), {len(classes)} classes with "
        f">= {MIN_POSITIVES} positives, positive rate {truth.mean():.3f}, torch threads {torch.get_num_threads()}"
    )
    print(f"WordNet: {'found' if new.relevance.wordnet is not None else 'NOT FOUND (apt-get install wordnet-base)'}\n")

    prompts = text.embed_texts(prompts_text)  # MiniLM, for the ConSE rows
    plain = class_embeddings(text, "{}", imagenet_class_names())
    photo = legacy.class_vectors  # "a photo of a {}"
    lite0_net = load_network("efficientnet-lite0")  # PyTorch: the knobs below need other sizes and crops
    lite0 = {s: outputs(lite0_net, images, s) for s in (224, 288, 352, 416)}
    lite2_net = load_network("efficientnet-lite2")
    lite2 = {s: outputs(lite2_net, images, s) for s in (352, 448)}
    crops = crops_224(lite0_net, images)
    rows: list[tuple[str, np.ndarray]] = []  # label, scores (n, classes)

    def add_conse(label: str, probs: np.ndarray, vecs: np.ndarray = photo, top_t: int = 20) -> None:
        rows.append((label, conse(probs, vecs, top_t) @ prompts.T))

    add_conse("° ConSE top-20, 224 whole image, T=1, class names as-is", pooled(lite0[224], 1, 0), plain)
    add_conse("°   + class names embedded as 'a photo of a {name}'", pooled(lite0[224], 1, 0))
    add_conse("°   + temperature T=2", pooled(lite0[224], 2, 0))
    add_conse("° 6 crops at 224 (whole, 2x2 tiles, centre), mean p, T=1", softmax(crops, 1).mean(1))
    add_conse("° 6 crops at 224, mean p, T=2", softmax(crops, 2).mean(1))
    add_conse(
        "° 6 crops at 224, ½ whole + ½ max over tiles, T=2",
        0.5 * softmax(crops[:, 0], 2) + 0.5 * softmax(crops[:, 1:5], 2).max(1),
    )
    for s in (288, 352, 416):
        add_conse(f"° one pass at {s}, whole image, T=2", pooled(lite0[s], 2, 0))
    for s in (224, 288, 416):
        add_conse(f"° one pass at {s}, ½ whole + ½ max of 3x3 half windows, T=2", pooled(lite0[s], 2, 0.5))
    for t in (1.5, 3.0):
        add_conse(f"° one pass at 352, windows, T={t}", pooled(lite0[352], t, 0.5))
    for k in (10, 50):
        add_conse(f"° one pass at 352, windows, T=2, top-{k}", pooled(lite0[352], 2, 0.5), top_t=k)
    legacy_vecs, legacy_speed = timed(lambda: legacy.embed_images(images), len(images))
    rows.append(
        (
            "° conse-effnet-lite0 as shipped (public API): 352, windows, T=2, top-20",
            legacy_vecs @ legacy.embed_texts(prompts_text).T,
        )
    )

    # The current model's steps. Prompt side: relevance weights over the 1000 classes (relevance.py).
    relevance = new.relevance
    weights_wn = new.embed_texts(prompts_text)[:, : new.class_dims]
    weights_no_wn = relevance.weights(["" for _ in prompts_text], prompts)  # "" names no noun: no WordNet

    def class_scores(p: np.ndarray, weights: np.ndarray, power: float = 0.5) -> np.ndarray:
        return l2_normalize(p**power) @ weights.T

    def relevance_with(tau: float) -> np.ndarray:
        sims = l2_normalize(prompts - relevance.mean) @ relevance.centred.T
        r = np.exp((sims - sims.max(1, keepdims=True)) / tau)
        for row, prompt in enumerate(prompts_text):
            r[row, relevance.classes_below(prompt)] += cfg.wordnet_weight
        return l2_normalize(r)

    p0 = pooled(lite0[352], 2, 0.5)
    rows.append(
        ("  class weights: lite0 352, windows, T=2; sqrt(p)·r, tau .12, no WordNet", class_scores(p0, weights_no_wn))
    )
    rows.append(("    + WordNet hyponyms (γ=.5)", class_scores(p0, weights_wn)))
    p0b = pooled(lite0[352], cfg.temperature, cfg.half_window_weight, cfg.third_window_weight)
    rows.append(("    + third windows, T=3 (lite0 alone)", class_scores(p0b, weights_wn)))
    p2_352 = pooled(lite2[352], cfg.temperature, cfg.half_window_weight, cfg.third_window_weight)
    p2 = pooled(lite2[448], cfg.temperature, cfg.half_window_weight, cfg.third_window_weight)
    rows.append(("    lite2 alone at 352", class_scores(p2_352, weights_wn)))
    rows.append(("    lite2 alone at 448", class_scores(p2, weights_wn)))
    rows.append(("    + lite2 at 352 (mean of the two networks' p)", class_scores((p0b + p2_352) / 2, weights_wn)))
    p_new = (p0b + p2) / 2
    rows.append(
        ("    + lite2 at 448 (the shipped configuration, from the bench's passes)", class_scores(p_new, weights_wn))
    )
    new_vecs, new_speed = timed(lambda: new.embed_images(images), len(images))
    rows.append(("* conse-effnet-lite02-wn as shipped (public API)", new_vecs @ new.embed_texts(prompts_text).T))
    rows.append(("  shipped without WordNet (γ=0)", class_scores(p_new, weights_no_wn)))
    rows.append(("  shipped, p instead of sqrt(p)", class_scores(p_new, weights_wn, 1.0)))
    for tau in (0.06, 0.25):
        rows.append((f"  shipped, tau={tau}", class_scores(p_new, relevance_with(tau))))
    rows.append(
        (
            "  shipped, T=2",
            class_scores((pooled(lite0[352], 2, 0.3, 0.3) + pooled(lite2[448], 2, 0.3, 0.3)) / 2, weights_wn),
        )
    )
    rows.append(("  shipped image side, ConSE prompt side (top-20)", conse(p_new, photo) @ prompts.T))

    width = max(len(r[0]) for r in rows)
    print(f"{'variant':<{width}}  mAP all   half A   half B")
    for label, scores in rows:
        print(
            f"{label:<{width}}  {mean_ap(scores, truth):7.3f}  {mean_ap(scores[half_a], truth[half_a]):7.3f}  "
            f"{mean_ap(scores[~half_a], truth[~half_a]):7.3f}"
        )
    print("(° previous model's variants; * current offline default; knobs chosen on half A, B held out)")

    print(f"\nshipped model, other prompt wordings ({len(classes)} classes), mAP all:")
    for template in ("{}", "a {}", "a photo of a {}", "a picture of a {}", "a photo of {}s"):
        q = new.embed_texts([template.format(c) for c in classes])
        ql = legacy.embed_texts([template.format(c) for c in classes])
        print(
            f"  {template!r:<22} {mean_ap(new_vecs @ q.T, truth):.3f}   (conse-effnet-lite0: "
            f"{mean_ap(legacy_vecs @ ql.T, truth):.3f})"
        )

    probe_rows = [
        ("conse-effnet-lite0 whole vector (1664)", legacy_vecs),
        ("lite02-wn class part only (1000)", new_vecs[:, : new.class_dims]),
        ("lite02-wn feature part only (1280)", new_vecs[:, new.class_dims :]),
        (f"lite02-wn whole vector ({new.dim})", new_vecs),
    ]
    probe = [(label, linear_probe(x, truth)) for label, x in probe_rows]
    if all(v is not None for _, v in probe):
        print("\nlinear probe from labels (4-fold CV logistic regression, C=10), held-out mAP:")
        for label, v in probe:
            print(f"  {label:<40} {v:.3f}")

    few = images[:SPEED_PHOTOS]
    fast = ConseVisualEncoder("bench-224", text, ConseConfig(input_size=224, window_weight=0.0))
    fast.embed_images(few[:2])
    lite2_only = ClassProbVisualEncoder(
        "bench-lite2-352", text, ClassProbConfig(networks=(("efficientnet-lite2", 352),), wordnet_weight=0.0)
    )
    lite0_only = ClassProbVisualEncoder(
        "bench-lite0-352",
        text,
        ClassProbConfig(
            networks=(("efficientnet-lite0", 352),), features_from="efficientnet-lite0", wordnet_weight=0.0
        ),
    )
    files = sorted((COCO / "images").iterdir())[:SPEED_PHOTOS]
    speeds = [
        ("* conse-effnet-lite02-wn (lite0 352 + lite2 448)", new_speed, len(images)),
        ("° conse-effnet-lite0 (lite0 352)", legacy_speed, len(images)),
        ("  class-weight model, lite0 352 only", timed(lambda: lite0_only.embed_images(few), len(few))[1], len(few)),
        ("  class-weight model, lite2 352 only", timed(lambda: lite2_only.embed_images(few), len(few))[1], len(few)),
        ("° one pass at 224, whole image", timed(lambda: fast.embed_images(few), len(few))[1], len(few)),
        ("° 6 crops at 224", timed(lambda: crops_224(lite0_net, few), len(few))[1], len(few)),
        (
            "* lite02-wn, JPEG decode included",
            timed(
                lambda: new.embed_images([ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in files]),
                len(files),
            )[1],
            len(files),
        ),
    ]
    print(
        f"\nspeed on {torch.get_num_threads()} torch threads, batches of {cfg.batch_size} "
        "(shared machine: compare rows with each other, not across runs):"
    )
    for label, value, n in speeds:
        print(f"  {label:<50} {value:6.1f} images/s  ({n} photos)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
