"""What commands print: aligned tables with the few columns a person reads, or (`--json`) a JSON document per
line for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def print_json(value: Any) -> None:
    """Rows as one JSON document a line; any other value as one line of JSON."""
    for item in value if isinstance(value, list) else [value]:
        print(json.dumps(item, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] = ()) -> None:
    """`rows` as an aligned table of `columns` (default: every column that is not a JSON document)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    if not rows:
        print("(no rows)")
        return
    shown = list(columns) or [k for k, v in rows[0].items() if not isinstance(v, dict)]
    table = Table(*shown, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in shown))
    # Wide enough never to wrap a cell when the output goes to a pipe or a file, where rich assumes 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 10_000, highlight=False)
    console.print(table)


def print_result(value: Any, *, as_json: bool, columns: Sequence[str] = ()) -> None:
    """A command's result for people (tables, plain values) or, with `as_json`, for scripts."""
    if as_json:
        print_json(value)
    elif isinstance(value, list) and all(isinstance(r, dict) for r in value):
        print_table(value, columns)
    elif isinstance(value, list):
        for v in value:
            print(_cell(v))
    elif isinstance(value, dict):
        print(json.dumps(value, indent=2, default=str))
    elif value is not None:
        print(_cell(value))
