"""`mediatag reel`: a tag's or a concept's segments cut from their videos and joined into one file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_export import add_segment_source, segments_of


def cmd_reel(args: argparse.Namespace) -> int:
    from .reel import make_reel
    from .sdk import Client

    segments, _ = segments_of(Client(), args)
    done = make_reel(
        segments, args.output, padding_ms=args.padding_ms, max_seconds=args.max_seconds, progress=not args.quiet
    )
    print(f"{done['cuts']} cut(s), {done['seconds']:.2f} s ({done['mode']}) written to {args.output}", file=sys.stderr)
    return 0


def add_reel_command(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reel", help="cut a tag's or a concept's segments and join them into one video")
    add_segment_source(r)
    r.add_argument("-o", "--output", type=Path, required=True, help="the reel's file (.mp4)")
    r.add_argument("--padding-ms", type=int, default=0, help="widen each segment by this on both sides (default 0)")
    r.add_argument("--max-seconds", type=float, help="cap the reel's total length")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_reel)
