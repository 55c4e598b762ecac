"""CLIP through transformers (`CLIPModel`): no torchvision needed, so it runs next to the pinned CPU torch.

Name: `hf-clip:SOURCE`, where SOURCE is a local folder in the transformers layout (config.json, model.safetensors
or pytorch_model.bin, the tokenizer files and preprocessor_config.json — what `save_pretrained` writes and what a
hub snapshot of e.g. laion/CLIP-ViT-B-32-laion2B-s34B-b79K holds) or a hub repo id, read from the hub cache
(downloaded only when MEDIATAG_ALLOW_DOWNLOADS=1). Images and prompts come out as unit vectors of the model's
projection dimension; both towers, the tokenizer and the image preprocessing are the checkpoint's own.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..base import configure_torch_threads, encode_unit_rows, threads_for_texts, to_numpy, torch_device

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("mediatag.models")

PREFIX = "hf-clip:"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def parse_spec(spec: str) -> str:
    """`hf-clip:SOURCE` → SOURCE (a folder path or a hub repo id)."""
    if not spec.startswith(PREFIX):
        raise ValueError(f"not a transformers CLIP model spec: {spec!r} (expected '{PREFIX}FOLDER_OR_REPO')")
    source = spec[len(PREFIX) :].strip()
    if not source:
        raise ValueError(f"transformers CLIP model spec {spec!r} names no folder or hub repo")
    return source


def _is_local(source: str) -> bool:
    # A path-looking source is always a folder: a typo in a path must not turn into a hub lookup.
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir()


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _config_file(source: str) -> Path | None:
    """config.json of a local folder or of a cached hub snapshot, without loading anything."""
    if _is_local(source):
        path = Path(source).expanduser() / "config.json"
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, "config.json")
    except Exception:  # noqa: BLE001 — a malformed repo id or an unreadable cache only means "not cached"
        return None
    return Path(found) if isinstance(found, str) else None


def read_config(source: str) -> dict[str, Any] | None:
    path = _config_file(source)
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def dim_of(spec: str) -> int | None:
    """The embedding size from config.json (projection_dim), or None when it cannot be read without a download."""
    try:
        cfg = read_config(parse_spec(spec))
    except ValueError:
        return None
    if not cfg:
        return None
    dim = cfg.get("projection_dim")
    return int(dim) if isinstance(dim, int) else None


def installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("transformers") is not None


def availability(spec: str) -> tuple[bool, str]:
    """Whether `spec` can be loaded here, and why not; cheap: only config.json and file names are looked at."""
    try:
        source = parse_spec(spec)
    except ValueError as e:
        return False, str(e)
    if not installed():
        return False, "transformers is not installed"
    if _is_local(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            return False, f"no such folder: {folder}"
        missing = [] if any((folder / w).is_file() for w in WEIGHT_FILES) else [" or ".join(WEIGHT_FILES)]
        missing += [f for f in ("config.json", "preprocessor_config.json") if not (folder / f).is_file()]
        if missing:
            return False, f"{folder} is not a transformers CLIP folder: missing {', '.join(missing)}"
        cfg = read_config(source) or {}
        if cfg.get("model_type") != "clip":
            return False, f"{folder}/config.json is not a CLIP model (model_type {cfg.get('model_type')!r})"
        return True, f"local folder {folder}"
    if _config_file(source) is not None:
        return True, "in the hub cache"
    if _hub_offline():
        return False, f"{source!r} is not a folder and not in the hub cache, and HF_HUB_OFFLINE is set"
    return True, "downloaded from the hub on first use"


def load(spec: str) -> tuple[Any, Any, Any]:
    """(CLIPModel in eval mode, image processor, tokenizer), all read from the checkpoint."""
    ok, reason = availability(spec)
    if not ok:
        raise ValueError(f"visual model {spec!r} is unavailable: {reason}")
    source = parse_spec(spec)
    local = _is_local(source)
    where = str(Path(source).expanduser()) if local else source
    only_local = local or _hub_offline()
    from transformers import AutoTokenizer, CLIPModel

    try:  # transformers ≥ 5 names the PIL-only processor explicitly; the plain name would want torchvision
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor
    try:
        model = CLIPModel.from_pretrained(where, local_files_only=only_local)
        processor = ImageProcessor.from_pretrained(where, local_files_only=only_local)
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=only_local)
    except (OSError, ValueError) as e:
        raise ValueError(f"visual model {spec!r} could not be loaded from {where}: {e}") from e
    return model.eval(), processor, tokenizer


def _features(out: Any) -> Any:
    """get_*_features return a tensor in transformers 4 and an output object (pooler_output) in 5."""
    return out if hasattr(out, "shape") else out.pooler_output


class HFClipVisualEncoder:
    """`VisualEncoder` over a transformers CLIPModel: image tower for images, text tower for prompts."""

    def __init__(self, spec: str, batch_size: int = 32, text_batch_size: int = 256) -> None:
        configure_torch_threads()
        self.name, self.batch_size, self.text_batch_size = spec, batch_size, text_batch_size
        self.device = torch_device()
        self._model, self._processor, self._tokenizer = load(spec)
        self._model.to(self.device)
        cfg = self._model.config
        self.dim = int(cfg.projection_dim)
        self.max_tokens = int(cfg.text_config.max_position_embeddings)
        self._lock = threading.Lock()  # tokenizers are not re-entrant; the threaded service queues here
        probe_t, probe_i = self.embed_texts(["a photo"]), self._image_probe()
        if probe_t.shape[1] != self.dim or probe_i.shape[1] != self.dim:
            raise ValueError(
                f"visual model {spec!r}: towers give {probe_i.shape[1]}-d images and "
                f"{probe_t.shape[1]}-d prompts, config says {self.dim}"
            )
        log.info("visual model %s loaded (dim %d, transformers)", spec, self.dim)

    def _image_probe(self) -> np.ndarray:
        from PIL import Image

        return self.embed_images([Image.new("RGB", (8, 8), (127, 127, 127))])

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        def encode(chunk: list[Image.Image]) -> np.ndarray:
            pixels = self._processor(images=[im.convert("RGB") for im in chunk], return_tensors="pt")
            return to_numpy(
                _features(self._model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device)))
            )

        return encode_unit_rows(images, self.batch_size, self.dim, encode)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        def encode(chunk: list[str]) -> np.ndarray:
            tokens = self._tokenizer(
                chunk, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            )
            feats = self._model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device), attention_mask=tokens["attention_mask"].to(self.device)
            )
            return to_numpy(_features(feats))

        with self._lock, threads_for_texts(len(texts)):
            return encode_unit_rows(texts, self.text_batch_size, self.dim, encode)
