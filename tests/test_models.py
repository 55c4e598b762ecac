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
from mediatag.models.clip import hf as hf_clip
from mediatag.models.clip.visual import OpenClipVisualEncoder
from mediatag.models.conse.labels import imagenet_class_names
from mediatag.models.conse.relevance import prompt_noun
from mediatag.models.conse.wordnet import load_hierarchy
from mediatag.models.registry import (
    LEGACY_OFFLINE_VISUAL,
    OFFLINE_TEXT,
    OFFLINE_VISUAL,
    PRODUCTION_TEXT,
    PRODUCTION_VISUAL,
    STRONG_OFFLINE_VISUAL,
    default_text_model,
    default_visual_model,
    get_text_encoder,
    get_visual_encoder,
    is_visual_model,
    list_models,
    loaded_models,
)

from .clipfactory import make_tiny_clip
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
    return get_visual_encoder(STRONG_OFFLINE_VISUAL)


@pytest.fixture(scope="module")
def photos(visual):
    """40 real photos, every dog and car photo among them, embedded once: (vectors, class sets)."""
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))
    sets = {r["file"]: set(filter(None, r["classes"].split(";"))) for r in rows}
    chosen = [f for f in sets if sets[f] & {"dog", "car"}]
    chosen += [f for f in sets if f not in chosen][: N_PHOTOS - len(chosen)]
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
    assert visual.dim == visual.class_dims + visual.feature_dims == 1000 + 1280
    assert vecs.shape == (N_PHOTOS, visual.dim) and vecs.dtype == np.float32
    classes = vecs[:, : visual.class_dims]
    assert (classes >= 0).all()  # square roots of probabilities
    np.testing.assert_allclose(np.linalg.norm(classes, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), visual.image_norm, atol=1e-5)


def test_prompts_are_class_weights_with_zero_feature_part(visual, photos):
    vecs, _ = photos
    q = visual.embed_texts(["a photo of a dog", "a red car on a street"])
    assert q.shape == (2, visual.dim) and q.dtype == np.float32
    assert not q[:, visual.class_dims :].any() and (q >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs @ q.T, vecs[:, : visual.class_dims] @ q[:, : visual.class_dims].T, atol=1e-6)
    names = imagenet_class_names()
    top_car = {names[k] for k in np.argsort(-q[1])[:5]}
    assert top_car & {"sports car", "race car", "taxicab", "minivan", "convertible", "car wheel"}, top_car


def test_wordnet_finds_the_noun_a_prompt_names():
    wordnet = load_hierarchy()
    assert wordnet is not None, "WordNet is installed by scripts/install_system.sh (wordnet-base)"
    assert prompt_noun("a photo of two dogs in a park", wordnet) == "dog"
    assert prompt_noun("A picture of a dining table.", wordnet) == "dining_table"
    assert prompt_noun("mice", wordnet) == "mouse"
    assert prompt_noun("a photo of a qwxzvb", wordnet) is None


def test_wordnet_hyponyms_weigh_every_breed(visual):
    """ "dog" covers all 118 dog breeds, including those whose names MiniLM does not relate to dogs."""
    names = imagenet_class_names()
    below = visual.relevance.classes_below("a photo of a dog")
    assert len(below) == 118 and names.index("Leonberger") in below and names.index("tabby cat") not in below
    r = visual.embed_texts(["a photo of a dog"])[0]
    plain = visual.relevance.weights(["qwxzvb"], visual.text.embed_texts(["a photo of a dog"]))[0]  # no noun found
    leon = names.index("Leonberger")
    assert r[leon] > 0.05 and r[leon] > 3 * plain[leon], (r[leon], plain[leon])


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


def test_previous_offline_model_still_loads():
    """Datasets embedded with conse-effnet-lite0 keep working: its name loads the same 1664-d layout as before."""
    legacy = get_visual_encoder(LEGACY_OFFLINE_VISUAL)
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))[:6]
    images = [ImageOps.exif_transpose(Image.open(COCO / "images" / r["file"])).convert("RGB") for r in rows]
    vecs, q = legacy.embed_images(images), legacy.embed_texts(["a photo of a dog"])
    assert legacy.dim == vecs.shape[1] == q.shape[1] == 384 + 1280
    np.testing.assert_allclose(np.linalg.norm(vecs[:, :384], axis=1), 1.0, atol=1e-5)
    assert not q[:, 384:].any()


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
    conse = infos[STRONG_OFFLINE_VISUAL]
    assert (conse.kind, conse.dim, conse.available) == ("visual", 2280, True) and "WordNet" in conse.reason
    assert OFFLINE_VISUAL == STRONG_OFFLINE_VISUAL  # the offline default since 2026-12-02
    assert (infos[LEGACY_OFFLINE_VISUAL].dim, infos[LEGACY_OFFLINE_VISUAL].available) == (1664, True)
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
    assert is_visual_model(LEGACY_OFFLINE_VISUAL)
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
    asked: list[tuple[str, str]] = []

    def create(arch: str, pretrained: str, device: str) -> tuple[TinyClip, None, object]:
        asked.append((arch, pretrained))
        return TinyClip(), None, preprocess

    stub.create_model_and_transforms = create
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
    assert asked == [("Tiny", "test")]


def test_open_clip_weights_from_a_local_file_or_folder(tmp_path, monkeypatch):
    """The production default reads its weights from MEDIATAG_CLIP_DIR; a spec may name a weights file itself."""
    monkeypatch.delenv("MEDIATAG_CLIP_DIR", raising=False)
    assert clip.local_weights(clip.DEFAULT_ARCH, clip.DEFAULT_PRETRAINED) is None
    weights = tmp_path / "open_clip_model.safetensors"
    weights.write_bytes(b"not read here")
    monkeypatch.setenv("MEDIATAG_CLIP_DIR", str(tmp_path))
    assert clip.local_weights(clip.DEFAULT_ARCH, clip.DEFAULT_PRETRAINED) == weights
    assert clip.local_weights("ViT-L-14", "openai") is None  # the folder holds the production model only
    assert clip.parse_spec(f"open_clip:ViT-L-14/{weights}") == ("ViT-L-14", str(weights))
    assert clip.local_weights("ViT-L-14", str(weights)) == weights
    missing = f"open_clip:ViT-L-14/{tmp_path / 'nope.bin'}"
    ok, reason = clip.availability(missing)
    assert not ok and "nope.bin" in reason


# transformers' CLIP: a real model (random weights, real tokenizer and preprocessing) loaded from a local folder.


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip", projection_dim=24)


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_dir):
    return get_visual_encoder(f"{hf_clip.PREFIX}{tiny_clip_dir}")


def test_hf_clip_listing_reads_the_dimension_without_loading(tiny_clip_dir, monkeypatch):
    name = f"{hf_clip.PREFIX}{tiny_clip_dir}"
    monkeypatch.setenv("MEDIATAG_VISUAL_MODEL", name)
    info = {m.name: m for m in list_models()}[name]
    assert (info.kind, info.dim, info.available) == ("visual", 24, True)
    assert is_visual_model(name)


def test_hf_clip_towers_tokenizer_and_preprocessing(tiny_clip, tiny_clip_dir):
    assert tiny_clip.dim == 24 and tiny_clip.name == f"{hf_clip.PREFIX}{tiny_clip_dir}"
    tokens = tiny_clip._tokenizer.tokenize("a photo of a dog")
    assert "photo</w>" in tokens and tokens[0] == "a</w>"  # merges learned from the corpus, CLIP's word ending
    prompts = ["a photo of a dog", "a red car on a street " * 40, "a cat"]  # the second is past 77 tokens
    together = tiny_clip.embed_texts(prompts)
    alone = np.concatenate([tiny_clip.embed_texts([p]) for p in prompts])
    assert together.shape == (3, 24) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding is masked: a prompt's batch does not matter
    assert np.abs(together[0] - together[2]).max() > 1e-3
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    images = [photo, photo.convert("L"), photo.convert("RGBA"), Image.new("RGB", (300, 20), (200, 10, 10))]
    vi = tiny_clip.embed_images(images)
    assert vi.shape == (4, 24) and vi.dtype == np.float32 and np.isfinite(vi).all()
    np.testing.assert_allclose(np.linalg.norm(vi, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vi, np.concatenate([tiny_clip.embed_images([im]) for im in images]), atol=1e-5)
    assert np.abs(vi[0] - vi[3]).max() > 1e-3
    assert tiny_clip.embed_images([]).shape == tiny_clip.embed_texts([]).shape == (0, 24)


def test_hf_clip_matches_transformers_run_directly(tiny_clip, tiny_clip_dir):
    """The glue adds nothing: the checkpoint's own processor, tokenizer and towers give the same vectors."""
    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

    from mediatag.models.clip.hf import _features

    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_clip_dir)
    processor = CLIPImageProcessorPil.from_pretrained(tiny_clip_dir)
    photo = ImageOps.exif_transpose(Image.open(sorted((COCO / "images").glob("*.jpg"))[0])).convert("RGB")
    with torch.inference_mode():
        t = _features(model.get_text_features(**tok(["a photo of a dog"], return_tensors="pt"))).numpy()
        pixels = processor(images=[photo], return_tensors="pt")["pixel_values"]
        assert tuple(pixels.shape) == (1, 3, 32, 32)
        i = _features(model.get_image_features(pixel_values=pixels)).numpy()
    np.testing.assert_allclose(tiny_clip.embed_texts(["a photo of a dog"]), t / np.linalg.norm(t), atol=1e-5)
    np.testing.assert_allclose(tiny_clip.embed_images([photo]), i / np.linalg.norm(i), atol=1e-5)


def test_hf_clip_through_the_embedding_service(service, service_token, tiny_clip, tiny_clip_dir, coco_files):
    import json
    import urllib.request

    name = f"{hf_clip.PREFIX}{tiny_clip_dir}"

    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(
            service + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {service_token}"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    out = post("/embed/image", {"paths": [str(p) for p in coco_files[:2]], "model": name})
    assert out["model"] == name and out["dim"] == 24 and np.array(out["vectors"]).shape == (2, 24)
    photos = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in coco_files[:2]]
    np.testing.assert_allclose(out["vectors"], tiny_clip.embed_images(photos), atol=1e-4)
    out = post("/embed/text", {"texts": ["a photo of a dog"], "model": name})
    assert out["dim"] == 24
    np.testing.assert_allclose(out["vectors"], tiny_clip.embed_texts(["a photo of a dog"]), atol=1e-5)


def test_hf_clip_bad_folders_are_value_errors(tmp_path, tiny_clip_dir):
    with pytest.raises(ValueError, match="no such folder"):
        get_visual_encoder(f"{hf_clip.PREFIX}{tmp_path / 'absent'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a transformers CLIP folder"):
        get_visual_encoder(f"{hf_clip.PREFIX}{tmp_path / 'empty'}")
    with pytest.raises(ValueError, match="names no folder"):
        get_visual_encoder(hf_clip.PREFIX)
    not_clip = tmp_path / "not-clip"
    not_clip.mkdir()
    for f in ("model.safetensors", "preprocessor_config.json"):
        (not_clip / f).write_bytes((tiny_clip_dir / f).read_bytes())
    (not_clip / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="not a CLIP model"):
        get_visual_encoder(f"{hf_clip.PREFIX}{not_clip}")
    ok, reason = hf_clip.availability("hf-clip:someone/not-cached-anywhere")
    assert not ok and "hub cache" in reason  # HF_HUB_OFFLINE is set for these tests


def test_clip_dir_makes_the_transformers_clip_the_default(tiny_clip_dir, monkeypatch):
    monkeypatch.delenv("MEDIATAG_VISUAL_MODEL", raising=False)
    monkeypatch.setenv("MEDIATAG_CLIP_DIR", str(tiny_clip_dir))
    expected = PRODUCTION_VISUAL if clip.availability(PRODUCTION_VISUAL)[0] else f"{hf_clip.PREFIX}{tiny_clip_dir}"
    assert default_visual_model() == expected
    assert f"{hf_clip.PREFIX}{tiny_clip_dir}" in {m.name for m in list_models()}
    monkeypatch.setenv("MEDIATAG_CLIP_DIR", str(tiny_clip_dir / "absent"))
    if not clip.installed():
        assert default_visual_model() == OFFLINE_VISUAL
