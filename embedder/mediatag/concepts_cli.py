"""`mediatag concepts …` and `mediatag search …`: concepts and search from the shell, each command one SDK call."""

from __future__ import annotations

import argparse
import json

from .cli_sdk import print_rows, sdk_client, sdk_command


def _search(a: argparse.Namespace) -> int:
    meta = json.loads(a.metadata) if a.metadata else None
    print_rows(
        sdk_client().search(
            a.dataset,
            query=a.query,
            keyframe=a.keyframe,
            k=a.k,
            concepts=a.concept or None,
            tags=a.tag or None,
            metadata=meta,
            group_by_video=a.group_by_video or None,
            offset=a.offset,
        )
    )
    return 0


def add_concept_commands(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("concepts", help="concepts: create, label, import labels, next batch, scores").add_subparsers(
        dest="concepts_command", required=True
    )
    p = c.add_parser("create", help="create a concept on a dataset")
    p.add_argument("dataset")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=sdk_command("create_concept", "dataset", "name", "description"))

    p = c.add_parser("list", help="concepts, their label counts and versions")
    p.add_argument("--dataset")
    p.set_defaults(func=sdk_command("list_concepts", "dataset"))

    p = c.add_parser("label", help="label keyframes yes, no or skip")
    p.add_argument("concept")
    p.add_argument("label", choices=["yes", "no", "skip"])
    p.add_argument("keyframes", nargs="+", type=int)
    p.set_defaults(func=sdk_command("label_concept", "concept", "keyframes", "label"))

    p = c.add_parser("import", help="import labels from a CSV (file names, paths, asset ids or keyframe ids)")
    p.add_argument("concept")
    p.add_argument("path")
    p.set_defaults(func=sdk_command("import_concept_labels_csv", "concept", "path"))

    p = c.add_parser("examples", help="add example image files as positives")
    p.add_argument("concept")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=sdk_command("add_concept_examples", "concept", "paths"))

    p = c.add_parser("next", help="the next keyframes worth labeling")
    p.add_argument("concept")
    p.add_argument("-n", type=int, default=12)
    p.set_defaults(func=sdk_command("continue_labeling", "concept", "n"))

    p = c.add_parser("top", help="the best-scoring keyframes")
    p.add_argument("concept")
    p.add_argument("-n", type=int, default=3)
    p.set_defaults(func=sdk_command("concept_top", "concept", "n"))

    p = c.add_parser("score", help="score an image file against a concept")
    p.add_argument("concept")
    p.add_argument("path")
    p.set_defaults(func=sdk_command("score_image", "concept", "path"))

    p = c.add_parser("versions", help="a concept's classifier versions")
    p.add_argument("concept")
    p.set_defaults(func=sdk_command("concept_versions", "concept"))

    s = sub.add_parser("search", help="search a dataset's keyframes by text or by keyframe")
    s.add_argument("dataset")
    s.add_argument("query", nargs="?")
    s.add_argument("--keyframe", type=int, help="more like this keyframe")
    s.add_argument("-k", type=int, default=20)
    s.add_argument("--offset", type=int)
    s.add_argument("--concept", action="append", default=[], help="keep keyframes the concept says yes to")
    s.add_argument("--tag", action="append", default=[], metavar="GROUP:TAG")
    s.add_argument("--metadata", help='JSON object, e.g. \'{"SeriesName": "Planet Earth"}\'')
    s.add_argument("--group-by-video", action="store_true")
    s.set_defaults(func=_search)
