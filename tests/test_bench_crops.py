"""The crop-ensemble bench (bench/bench_crops.py): the views cut what they say, the ensemble keeps the model's vector
layout, and the clothing subset is stratified, fixed and nested (a smaller subset lies inside a larger one, so the
views cached for the larger run serve the smaller)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_crops import CORNERS, VIEWS, clothing_subset, combine  # noqa: E402


def marked_photo() -> Image.Image:
    """400x500 with a distinct colour in each quadrant's outer corner pixel."""
    im = Image.new("RGB", (400, 500), (128, 128, 128))
    for xy, rgb in (((0, 0), (255, 0, 0)), ((399, 0), (0, 255, 0)), ((0, 499), (0, 0, 255)), ((399, 499), (9, 9, 9))):
        im.putpixel(xy, rgb)
    return im


def test_views_cut_and_mirror() -> None:
    im = marked_photo()
    assert VIEWS["flip"](im).getpixel((0, 0)) == (0, 255, 0)  # the top-right corner moved to the top-left
    assert VIEWS["centre80"](im).size == (320, 400)
    corners = {name: VIEWS[name](im) for name in CORNERS}
    assert {c.size for c in corners.values()} == {(240, 300)}
    # each corner crop keeps its own marked corner pixel, at its own corner
    assert corners["tl60"].getpixel((0, 0)) == (255, 0, 0)
    assert corners["tr60"].getpixel((239, 0)) == (0, 255, 0)
    assert corners["bl60"].getpixel((0, 299)) == (0, 0, 255)
    assert corners["br60"].getpixel((239, 299)) == (9, 9, 9)


def model_like(rng: np.random.Generator, n: int, class_dims: int = 6, feature_dims: int = 4) -> np.ndarray:
    """Vectors laid out as the offline model's: sqrt(p) over classes (unit), then unit features (scale 1)."""
    p = rng.dirichlet(np.ones(class_dims), n)
    f = rng.normal(size=(n, feature_dims))
    return np.hstack([np.sqrt(p), f / np.linalg.norm(f, axis=1, keepdims=True)]).astype(np.float32)


def test_combine_keeps_the_layout_and_means_the_views() -> None:
    rng = np.random.default_rng(0)
    a, b = model_like(rng, 5), model_like(rng, 5)
    np.testing.assert_allclose(combine(a[None], 6), a, atol=1e-6)  # one view: the vector itself
    for rule in ("mean", "meanp", "maxp"):
        out = combine(np.stack([a, b]), 6, rule)
        np.testing.assert_allclose(np.linalg.norm(out[:, :6], axis=1), 1, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(out[:, 6:], axis=1), 1, atol=1e-6)
    mean = combine(np.stack([a, b]), 6)[:, :6]
    want = a[:, :6] + b[:, :6]
    np.testing.assert_allclose(mean, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-6)
    meanp = combine(np.stack([a, b]), 6, "meanp")[:, :6]
    np.testing.assert_allclose(meanp**2, (a[:, :6] ** 2 + b[:, :6] ** 2) / 2, atol=1e-6)  # still sqrt of a p
    with pytest.raises(ValueError, match="unknown rule"):
        combine(np.stack([a, b]), 6, "median")


def test_clothing_subset_is_stratified_fixed_and_nested() -> None:
    sizes = [241, 123, 455, 60]
    files = [f"{k}-{i}.jpg" for k, n in enumerate(sizes) for i in range(n)]
    truth = np.zeros((len(files), len(sizes)), bool)
    truth[np.arange(len(files)), [k for k, n in enumerate(sizes) for _ in range(n)]] = True
    big = clothing_subset(files, truth, 300)
    assert len(set(big)) == len(big) == sum(round(n * 300 / len(files)) for n in sizes)
    np.testing.assert_array_equal(truth[big].sum(0), [round(n * 300 / len(files)) for n in sizes])
    np.testing.assert_array_equal(big, clothing_subset(list(files), truth, 300))
    small = clothing_subset(files, truth, 100)
    assert set(small) < set(big)
    # every prefix is stratified too: the first 40 hold each class in proportion, within one photo
    share = truth[big[:40]].sum(0) / 40
    assert np.all(np.abs(share - np.array(sizes) / len(files)) <= 1 / 40 + 1e-9)
