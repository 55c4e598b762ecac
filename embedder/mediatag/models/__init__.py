"""Models of the embedding service: one folder per model family (`clip/`, `minilm/`, `conse/`), one file per
modality, and `registry.py`, which maps names to encoders and loads each model once.

Hub access is off unless MEDIATAG_ALLOW_DOWNLOADS=1: a model loaded from a local folder or the hub cache must not
wait on network retries (sentence-transformers probes the hub for optional files), and a self-hosted service
should not fetch weights behind its operator's back. Set it (or pre-fill the hub cache) to use hub models.
"""

import os

if os.environ.get("MEDIATAG_ALLOW_DOWNLOADS", "").lower() not in ("1", "true", "yes"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


from .base import ModelInfo, TextEncoder, VisualEncoder
from .registry import (
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

__all__ = [
    "OFFLINE_TEXT",
    "OFFLINE_VISUAL",
    "PRODUCTION_TEXT",
    "PRODUCTION_VISUAL",
    "ModelInfo",
    "TextEncoder",
    "VisualEncoder",
    "default_text_model",
    "default_visual_model",
    "get_text_encoder",
    "get_visual_encoder",
    "is_visual_model",
    "list_models",
    "loaded_models",
]
