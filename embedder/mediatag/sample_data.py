"""Where the shared sample media lives (the COCO photos the demo, tests and benchmarks use).

`MEDIATAG_SHARED_DATA` wins; else `shared/data` beside the checkout (the project's layout); else the machine's
`/work/shared/data`, so a clone elsewhere (CI) still finds it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .cluster import project_root


def shared_data_dir() -> Path:
    candidates = [os.environ.get("MEDIATAG_SHARED_DATA"), project_root().parent / "shared" / "data",
                  "/work/shared/data"]
    for c in candidates:
        if c and (Path(c) / "coco128-train2017").is_dir():
            return Path(c)
    raise FileNotFoundError("shared sample data not found: set MEDIATAG_SHARED_DATA to the folder holding "
                            "coco128-train2017/")


def coco_dir() -> Path:
    return shared_data_dir() / "coco128-train2017"
