"""PL/Python glue of mediatag.export_segments: a tag's or concept's segments, read through the access-checked SQL
functions as the caller, rendered by segment_export (the same module the CLI uses; see its docstring)."""

from __future__ import annotations

from typing import Any

from . import segment_export

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
    try:
        return segment_export.render([dict(r) for r in rows], fmt, name)
    except ImportError:
        plpy.error(f"the database server cannot write {fmt}: OpenTimelineIO is not installed for it", hint=HINT_OTIO,
                   sqlstate="0A000")  # fmt: skip
