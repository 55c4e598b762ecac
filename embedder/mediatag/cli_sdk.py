"""What the `mediatag` subcommands that are each one SDK call share (tags_cli, concepts_cli): the client, rows
printed as JSON lines, and the command function that calls one SDK method with fields of the parsed arguments."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sdk import Client


def sdk_client() -> Client:
    # Imported when a command runs, not when the parser is built: the SDK pulls in SQLAlchemy.
    from .sdk import Client

    return Client()


def print_rows(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        print(json.dumps(r, default=str))


def sdk_command(method: str, *fields: str, show: bool = True) -> Callable[[argparse.Namespace], int]:
    """A subcommand that calls `Client.<method>` with the parsed arguments named by `fields` (as keywords) and
    prints what it returns: rows as JSON lines, any other value as JSON unless `show` is False."""

    def run(a: argparse.Namespace) -> int:
        out = getattr(sdk_client(), method)(**{f: getattr(a, f) for f in fields})
        if isinstance(out, list):
            print_rows(out)
        elif show and out is not None:
            print(json.dumps(out, default=str))
        return 0

    return run
