"""PL/Python glue of mediatag.export_segments: a tag's or concept's segments, read through the access-checked SQL
functions as the caller, rendered by segment_export (the same module the CLI uses; see its docstring)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import segment_export

# OpenTimelineIO and its adapters as `make -C sql install` puts them for PL/Python (sql/Makefile,
# install-python-deps): beside the versioned packages, <extension>/mediatag_python/vendor.
VENDOR = str(Path(__file__).resolve().parents[2] / "vendor")

HINT_OTIO = (
    "EDL, OTIO and FCP XML need opentimelineio, otio-cmx3600-adapter and otio-fcp-adapter importable by the server's "
    "Python (PL/Python); `mediatag export` writes them from the client without that"
)


def export(
    plpy: Any, dataset: str | None, tag_group: str | None, tag: str | None, fmt: str, concept: str | None
) -> str:
    if fmt not in segment_export.FORMATS:
        plpy.error(f"unknown export format {fmt!r}: use one of {', '.join(segment_export.FORMATS)}", sqlstate="22023")
    if concept is not None:
        plan = plpy.prepare("SELECT * FROM mediatag.concept_segments(concept => $1)", ["text"])
        rows, name = plpy.execute(plan, [concept]), concept
    elif dataset is None or tag_group is None or tag is None:
        plpy.error("give dataset, tag_group and tag, or concept", sqlstate="22023")
    else:
        plan = plpy.prepare("SELECT * FROM mediatag.tag_segments($1, $2, $3)", ["text", "text", "text"])
        rows, name = plpy.execute(plan, [dataset, tag_group, tag]), tag
    if fmt in segment_export.TIMELINE_FORMATS and VENDOR not in sys.path:
        sys.path.insert(0, VENDOR)  # before the first import: OTIO finds its adapters by the entry points on sys.path
    try:
        return segment_export.render([dict(r) for r in rows], fmt, name)
    except ImportError:
        plpy.error(f"the database server cannot write {fmt}: OpenTimelineIO is not installed for it", hint=HINT_OTIO,
                   sqlstate="0A000")  # fmt: skip
