"""Which files an ingest call covers: named files, and media files found under named folders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..media import media_kind


@dataclass(slots=True)
class Discovered:
    media: list[tuple[Path, str]] = field(default_factory=list)  # (path, 'image'|'video')
    missing: list[Path] = field(default_factory=list)
    unsupported: list[Path] = field(default_factory=list)


def discover(paths: Iterable[str | Path]) -> Discovered:
    found = Discovered()
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            found.missing.append(p)
            continue
        candidates = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for c in candidates:
            c = c.resolve()
            if c in seen:
                continue
            seen.add(c)
            kind = media_kind(c)
            if kind is not None:
                found.media.append((c, kind))
            elif not p.is_dir():
                # Only files the user named explicitly are reported; sidecars found in folders are expected.
                found.unsupported.append(c)
    return found
