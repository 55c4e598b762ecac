"""`mediatag export`: a tag's or a concept's segments as CSV, JSON, EDL, OTIO, FCP XML, SRT or VTT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .segment_export import FORMATS, render


def segments_of(client: Any, args: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
    """The segments the arguments name (a group's tag on the dataset, or a concept), and a title for them."""
    if args.concept:
        return client.rows("concept_segments", concept=args.concept), args.concept
    if not (args.group and args.tag):
        raise SystemExit("mediatag export: give --group and --tag, or --concept")
    return client.rows("tag_segments", dataset=args.dataset, tag_group=args.group, tag=args.tag), args.tag


def cmd_export(args: argparse.Namespace) -> int:
    from .sdk import Client

    segments, name = segments_of(Client(), args)
    text = render(segments, args.format, name)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"{len(segments)} segment(s) written to {args.output}", file=sys.stderr)
    return 0


def add_segment_source(p: argparse.ArgumentParser) -> None:
    """The arguments that name whose segments a command takes (segments_of reads them): export and reel."""
    p.add_argument("dataset")
    p.add_argument("--group", help="the tag group")
    p.add_argument("--tag", help="the tag (with --group)")
    p.add_argument("--concept", help="a concept's segments instead of a tag's")


def add_export_command(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="a tag's or a concept's time segments as a file an editor or player opens")
    add_segment_source(ex)
    ex.add_argument("--format", choices=FORMATS, default="csv", help="output format (default csv)")
    ex.add_argument("-o", "--output", type=Path, help="write here (default: standard output)")
    ex.set_defaults(func=cmd_export)
