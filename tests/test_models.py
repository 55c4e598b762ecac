"""The model layer: encoder shapes and norms, the offline model's vector layout, that its vectors mean something on
real photos, and the registry (cache, defaults, listing, errors). Runs offline: nothing comes from a model hub."""

from __future__ import annotations

import csv
import importlib.machinery
import os
import sys
import threading
import types

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from mediatag.models import clip
from mediatag.models.clip.visual import OpenClipVisualEncoder
from mediatag.models.registry import (
    OFFLINE_TEXT,
    OFFLINE_VISUAL,
    PRODUCTION_TEXT,
    PRODUCTION_VISUAL,
    default_text_model,
    default_visual_model,
    get_text_encoder,
    get_visual_encoder,
    is_visual_model,
    list_models,
    loaded_models,
)

from .mediafactory import COCO

os.environ.setdefault("HF_HUB_OFFLINE", "1")
N_PHOTOS = 40


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    t = truth[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(t)
    return float((hits[t] / (np.flatnonzero(t) + 1)).mean())


@pytest.fixture(scope="module")
def text():
    return get_text_encoder(OFFLINE_TEXT)


@pytest.fixture(scope="module")
def visual():
    return get_visual_encoder(OFFLINE_VISUAL)


@pytest.fixture(scope="module")
def photos(visual):
    """40 real photos, every dog and car photo among them, embedded once: (vectors, class sets)."""
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))
    sets = {r["file"]: set(filter(None, r["classes"].split(";"))) for r in rows}
    chosen = [f for f in sets if sets[f] & {"dog", "car"}]
    chosen += [f for f in sets if f not in chosen][:N_PHOTOS - len(chosen)]
    images = [ImageOps.exif_transpose(Image.open(COCO / "images" / f)).convert("RGB") for f in chosen]
    return visual.embed_images(images), [sets[f] for f in chosen]


def test_text_encoder_unit_rows_with_meaning(text):
    v = text.embed_texts(["a dog", "a puppy", "a quarterly tax form"])
    assert v.shape == (3, text.dim) == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert text.embed_texts([]).shape == (0, 384)


def test_production_minilm_name_serves_the_same_weights(text):
    prod = get_text_encoder(PRODUCTION_TEXT)
    assert prod.name == PRODUCTION_TEXT and prod.dim == 384
    sample = ["a red bus", "subtitles in a film"]
    np.testing.assert_allclose(prod.embed_texts(sample), text.embed_texts(sample), atol=1e-5)


def test_image_vector_layout(visual, photos):
    vecs, _ = photos
    assert visual.dim == visual.text_dims + visual.feature_dims == 384 + 1280
    assert vecs.shape == (N_PHOTOS, visual.dim) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs[:, :visual.text_dims], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), visual.image_norm, atol=1e-5)


def test_prompts_have_zero_feature_part_and_rank_like_conse(visual, photos):
    vecs, _ = photos
    q = visual.embed_texts(["a photo of a dog", "a red car on a street"])
    assert q.shape == (2, visual.dim) and q.dtype == np.float32
    assert not q[:, visual.text_dims:].any()
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs @ q.T, vecs[:, :visual.text_dims] @ q[:, :visual.text_dims].T, atol=1e-6)


@pytest.mark.parametrize("name, min_ap", [("dog", 0.6), ("car", 0.45), ("person", 0.5)])
def test_offline_model_ranks_matching_photos_first(visual, photos, name, min_ap):
    vecs, sets = photos
    truth = np.array([name in s for s in sets])
    ap = average_precision(vecs @ visual.embed_texts([f"a photo of a {name}"])[0], truth)
    assert ap >= min_ap and ap > truth.mean() + 0.15, (name, ap, truth.mean())


def test_offline_model_mean_ap_well_above_chance(visual, photos):
    vecs, sets = photos
    names = sorted({c for s in sets for c in s if sum(c in t for t in sets) >= 3})
    truth = np.array([[c in s for c in names] for s in sets])
    scores = vecs @ visual.embed_texts([f"a photo of a {c}" for c in names]).T
    aps = [average_precision(scores[:, j], truth[:, j]) for j in range(len(names))]
    assert np.mean(aps) > 2 * truth.mean(0).mean(), dict(zip(names, aps, strict=True))


def test_images_any_mode_and_batch_independent(visual):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8))
    images = [rgb, rgb.convert("L"), rgb.convert("RGBA"), rgb.convert("P"), rgb.resize((31, 17))]
    together = visual.embed_images(images)
    alone = np.concatenate([visual.embed_images([im]) for im in images])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    assert np.isfinite(together).all()
    assert visual.embed_images([]).shape == (0, visual.dim)
    assert visual.embed_texts([]).shape == (0, visual.dim)


def test_registry_loads_each_model_once_across_threads(text):
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(get_text_encoder(OFFLINE_TEXT))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(g is text for g in got)
    assert OFFLINE_TEXT in loaded_models()


def test_list_models_reports_availability_without_crashing():
    infos = {m.name: m for m in list_models()}
    assert {OFFLINE_VISUAL, OFFLINE_TEXT, PRODUCTION_VISUAL, PRODUCTION_TEXT} <= set(infos)
    conse = infos[OFFLINE_VISUAL]
    assert (conse.kind, conse.dim, conse.available) == ("visual", 1664, True)
    assert infos[OFFLINE_TEXT].available and infos[OFFLINE_TEXT].dim == 384
    assert infos[PRODUCTION_TEXT].available and infos[PRODUCTION_TEXT].kind == "text"
    clip_info = infos[PRODUCTION_VISUAL]
    assert clip_info.kind == "visual" and clip_info.dim == 512
    if not clip.installed():
        assert not clip_info.available and "open_clip" in clip_info.reason


def test_defaults_and_env_override(monkeypatch):
    monkeypatch.delenv("MEDIATAG_VISUAL_MODEL", raising=False)
    monkeypatch.delenv("MEDIATAG_TEXT_MODEL", raising=False)
    if not clip.installed():
        assert default_visual_model() == OFFLINE_VISUAL
    assert default_text_model() == PRODUCTION_TEXT  # served by the packaged copy where the hub is unreachable
    monkeypatch.setenv("MEDIATAG_VISUAL_MODEL", "open_clip:ViT-L-14/openai")
    monkeypatch.setenv("MEDIATAG_TEXT_MODEL", OFFLINE_TEXT)
    assert (default_visual_model(), default_text_model()) == ("open_clip:ViT-L-14/openai", OFFLINE_TEXT)
    assert "open_clip:ViT-L-14/openai" in {m.name for m in list_models()}


def test_bad_names_are_value_errors():
    assert is_visual_model(OFFLINE_VISUAL) and is_visual_model(PRODUCTION_VISUAL)
    assert not is_visual_model(OFFLINE_TEXT)
    with pytest.raises(ValueError, match="no-such-visual"):
        get_visual_encoder("no-such-visual")
    with pytest.raises(ValueError, match="visual model"):
        get_text_encoder(OFFLINE_VISUAL)
    with pytest.raises(ValueError, match="no-such-model"):
        get_text_encoder("no-such-model")
    with pytest.raises(ValueError, match="pretrained tag"):
        get_visual_encoder("open_clip:ViT-L-14")
    if not clip.installed():
        with pytest.raises(ValueError, match="open_clip is not installed"):
            get_visual_encoder(PRODUCTION_VISUAL)


def test_open_clip_spec_parsing():
    assert clip.parse_spec(PRODUCTION_VISUAL) == ("ViT-B-32", "laion2b_s34b_b79k")
    assert clip.parse_spec("open_clip:ViT-B-32") == ("ViT-B-32", "laion2b_s34b_b79k")
    assert clip.parse_spec("open_clip:ViT-L-14/openai") == ("ViT-L-14", "openai")
    with pytest.raises(ValueError):
        clip.parse_spec("ViT-B-32")


def test_open_clip_glue_with_a_stand_in_module(monkeypatch):
    """open_clip is not installed here: a stand-in with its API checks the loading and embedding code paths."""
    class TinyClip(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image = torch.nn.Linear(3, 8)
            self.text = torch.nn.Embedding(100, 8)

        def encode_image(self, x: torch.Tensor) -> torch.Tensor:
            return self.image(x.mean((2, 3)))

        def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.text(tokens).mean(1)

    def preprocess(im: Image.Image) -> torch.Tensor:
        assert im.mode == "RGB"
        return torch.from_numpy(np.asarray(im.resize((8, 8)), dtype=np.float32).transpose(2, 0, 1) / 255)

    stub = types.ModuleType("open_clip")
    stub.__spec__ = importlib.machinery.ModuleSpec("open_clip", None)
    stub.create_model_and_transforms = lambda arch, pretrained, device: (TinyClip(), None, preprocess)
    stub.get_tokenizer = lambda arch: lambda texts: torch.tensor([[len(t) % 100, 1, 2] for t in texts])
    stub.get_pretrained_cfg = lambda arch, tag: {}
    monkeypatch.setitem(sys.modules, "open_clip", stub)

    assert clip.installed() and clip.availability("open_clip:Tiny/test")[0]
    enc = OpenClipVisualEncoder("open_clip:Tiny/test", batch_size=2)
    assert enc.dim == 8
    images = [Image.new("L", (20, 10), 80), Image.new("RGB", (5, 5), (255, 0, 0)), Image.new("RGBA", (9, 9))]
    vi, vt = enc.embed_images(images), enc.embed_texts(["a", "bb", "ccc"])
    assert vi.shape == vt.shape == (3, 8) and vi.dtype == vt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vi, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vt, axis=1), 1.0, atol=1e-5)
    assert enc.embed_images([]).shape == enc.embed_texts([]).shape == (0, 8)
