"""The PL/Python body of sql/src/ui.sql: concept labels from CSV text (mediatag.import_concept_labels_csv).

Standard library only, like sql_embed: reading a CSV needs no numpy.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from .plpy_support import Plpy, Row

# Header names of the item and the label column, the first one found wins (the SDK's read_label_csv reads the same).
ITEM_COLUMNS = ("keyframe_id", "asset_id", "path", "file", "filename", "file_name", "image")
LABEL_COLUMNS = ("label", "answer", "value")
BAD = "22023"  # invalid_parameter_value
MAX_CHARS = 16 * 1024 * 1024
MAX_ERROR_LINE = 300


def import_concept_labels_csv(plpy: Plpy, concept: str, csv_text: str | None) -> Sequence[Row]:
    """mediatag.import_concept_labels_csv: the CSV's (item, label) rows through mediatag.import_concept_labels,
    whose rows it returns. With a header, the item and label columns are found by name (keyframe_id values become
    "keyframe:<id>"); without one, the first column is the item and the second the label."""
    if csv_text is None or not csv_text.strip():
        plpy.error("the CSV is empty: give one row per item (file name or asset id, then yes / no)", sqlstate=BAD)
    if len(csv_text) > MAX_CHARS:
        plpy.error(f"the CSV has {len(csv_text)} characters; at most 16 MiB of labels at once", sqlstate=BAD)
    try:
        rows = [r for r in csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))) if any(c.strip() for c in r)]
    except csv.Error as e:
        plpy.error(f"the CSV could not be read: {e}", sqlstate=BAD)
    header = [c.strip().lower() for c in rows[0]]
    item_col = next((c for c in ITEM_COLUMNS if c in header), None)
    label_col = next((c for c in LABEL_COLUMNS if c in header), None)
    if item_col is not None and label_col is not None:
        i, j, body, first_line = header.index(item_col), header.index(label_col), rows[1:], 2
    elif item_col is None and label_col is None:
        i, j, body, first_line = 0, 1, rows, 1
    else:
        plpy.error(
            f"the CSV header needs an item column ({', '.join(ITEM_COLUMNS)}) and a label column "
            f"({', '.join(LABEL_COLUMNS)}); found {', '.join(header)}",
            sqlstate=BAD,
        )
    if not body:
        plpy.error("the CSV has a header but no rows", sqlstate=BAD)
    items, labels = [], []
    for n, r in enumerate(body, start=first_line):
        if len(r) <= max(i, j):
            plpy.error(f"CSV line {n}: expected an item and a label, got {r!r}"[:MAX_ERROR_LINE], sqlstate=BAD)
        items.append(("keyframe:" if item_col == "keyframe_id" else "") + r[i].strip())
        labels.append(r[j].strip())
    plan = plpy.prepare("SELECT * FROM mediatag.import_concept_labels($1, $2, $3)", ["text", "text[]", "text[]"])
    return plpy.execute(plan, [concept, items, labels])
