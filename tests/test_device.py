"""Where models run (issue 28, the CUDA image): one decision, models.base.torch_device — MEDIATAG_DEVICE, else the
GPU when torch sees one, else the CPU — that every encoder follows, and Ray actors that ask for a GPU where the
cluster has one. No GPU is needed: torch's view of the GPU is replaced, and the encoders are checked for the device
they ask for; on this machine the real models load and run on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mediatag.backfill.ray_runner import actor_resources
from mediatag.models import base
from mediatag.models.base import DEVICE_ENV, torch_device

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch):
    """Makes torch report a GPU (True) or none (False)."""

    def seen(available: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    return seen


def test_gpu_when_torch_sees_one_else_cpu(gpu, monkeypatch):
    gpu(True)
    assert torch_device() == "cuda"
    gpu(False)
    assert torch_device() == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "auto")
    assert torch_device() == "cpu"


def test_the_setting_overrides_and_bad_settings_are_named(gpu, monkeypatch):
    gpu(True)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert torch_device() == "cpu"  # a GPU host may keep the models off its GPU
    monkeypatch.setenv(DEVICE_ENV, " CUDA:1 ")
    assert torch_device() == "cuda:1"
    gpu(False)
    with pytest.raises(RuntimeError, match=f"{DEVICE_ENV}=cuda:1, but torch sees no GPU"):
        torch_device()  # asked for a GPU: no silent fall-back to the CPU
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="invalid MEDIATAG_DEVICE 'tpu': use auto, cpu, cuda or cuda:N"):
        torch_device()


def test_encoders_load_where_torch_device_says(gpu, monkeypatch):
    import sentence_transformers

    from mediatag.models.conse import network, runtime, visual
    from mediatag.models.minilm.textual import SentenceTextEncoder
    from mediatag.models.registry import OFFLINE_TEXT, get_text_encoder

    text = get_text_encoder(OFFLINE_TEXT)  # loaded (and cached) before torch is told of a GPU
    asked: list[str] = []

    def load_network(name: str = network.DEFAULT_NETWORK, device: str = "cpu"):
        asked.append(device)
        return network.load_network(name, "cpu")  # the weights stay where this machine can run them

    class Recorder:
        def __init__(self, source: str, device: str, local_files_only: bool) -> None:
            asked.append(device)

        def get_sentence_embedding_dimension(self) -> int:
            return 384

    monkeypatch.setattr(runtime, "load_network", load_network)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Recorder)
    gpu(True)
    encoder = visual.ConseVisualEncoder("conse-effnet-lite0", text)
    SentenceTextEncoder("minilm", "/nowhere")
    assert asked == ["cuda", "cuda"] and encoder.device == "cuda"
    gpu(False)
    asked.clear()
    encoder = visual.ConseVisualEncoder("conse-effnet-lite0", text)
    # On the CPU the network runs on ONNX Runtime (a cached export loads no PyTorch network) or on PyTorch there.
    assert set(asked) <= {"cpu"} and encoder.device == "cpu"
    # On the CPU the model runs as before: unit rows of the encoder's size.
    from PIL import Image

    out = encoder.embed_images([Image.new("RGB", (64, 48), (200, 30, 30))])
    assert out.shape == (1, encoder.dim) and np.isfinite(out).all()


def test_network_weights_go_to_the_device_asked():
    from mediatag.models.conse.network import load_network

    net = load_network(device="meta")  # a device with no storage: shows the move without a GPU
    assert {p.device.type for p in net.parameters()} == {"meta"}


def test_model_outputs_come_back_as_float32_arrays():
    t = torch.ones(2, 3, dtype=torch.float16, requires_grad=True) * 2
    out = base.to_numpy(t)
    assert out.dtype == np.float32 and out.tolist() == [[2.0] * 3] * 2


def test_ray_actors_ask_for_a_gpu_where_the_cluster_has_one():
    assert actor_resources({"CPU": 16.0, "GPU": 2.0}, workers=2, gpus_per_worker=None) == (1, 1.0)
    assert actor_resources({"CPU": 16.0, "GPU": 2.0}, workers=2, gpus_per_worker=0.5) == (1, 0.5)
    assert actor_resources({"CPU": 16.0, "GPU": 2.0}, workers=2, gpus_per_worker=0.0) == (8, 0.0)
    assert actor_resources({"CPU": 2.0}, workers=2, gpus_per_worker=None) == (1, 0.0)
    assert actor_resources({"CPU": 8.0}, workers=3, gpus_per_worker=None) == (2, 0.0)


def test_the_cuda_image_runs_the_models_on_its_gpu():
    """The CUDA service is built with a CUDA torch, reserves a GPU and sets the setting torch_device reads to
    cuda: a container started without its GPU stops with the reason instead of embedding on the CPU."""
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    cuda = compose["services"]["embedder-cuda"]
    assert cuda["environment"][DEVICE_ENV] == "cuda"
    assert "/whl/cu" in cuda["build"]["args"]["TORCH_INDEX"]
    assert DEVICE_ENV not in compose["services"]["embedder"].get("environment", {})
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert DEVICE_ENV in dockerfile and "torch_device" in dockerfile
