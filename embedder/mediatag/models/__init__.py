"""Models of the embedding service: one folder per model family (`clip/`, `minilm/`, `conse/`), one file per
modality, and `registry.py`, which maps names to encoders and loads each model once."""

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
    "OFFLINE_TEXT", "OFFLINE_VISUAL", "PRODUCTION_TEXT", "PRODUCTION_VISUAL", "ModelInfo", "TextEncoder",
    "VisualEncoder", "default_text_model", "default_visual_model", "get_text_encoder", "get_visual_encoder",
    "is_visual_model", "list_models", "loaded_models",
]
