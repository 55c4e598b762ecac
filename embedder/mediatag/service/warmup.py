"""Loading the models the database's datasets use as soon as the service starts, in the background.

Models load on their first request otherwise: the first "Add group" or new concept after `mediatag serve` started
waited for the offline model to load (7.6 s of the 13.6 s a group took, on two busy cores) while the page showed
nothing. Loading them on a thread of their own lets the service answer at once; a request that comes before the
load is done waits for that one load (models/registry.py loads each model once).
"""

from __future__ import annotations

import logging
import threading

import psycopg

from ..models.registry import get_text_encoder, get_visual_encoder, is_visual_model

log = logging.getLogger("mediatag.service")


def dataset_models(url: str) -> list[str]:
    """The visual and text models of the database's datasets, visual ones first (they embed the tag prompts)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT visual_model, text_model FROM mediatag.dataset ORDER BY visual_model, text_model"
        ).fetchall()
    names = [v for v, _ in rows] + [t for _, t in rows]
    return list(dict.fromkeys(n for n in names if n))


def load(name: str) -> None:
    """Load one model and run it once on a short text (the first call also initialises torch's kernels)."""
    enc = get_visual_encoder(name) if is_visual_model(name) else get_text_encoder(name)
    enc.embed_texts(["a photo"])


def warm_in_background(url: str) -> threading.Thread:
    def run() -> None:
        try:
            names = dataset_models(url)
        except psycopg.Error as e:
            log.warning("model warm-up: could not read the datasets' models: %s", e)
            return
        for name in names:
            try:
                load(name)
                log.info("model warm-up: %s loaded", name)
            except Exception as e:  # noqa: BLE001 — a model that cannot load fails its own requests with the reason
                log.warning("model warm-up: %s did not load: %s", name, e)

    t = threading.Thread(target=run, daemon=True, name="mediatag-model-warmup")
    t.start()
    return t
