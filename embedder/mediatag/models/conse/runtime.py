"""Where the offline models' EfficientNet-Lite networks run: ONNX Runtime by default, PyTorch as the fallback.

A backbone is one network at one input size: NHWC float32 pixels in (network.to_array), the four outputs of
network.forward_multiscale out (global logits, half- and third-window logits, pooled features) as torch tensors,
so the encoders pool them the same way whichever runtime made them.

ONNX Runtime: each (network, input size) is exported once from the packaged PyTorch weights into the model cache
(labels.cache_dir()), named by a hash of the weights file, the input size, torch's version and EXPORT_VERSION, so
changed weights or export code make a new file instead of serving a stale one. A fresh export is checked against
PyTorch on a probe batch before it is kept. ONNX Runtime needs ~1.6x less CPU per image than PyTorch eager on one
thread, and its idle threads do not spin (bench/bench_ingest.py prints both paths); the vectors agree to ~1e-6.

MEDIATAG_CONSE_RUNTIME=torch selects PyTorch (the reference, and the "before" of the bench); where onnxruntime
is not installed, or the export or the session fails, the backbone is PyTorch's and a warning says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..base import configure_torch_threads, cpu_threads, torch_device
from .labels import cache_dir
from .network import forward_multiscale, load_network, weights_path

if TYPE_CHECKING:
    import torch

log = logging.getLogger("mediatag.models")

RUNTIME_ENV = "MEDIATAG_CONSE_RUNTIME"
RUNTIMES = ("onnx", "torch")
EXPORT_VERSION = 1  # bump when the exported graph changes (inputs, outputs, head)
OUTPUTS = ("global", "half_windows", "third_windows", "features")
PROBE_ATOL = 1e-3  # logits are O(10); the two runtimes agree to ~1e-5 on real photos


class Backbone(Protocol):
    runtime: str
    device: str

    def run(self, pixels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """pixels (n, size, size, 3) float32 from network.to_array → (global (n, 1000), half windows (n, 9, 1000),
        third windows (n, ≤25, 1000), features (n, 1280))."""
        ...


def chosen_runtime() -> str:
    wanted = os.environ.get(RUNTIME_ENV, "onnx").strip().lower() or "onnx"
    if wanted not in RUNTIMES:
        raise ValueError(f"{RUNTIME_ENV}={wanted!r}: use one of {', '.join(RUNTIMES)}")
    return wanted


class TorchBackbone:
    runtime = "torch"

    def __init__(self, network: str, device: str = "cpu") -> None:
        configure_torch_threads()
        self.device = device
        self.net = load_network(network, device)

    def run(self, pixels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        nhwc = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
        x = nhwc.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last).to(self.device)
        with torch.inference_mode():
            outs = forward_multiscale(self.net, x)
        return tuple(o.float().cpu() for o in outs)  # type: ignore[return-value] — pooling runs on the CPU


class OnnxBackbone:
    runtime = "onnx"
    device = "cpu"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cpu_threads()
        opts.inter_op_num_threads = 1
        # No spin-waiting between operators: on a host shared with Postgres, the decoder and other services, idle
        # threads that spin take the cores the others need (torch's did, measured in bench_ingest).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(self, pixels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        outs = self.session.run(None, {"pixels": np.ascontiguousarray(pixels, dtype=np.float32)})
        g, w2, w3, f = (torch.from_numpy(o) for o in outs)
        return g, w2, w3, f


def onnx_path(network: str, size: int) -> Path:
    """The cached graph's path: keyed by the weights file's content, the input size, torch and the export code."""
    import torch

    weights = weights_path(network)
    if weights is None:
        raise FileNotFoundError(f"weights of {network} not found")
    digest = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"{size}|{torch.__version__}|{EXPORT_VERSION}".encode())
    return cache_dir() / f"{network}-{size}-{digest.hexdigest()[:16]}.onnx"


def probe_pixels(size: int, n: int = 2) -> np.ndarray:
    """A fixed, image-like batch (smooth gradients and stripes in the model's input range) for checking exports."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    planes = [np.stack([xx, yy, np.sin(12 * xx + 7 * yy * k)], -1) for k in range(1, n + 1)]
    return (np.stack(planes).astype(np.float32) * 2 - 1) * 0.99


def export_onnx(net: Any, size: int, path: Path) -> None:
    """Trace forward_multiscale at one input size (window offsets become constants) with a dynamic batch axis;
    written beside the final name and renamed into place, so concurrent first uses never read half a file."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor):  # noqa: ANN202 — the traced graph's outputs
            return forward_multiscale(self.net, pixels.permute(0, 3, 1, 2))

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    batch = {0: "n"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the shape constants are expected here
        torch.onnx.export(
            Head().eval(),
            (torch.from_numpy(probe_pixels(size)),),
            str(tmp),
            dynamo=False,
            input_names=["pixels"],
            output_names=list(OUTPUTS),
            dynamic_axes={"pixels": batch, **{o: batch for o in OUTPUTS}},
            opset_version=17,
        )
    os.replace(tmp, path)


def matches_torch(backbone: Backbone, reference: TorchBackbone, size: int) -> float:
    """Largest absolute difference between the two runtimes' outputs on the probe batch."""
    x = probe_pixels(size)
    return max(float((a - b).abs().max()) for a, b in zip(backbone.run(x), reference.run(x), strict=True))


def load_backbone(network: str, size: int, runtime: str | None = None) -> Backbone:
    """The network at `size` on the chosen runtime (MEDIATAG_CONSE_RUNTIME, default onnx), else on PyTorch. On a GPU
    (models.base.torch_device) it is PyTorch on that GPU: the ONNX session here is CPU-only."""
    runtime = runtime or chosen_runtime()
    device = torch_device()
    if runtime == "torch" or device != "cpu":
        return TorchBackbone(network, device)
    try:
        import onnxruntime  # noqa: F401 — not installed: PyTorch, before any export work

        path = onnx_path(network, size)
        if path.is_file():
            try:
                return OnnxBackbone(path)
            except Exception as e:  # noqa: BLE001 — a damaged cache file is made again below
                if isinstance(e, ImportError):
                    raise
                log.warning("cached ONNX graph %s is unreadable (%s); exporting it again", path, e)
        reference = TorchBackbone(network)
        log.info("exporting %s at %d px to ONNX (%s), once", network, size, path)
        export_onnx(reference.net, size, path)
        backbone = OnnxBackbone(path)
        diff = matches_torch(backbone, reference, size)
        if diff > PROBE_ATOL:
            path.unlink(missing_ok=True)
            raise ValueError(f"the export differs from PyTorch by {diff:.2g} (allowed {PROBE_ATOL:g})")
        return backbone
    except Exception as e:  # noqa: BLE001 — any ONNX failure falls back to the reference runtime, said once
        log.warning("%s at %d px runs on PyTorch: ONNX Runtime unusable (%s: %s)", network, size, type(e).__name__, e)
        return TorchBackbone(network)
