"""Where sample media lives: the photos the demo, tests and benchmarks use.

`MEDIATAG_SAMPLE_DIR` (a folder with `images/` and `labels.csv`) wins; else the larger shared set (the 128 COCO
photos of `shared/data/coco128-train2017`, found through `MEDIATAG_SHARED_DATA` or beside the checkout) when it is
there; else the 64 downscaled COCO photos shipped in the repository (`samples/coco64`), so a clone alone works.
"""

from __future__ import annotations

import os
from pathlib import Path

from .cluster import project_root


def repository_samples() -> Path:
    return project_root() / "samples" / "coco64"


def shared_data_dir() -> Path | None:
    for c in (os.environ.get("MEDIATAG_SHARED_DATA"), project_root().parent / "shared" / "data"):
        if c and (Path(c) / "coco128-train2017" / "labels.csv").is_file():
            return Path(c)
    return None


def coco_dir() -> Path:
    """The labeled photo folder to use: configured, else shared, else the repository's own samples."""
    configured = os.environ.get("MEDIATAG_SAMPLE_DIR")
    if configured:
        return Path(configured)
    shared = shared_data_dir()
    return shared / "coco128-train2017" if shared else repository_samples()


def demo_media_dir() -> Path:
    """`make demo` uses the repository's samples unless a folder is configured, so it runs the same everywhere."""
    configured = os.environ.get("MEDIATAG_SAMPLE_DIR")
    return Path(configured) if configured else repository_samples()
