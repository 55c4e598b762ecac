"""open_clip models (production default ViT-B-32 / laion2b_s34b_b79k). open_clip is imported only when a model
is loaded or its weights are looked for: it needs torchvision, which the offline install does not have.

Where the weights come from, first match wins:
  - a file named in the spec: `open_clip:ViT-B-32//srv/models/open_clip_model.safetensors` (the tag is a path);
  - for the production default, MEDIATAG_CLIP_DIR: a folder holding open_clip_model.safetensors or
    open_clip_pytorch_model.bin (a snapshot of the hub repo laion/CLIP-ViT-B-32-laion2B-s34B-b79K has both);
  - the hub cache (HF_HOME / HF_HUB_CACHE; pre-fill it on a machine with network and copy it over);
  - a download, only with MEDIATAG_ALLOW_DOWNLOADS=1.
The transformers backend (`hf.py`, names `hf-clip:FOLDER`) serves CLIP where open_clip cannot be installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

PREFIX = "open_clip:"
DEFAULT_ARCH = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
# Embedding sizes of common architectures, so that listing models needs neither open_clip nor its weights.
OPEN_CLIP_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
KNOWN_DIMS = {
    "ViT-B-32": 512,
    "ViT-B-16": 512,
    "ViT-L-14": 768,
    "ViT-H-14": 1024,
    "ViT-g-14": 1024,
    "ViT-bigG-14": 1280,
    "RN50": 1024,
    "RN101": 512,
    "convnext_base_w": 640,
}


def parse_spec(spec: str) -> tuple[str, str]:
    """`open_clip:ARCH/PRETRAINED` → (ARCH, PRETRAINED). The pretrained tag may be left out only for the default
    architecture: without a tag open_clip would build random weights, which must never pass for a model."""
    if not spec.startswith(PREFIX):
        raise ValueError(f"not an open_clip model spec: {spec!r} (expected '{PREFIX}ARCH/PRETRAINED')")
    arch, _, tag = spec[len(PREFIX) :].partition("/")
    if not arch:
        raise ValueError(f"open_clip model spec {spec!r} names no architecture")
    if not tag:
        if arch != DEFAULT_ARCH:
            raise ValueError(f"open_clip model spec {spec!r} needs a pretrained tag: '{PREFIX}{arch}/TAG'")
        tag = DEFAULT_PRETRAINED
    return arch, tag


def installed() -> bool:
    return importlib.util.find_spec("open_clip") is not None


def local_weights(arch: str, tag: str) -> Path | None:
    """A weights file on disk for (arch, tag): the tag itself when it is a path, else, for the production default,
    the open_clip file in MEDIATAG_CLIP_DIR. None: open_clip resolves the tag through the hub cache."""
    if tag.startswith(("/", "~", ".")):
        return Path(tag).expanduser()
    folder = os.environ.get("MEDIATAG_CLIP_DIR")
    if folder and (arch, tag) == (DEFAULT_ARCH, DEFAULT_PRETRAINED):
        for name in OPEN_CLIP_WEIGHT_FILES:
            path = Path(folder).expanduser() / name
            if path.is_file():
                return path
    return None


def availability(spec: str) -> tuple[bool, str]:
    """Whether `spec` can be loaded here, and why not; cheap: no weights are read."""
    try:
        arch, tag = parse_spec(spec)
    except ValueError as e:
        return False, str(e)
    weights = local_weights(arch, tag)
    if weights is not None and not weights.is_file():
        return False, f"weights file {weights} not found"
    if not installed():
        return False, (
            "open_clip is not installed (pip install 'mediatag[clip]'; it needs torchvision, which the "
            "pinned CPU torch build here lacks)"
        )
    if weights is not None:
        return True, f"weights from {weights}"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        cached = _weights_cached(arch, tag)
        if cached is False:
            return False, f"weights for {arch}/{tag} are not in the hub cache and HF_HUB_OFFLINE is set"
        return True, "weights cached" if cached else "installed (weights cache could not be checked)"
    return True, "installed; weights are fetched from the hub on first use unless cached"


def _weights_cached(arch: str, tag: str) -> bool | None:
    """True/False when the hub cache can be asked, None when this open_clip version does not tell where weights live."""
    try:
        import open_clip
        from huggingface_hub import try_to_load_from_cache

        cfg: dict[str, Any] = open_clip.get_pretrained_cfg(arch, tag) or {}
        repo = str(cfg.get("hf_hub") or "").strip("/")
        if not repo:
            return None
        names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
        return any(isinstance(try_to_load_from_cache(repo, n), str) for n in names)
    except Exception:  # noqa: BLE001 — any failure here only means "unknown", never an error for the listing
        return None


def dim_of(spec: str) -> int | None:
    try:
        arch, _ = parse_spec(spec)
    except ValueError:
        return None
    return KNOWN_DIMS.get(arch)


def load(spec: str, device: str = "cpu") -> tuple[Any, Any, Any]:
    """(model in eval mode on `device`, image preprocess, tokenizer) for `spec`."""
    arch, tag = parse_spec(spec)
    try:
        import open_clip
    except ImportError as e:
        raise ValueError(f"{spec}: {availability(spec)[1]}") from e
    weights = local_weights(arch, tag)
    # A file path as `pretrained` makes open_clip read that checkpoint instead of resolving a hub tag.
    pretrained = str(weights) if weights is not None else tag
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained, device=device)
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(arch)
