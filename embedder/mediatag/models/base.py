"""What the rest of mediatag sees of a model: two small protocols, the listing record and shared helpers.

Encoders are plain objects that hold loaded weights; the registry (`registry.py`) builds each one once per process.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

T = TypeVar("T")


@runtime_checkable
class TextEncoder(Protocol):
    """Text → vectors (transcript segments, or prompts of a text-only model)."""

    name: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim); every row has unit L2 norm."""
        ...


@runtime_checkable
class VisualEncoder(Protocol):
    """Images and prompts into one space: a prompt's vector scores an image by inner product."""

    name: str
    dim: int

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """float32 array (len(images), dim). Images are used as given: callers apply EXIF orientation."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim) of prompts in the image space."""
        ...


@dataclass(frozen=True)
class ModelInfo:
    """One line of `mediatag models`. `dim` is None where it cannot be known without loading the weights."""

    name: str
    kind: Literal["visual", "text"]
    dim: int | None
    available: bool
    reason: str


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit rows; an all-zero row stays zero instead of becoming NaN."""
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32, copy=False)


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def encode_unit_rows(items: Sequence[T], size: int, dim: int, encode: Callable[[list[T]], np.ndarray]) -> np.ndarray:
    """encode(chunk) -> (len(chunk), dim) for chunks of `size` items under torch's inference mode, as unit float32
    rows; no items give a (0, dim) array. The batching every CLIP tower (open_clip, transformers) shares."""
    import torch

    if not items:
        return np.zeros((0, dim), np.float32)
    with torch.inference_mode():
        out = [np.asarray(encode(list(chunk)), dtype=np.float32) for chunk in batched(list(items), size)]
    return l2_normalize(np.concatenate(out))


_threads_lock = threading.Lock()
_threads_done = False


def configure_torch_threads() -> None:
    """Give torch every core this process may run on, once, before the first model runs.

    torch defaults to the number of *physical* cores, which on small VMs (2 vCPUs presented as one core with two
    hyper-threads) halves throughput; MEDIATAG_TORCH_THREADS overrides for hosts shared with other services.
    """
    global _threads_done
    with _threads_lock:
        if _threads_done:
            return
        import torch

        torch.set_num_threads(cpu_threads())
        _threads_done = True


DEVICE_ENV = "MEDIATAG_DEVICE"


def torch_device() -> str:
    """Where every model runs (the one place that decides): MEDIATAG_DEVICE when set (cpu, cuda, cuda:N), else
    "cuda" when torch sees a GPU — the CUDA image (docker/compose.yaml's embedder-cuda), a Ray actor given a GPU
    (backfill/ray_runner.py asks for num_gpus where the cluster has them) — else "cpu". Asking for a GPU that torch
    does not see is an error, not a silent fall-back to a CPU that may be 50 times slower."""
    import torch

    wanted = os.environ.get(DEVICE_ENV, "").strip().lower() or "auto"
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cpu":
        return "cpu"
    if re.fullmatch(r"cuda(:[0-9]+)?", wanted):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{DEVICE_ENV}={wanted}, but torch sees no GPU (a CPU build of torch, no NVIDIA driver, or a container"
                f" started without one): unset {DEVICE_ENV} or set it to cpu"
            )
        return wanted
    raise ValueError(f"invalid {DEVICE_ENV} {wanted!r}: use auto, cpu, cuda or cuda:N")


def to_numpy(t: Any) -> np.ndarray:
    """A model output as a float32 array, wherever it was computed."""
    return t.detach().float().cpu().numpy()


def cpu_threads() -> int:
    """Threads for one model's kernels: MEDIATAG_TORCH_THREADS (also read by the ONNX Runtime sessions of the
    offline models), else every core this process may run on."""
    wanted = os.environ.get("MEDIATAG_TORCH_THREADS")
    if wanted:
        return max(1, int(wanted))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


FEW_TEXTS = 8  # a request's prompts or a search query, not a batch of transcript lines


@contextmanager
def threads_for_texts(n: int) -> Iterator[None]:
    """Encode a handful of texts on one torch thread (callers hold their model's lock, so no two do at once).

    A short text is a few milliseconds of work: splitting it over several threads gains nothing, and on a busy
    host their spin-waiting costs a lot. On two shared cores under load one MiniLM query took 0.2-1.0 s on two
    threads and 0.03-0.05 s on one, which was most of a new concept's wait (its description is embedded twice).
    Larger batches keep every thread."""
    if n > FEW_TEXTS:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
