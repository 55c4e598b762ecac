"""The offline models on ONNX Runtime (models/conse/runtime.py): the same vectors as the PyTorch reference on real
photos, the export cached under the model cache and made again when damaged, PyTorch as the fallback, and the
ingest pipeline storing the ONNX path's vectors. Runs offline: the graphs are exported from the packaged weights."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from mediatag.ingest import IngestOptions, ingest
from mediatag.models.conse.classprob import ClassProbConfig, ClassProbVisualEncoder
from mediatag.models.conse.network import to_array
from mediatag.models.conse.runtime import (
    RUNTIME_ENV,
    OnnxBackbone,
    TorchBackbone,
    chosen_runtime,
    load_backbone,
    onnx_path,
)
from mediatag.models.conse.visual import ConseConfig, ConseVisualEncoder
from mediatag.models.registry import OFFLINE_TEXT, get_text_encoder

from .conftest import unique
from .mediafactory import COCO

N_PHOTOS = 12


@pytest.fixture(scope="module")
def photos() -> tuple[list[Image.Image], list[set[str]]]:
    """Real COCO photos of several sizes and subjects (the first N in labels.csv order)."""
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))[:N_PHOTOS]
    images = [ImageOps.exif_transpose(Image.open(COCO / "images" / r["file"])).convert("RGB") for r in rows]
    return images, [set(filter(None, r["classes"].split(";"))) for r in rows]


@pytest.fixture(scope="module")
def text():
    return get_text_encoder(OFFLINE_TEXT)


def _assert_same_vectors(new: np.ndarray, old: np.ndarray) -> None:
    """Equal within float rounding: every entry to 2e-4 and every image's vector at cosine > 0.99999 (the stored
    halfvec rounds entries by ~5e-4 anyway)."""
    assert new.shape == old.shape
    np.testing.assert_allclose(new, old, atol=2e-4)
    cos = (new * old).sum(1) / np.linalg.norm(new, axis=1) / np.linalg.norm(old, axis=1)
    assert cos.min() > 0.99999, cos


def test_default_model_onnx_vectors_equal_torch_on_real_photos(photos, text):
    images, _ = photos
    onnx = ClassProbVisualEncoder("t-onnx", text, ClassProbConfig(runtime="onnx"))
    torch_ = ClassProbVisualEncoder("t-torch", text, ClassProbConfig(runtime="torch"))
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    new, old = onnx.embed_images(images), torch_.embed_images(images)
    _assert_same_vectors(new, old)
    # the ranking a prompt gives is the same too
    q = onnx.embed_texts(["a photo of a person", "a photo of a dog"])
    assert (np.argsort(-(new @ q.T), 0) == np.argsort(-(old @ q.T), 0)).mean() > 0.95


def test_previous_model_onnx_vectors_equal_torch(photos, text):
    images, _ = photos
    onnx = ConseVisualEncoder("t-onnx", text, ConseConfig(runtime="onnx"))
    torch_ = ConseVisualEncoder("t-torch", text, ConseConfig(runtime="torch"))
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    _assert_same_vectors(onnx.embed_images(images), torch_.embed_images(images))


def test_backbone_outputs_match_per_output(photos):
    """Each of the four outputs (global, half windows, third windows, features) on both runtimes, batch 3."""
    images, _ = photos
    x = to_array(images[:3], 352)
    onnx, ref = load_backbone("efficientnet-lite0", 352, "onnx"), TorchBackbone("efficientnet-lite0")
    assert isinstance(onnx, OnnxBackbone)
    shapes = [(3, 1000), (3, 9, 1000), (3, 25, 1000), (3, 1280)]
    for a, b, shape in zip(onnx.run(x), ref.run(x), shapes, strict=True):
        assert tuple(a.shape) == tuple(b.shape) == shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-3, rtol=1e-4)


def test_export_cached_once_and_remade_when_damaged(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MEDIATAG_MODEL_CACHE", str(tmp_path))
    path = onnx_path("efficientnet-lite0", 96)
    assert path.parent == tmp_path and "efficientnet-lite0-96-" in path.name and path.suffix == ".onnx"
    first = load_backbone("efficientnet-lite0", 96, "onnx")
    assert isinstance(first, OnnxBackbone) and path.is_file()
    made = path.stat().st_mtime_ns
    assert isinstance(load_backbone("efficientnet-lite0", 96, "onnx"), OnnxBackbone)
    assert path.stat().st_mtime_ns == made, "a second load must reuse the cached graph"
    assert onnx_path("efficientnet-lite0", 128) != path, "each input size has its own graph"
    path.write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING, logger="mediatag.models"):
        again = load_backbone("efficientnet-lite0", 96, "onnx")
    assert isinstance(again, OnnxBackbone) and "unreadable" in caplog.text
    assert path.stat().st_size > 1_000_000
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary files left behind"


def test_falls_back_to_torch_without_onnxruntime(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("MEDIATAG_MODEL_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with caplog.at_level(logging.WARNING, logger="mediatag.models"):
        backbone = load_backbone("efficientnet-lite0", 96, "onnx")
    assert isinstance(backbone, TorchBackbone) and backbone.runtime == "torch"
    assert "runs on PyTorch" in caplog.text and "ModuleNotFoundError" in caplog.text
    assert not list(tmp_path.iterdir()), "nothing exported for a runtime that cannot load"


def test_runtime_setting(monkeypatch):
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    assert chosen_runtime() == "onnx"
    monkeypatch.setenv(RUNTIME_ENV, "Torch")
    assert chosen_runtime() == "torch"
    assert isinstance(load_backbone("efficientnet-lite0", 96), TorchBackbone)
    monkeypatch.setenv(RUNTIME_ENV, "tensorrt")
    with pytest.raises(ValueError, match="MEDIATAG_CONSE_RUNTIME='tensorrt': use one of onnx, torch"):
        chosen_runtime()


def test_ingest_stores_the_onnx_vectors(conn, media_dir, photos, text):
    """Ingest runs the default (ONNX) path; what it stores equals the PyTorch reference's vectors to halfvec precision
    and is searchable by prompt."""
    rows = list(csv.DictReader(open(COCO / "labels.csv", newline="")))[:4]
    paths = [COCO / "images" / r["file"] for r in rows]
    enc = ConseVisualEncoder("conse-effnet-lite0", text)  # the tests' visual model (conftest), default runtime
    assert enc.runtime == "onnx"
    name = unique("onnx_ingest")
    summary = ingest(conn, name, paths, IngestOptions(progress=False, media_dir=media_dir, visual_encoder=enc))
    assert (summary.ingested, summary.keyframes, summary.errors) == (4, 4, []), summary.render()
    stored = {
        Path(p).name: v.to_numpy()
        for p, v in conn.execute(
            "SELECT image_path, embedding FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (name,)
        )
    }
    reference = ConseVisualEncoder("t-torch", text, ConseConfig(runtime="torch")).embed_images(photos[0][:4])
    for r, ref in zip(rows, reference, strict=True):
        np.testing.assert_allclose(stored[r["file"]].astype(np.float32), ref, atol=2e-3)
    conn.execute("SELECT mediatag.drop_dataset(%s)", (name,))
    conn.commit()
