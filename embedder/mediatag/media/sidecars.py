"""Files that travel next to a media file: subtitles and user metadata.

Subtitles: `clip.srt`, `clip.vtt`, `clip.en.srt`, `clip.en.forced.vtt` belong to `clip.mp4` (same stem,
compared case-insensitively, as media copied from Windows or macOS often differs in case).

Metadata, merged from the least to the most specific source:
1. `metadata.csv` in the same folder: a row whose first column (`file`, `filename` or `path`) names the file;
   the other non-empty columns become keys (values stay strings). Excel's `;` and tab separators and
   legacy encodings are accepted.
2. `clip.json` (same stem), then 3. `clip.mp4.json` (full name): one JSON object each.
"""

from __future__ import annotations

import csv
import io
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import MediaError
from .limits import MAX_SIDECAR_BYTES, read_capped
from .textcodec import decode_text

SUBTITLE_EXTENSIONS: frozenset[str] = frozenset({".srt", ".vtt"})
METADATA_CSV = "metadata.csv"
FILE_COLUMNS = ("file", "filename", "path")


def find_subtitle_sidecars(video_path: str | Path) -> list[Path]:
    """Subtitle files for a video: the exact `<stem>.srt/.vtt` first, then tagged ones (`<stem>.<lang>...`)."""
    video_path = Path(video_path)
    stem = video_path.stem.lower()
    try:
        entries = list(os.scandir(video_path.parent))
    except OSError:
        return []
    exact, tagged = [], []
    for entry in entries:
        candidate = Path(entry.path)
        if candidate.suffix.lower() not in SUBTITLE_EXTENSIONS or not entry.is_file():
            continue
        base = candidate.name[: -len(candidate.suffix)].lower()
        if base == stem:
            exact.append(candidate)
        elif base.startswith(stem + "."):
            tagged.append(candidate)
    return sorted(exact, key=_name_key) + sorted(tagged, key=_name_key)


def _name_key(path: Path) -> tuple[str, str]:
    # Case-insensitive first, so the order does not depend on how a file system or a copy tool cased names.
    return path.name.lower(), path.name


def subtitle_label(sidecar: str | Path, video_path: str | Path) -> str | None:
    """What sits between the video's stem and the extension: "en" for clip.en.srt, None for clip.srt."""
    sidecar, video_path = Path(sidecar), Path(video_path)
    base = sidecar.name[: -len(sidecar.suffix)]
    rest = base[len(video_path.stem) :].lstrip(".")
    return rest or None


def find_metadata_sidecar(path: str | Path, max_bytes: int = MAX_SIDECAR_BYTES) -> dict[str, Any]:
    """User metadata for a media file from metadata.csv and JSON sidecars ({} when there is none).

    Raises MediaError naming the sidecar when one exists but is malformed or larger than max_bytes.
    """
    path = Path(path)
    merged: dict[str, Any] = {}
    table = path.parent / METADATA_CSV
    if table.is_file():
        merged.update(_csv_row(table, path, max_bytes))
    for sidecar in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if sidecar != path and sidecar.is_file():
            merged.update(_json_object(sidecar, max_bytes))
    return merged


def _json_object(sidecar: Path, max_bytes: int = MAX_SIDECAR_BYTES) -> dict[str, Any]:
    try:
        text = decode_text(read_capped(sidecar, max_bytes, "metadata sidecar")).text
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MediaError(sidecar, f"invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except OSError as exc:
        raise MediaError(sidecar, f"unreadable sidecar ({exc.strerror or exc})") from exc
    if not isinstance(value, dict):
        raise MediaError(sidecar, f"metadata sidecar must hold a JSON object, not {type(value).__name__}")
    return value


def _csv_row(table: Path, media: Path, max_bytes: int = MAX_SIDECAR_BYTES) -> dict[str, str]:
    stat = table.stat()
    rows = _read_table(str(table), stat.st_mtime_ns, stat.st_size, max_bytes)
    name = media.name
    for key in (name, name.lower()):
        if key in rows:
            return dict(rows[key])
    return {}


@lru_cache(maxsize=64)
def _read_table(table_path: str, mtime_ns: int, size: int, max_bytes: int) -> dict[str, dict[str, str]]:
    # Cached per (file, mtime, size): ingesting a folder asks for every file in it, parse the table once.
    table = Path(table_path)
    try:
        text = decode_text(read_capped(table, max_bytes, "metadata table")).text
    except OSError as exc:
        raise MediaError(table, f"unreadable metadata table ({exc.strerror or exc})") from exc
    if not text.strip():
        return {}
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        if not header or header[0].lower() not in FILE_COLUMNS:
            raise MediaError(table, f"first column must be one of {', '.join(FILE_COLUMNS)} (found {header[0]!r})")
        if len(set(header)) != len(header):
            raise MediaError(table, "duplicate column names")
        rows: dict[str, dict[str, str]] = {}
        for line_no, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(header):
                raise MediaError(table, f"line {line_no}: {len(record)} fields, header has {len(header)}")
            name = Path(record[0].strip().replace("\\", "/")).name
            values = {key: cell.strip() for key, cell in zip(header[1:], record[1:], strict=False) if cell.strip()}
            rows[name] = values
            rows.setdefault(name.lower(), values)
        return rows
    except csv.Error as exc:
        raise MediaError(table, f"malformed CSV ({exc})") from exc
