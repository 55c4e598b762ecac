"""The `mediatag` subcommands of cli_table.COMMANDS, built from the catalog and run through the SDK's client.

Each command's arguments are its SQL function's: required ones positional (or the table's order), defaulted ones
`--flags` left out unless given (so SQL's default applies), types, enum values and defaults from the catalog;
`--help` shows the function's comment and SQL signature. Results print as tables, or JSON lines with `--json`.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import Arg, Catalog, Function
from .cli_output import print_result
from .cli_table import COMMANDS, GROUPS, Command
from .sql_calls import statement
from .sql_types import parser

if TYPE_CHECKING:
    from .sdk import Client

NAMES = {c.path[0] for c in COMMANDS}  # the top-level words whose commands need the catalog
_DEST = "sql:"  # argparse destinations of SQL arguments, apart from the parser's own (func, json, file, ...)


def _function(catalog: Catalog, cmd: Command) -> Function:
    """The overload whose arguments include every one the table names for `cmd`."""
    named = {n.rstrip("?") for n in cmd.positional} | {*cmd.defaults, *cmd.flags, *cmd.text, *cmd.files, *cmd.paths}
    named |= {target for target, _ in cmd.switches.values()}
    overloads = catalog.overloads(cmd.function)
    return next((f for f in overloads if named <= {a.name for a in f.inputs}), overloads[0])


def _help(a: Arg, described: dict[str, str], default: Any) -> str:
    """The comment's line for `a` (else its type and SQL default), and this command's own default."""
    sql_default = a.shown_default if a.shown_default not in (None, "NULL") else None
    text = described.get(a.name) or a.type.display + (f", default {sql_default}" if sql_default else "")
    return text + (f" [here: default {default!r}]" if default is not None else "")


def _value(a: Arg) -> dict[str, Any]:
    """argparse options for one value of `a`: its parser and, for an enum or a boolean, the words allowed."""
    if a.type.values:
        return {"choices": a.type.values, "metavar": "{" + ",".join(a.type.values) + "}"}
    if a.type.base == "bool":
        return {"type": parser(a.type), "metavar": "{yes,no}"}
    return {"type": parser(a.type)}


def _add_arguments(p: argparse.ArgumentParser, cmd: Command, fn: Function) -> None:
    inputs, described = {a.name: a for a in fn.inputs}, fn.described()
    order = [n.rstrip("?") for n in cmd.positional] or [a.name for a in fn.inputs if a.default is None]
    optional = {n.rstrip("?") for n in cmd.positional if n.endswith("?")}
    for name in order:
        a = inputs[name]
        nargs = ("*" if name in optional else "+") if a.type.array else "?" if name in optional else None
        metavar = "PATH" if name in cmd.files else name.upper()
        p.add_argument(_DEST + name, nargs=nargs, help=_help(a, described, None), **{"metavar": metavar, **_value(a)})
    for a in fn.inputs:
        if a.name in order:
            continue
        spellings = [cmd.flags[a.name]] if a.name in cmd.flags else []
        spellings.append(("-" if len(a.name) == 1 else "--") + a.name.replace("_", "-"))
        options: dict[str, Any] = {"dest": _DEST + a.name, "default": cmd.defaults.get(a.name)}
        shown = _help(a, described, cmd.defaults.get(a.name))
        if a.type.base == "bool" and not a.type.array:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options.update({"metavar": a.name.upper(), **_value(a)}, action="append" if a.type.array else "store")
            shown += " (repeatable)" if a.type.array else ""
        p.add_argument(*spellings, help=shown, **options)
    for flag, (name, value) in cmd.switches.items():
        p.add_argument(flag, dest=_DEST + name, action="store_const", const=value, help=f"{name} => {value!r}")
    for name in cmd.text:
        p.add_argument("--file", action="store_true", help=f"{name.upper()} is a file ('-': standard input)")
    if cmd.face_photo:
        p.add_argument(
            "--face-photo",
            metavar="FILE",
            help="find the person of this photo (its largest face) instead; only -k applies",
        )
    p.add_argument("--json", action="store_true", help="print JSON (a line per row) for scripts")


def _read(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")


def _arguments(cmd: Command, fn: Function, args: argparse.Namespace) -> dict[str, Any]:
    """The SQL arguments from the parsed command line: files read, local paths made absolute."""
    named = {}
    for a in fn.inputs:
        v = vars(args).get(_DEST + a.name)
        if v is None:
            continue
        if a.name in cmd.files or (a.name in cmd.text and (v == "-" or args.file)):
            v = _read(v)
        elif a.name in cmd.paths:
            v = [str(Path(p).resolve()) for p in v] if isinstance(v, list) else str(Path(v).resolve())
        named[a.name] = v
    return named


def _run(client: Client, cmd: Command, fn: Function, args: argparse.Namespace) -> int:
    named = _arguments(cmd, fn, args)
    if getattr(args, "face_photo", None):
        return _run_face_photo(client, cmd, named, args)
    result = client.execute(statement(fn, named))
    if cmd.message and not args.json:
        print(cmd.message.format(result=result, **named))
    else:
        print_result([result] if fn.shape == "row" and result else result, as_json=args.json, columns=cmd.columns)
    return 0


def _run_face_photo(client: Client, cmd: Command, named: dict[str, Any], args: argparse.Namespace) -> int:
    """--face-photo FILE: the command's photo method with the dataset and k; other arguments are refused (they
    filter keyframes, not faces)."""
    extra = sorted(set(named) - {"dataset", "k"} - {n for n, v in cmd.defaults.items() if named.get(n) == v})
    if extra:
        raise SystemExit(f"mediatag: --face-photo searches faces; it does not take {', '.join(extra)}")
    try:
        rows = getattr(client, cmd.face_photo)(dataset=named["dataset"], path=args.face_photo, k=named.get("k"))
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        raise SystemExit(f"mediatag: {e}") from e
    print_result(rows, as_json=args.json, columns=cmd.face_columns)
    return 0


def _no_catalog(args: argparse.Namespace) -> int:
    raise SystemExit("mediatag: this command needs the database's function catalog")


def add_function_commands(
    sub: argparse._SubParsersAction, client: Client | None, commands: Sequence[Command] = COMMANDS
) -> None:
    """Add the table's commands; with no client (no database to read the catalog from), only their names and
    one-line help, which is all `mediatag --help` needs."""
    groups: dict[str, argparse._SubParsersAction] = {}
    for cmd in commands:
        parent = sub
        if len(cmd.path) > 1:
            group = cmd.path[0]
            if group not in groups:
                groups[group] = sub.add_parser(group, help=GROUPS[group]).add_subparsers(
                    dest=f"{group}_command", required=True
                )
            parent = groups[group]
        fn = _function(client.catalog, cmd) if client else None
        p = parent.add_parser(
            cmd.path[-1],
            help=cmd.help,
            description=(fn.comment if fn and fn.comment else cmd.help),
            epilog=textwrap.fill(f"SQL: {fn.sql}", 100, break_on_hyphens=False) if fn else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if fn is None or client is None:
            p.set_defaults(func=_no_catalog)
            continue
        _add_arguments(p, cmd, fn)
        p.set_defaults(func=partial(_run, client, cmd, fn))
