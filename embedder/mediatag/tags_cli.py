"""`mediatag tags …` and `mediatag eval …`: Dynamic Tags from the shell, each command one SDK call."""

from __future__ import annotations

import argparse
import sys

from .cli_sdk import sdk_client, sdk_command


def _create(a: argparse.Namespace) -> int:
    text = sys.stdin.read() if a.keywords == "-" else open(a.keywords).read() if a.file else a.keywords
    gid = sdk_client().create_tag_group(a.dataset, a.name, text, visibility=a.visibility)
    print(f"created tag group {a.name!r} (id {gid})")
    return 0


def add_tag_commands(sub: argparse._SubParsersAction) -> None:
    tags = sub.add_parser("tags", help="Dynamic Tags: groups, prompts, labels, publish, apply").add_subparsers(
        dest="tags_command", required=True
    )

    p = tags.add_parser("create", help="create a group from keywords, one per line")
    p.add_argument("dataset")
    p.add_argument("name")
    p.add_argument("keywords", help="keywords separated by newlines, '-' for stdin, or a file with --file")
    p.add_argument("--file", action="store_true", help="KEYWORDS is a file with one keyword per line")
    p.add_argument("--visibility", default="secret", choices=["secret", "shareable"])
    p.set_defaults(func=_create)

    p = tags.add_parser("list", help="tag groups visible from a dataset")
    p.add_argument("--dataset")
    p.set_defaults(func=sdk_command("list_tag_groups", "dataset"))

    p = tags.add_parser("overview", help="each tag's prompts, labels, classifier version, counts")
    p.add_argument("tag_group")
    p.set_defaults(func=sdk_command("group_overview", "tag_group"))

    p = tags.add_parser("prompt", help="add a positive or negative prompt")
    p.add_argument("tag_group")
    p.add_argument("tag")
    p.add_argument("prompt")
    p.add_argument("--negative", dest="polarity", action="store_const", const="negative", default="positive")
    p.add_argument("--modality", default="both", choices=["visual", "transcript", "both"])
    p.set_defaults(func=sdk_command("add_prompt", "tag_group", "tag", "prompt", "polarity", "modality"))

    p = tags.add_parser("label", help="label keyframes yes or no")
    p.add_argument("tag_group")
    p.add_argument("tag")
    p.add_argument("label", choices=["yes", "no"])
    p.add_argument("keyframes", nargs="+", type=int)
    p.add_argument("--origin", default="preview", choices=["preview", "search", "uncertain", "import"])

    def _label(a: argparse.Namespace) -> int:
        n = sdk_client().label_keyframes(a.tag_group, a.tag, a.keyframes, a.label == "yes", origin=a.origin)
        print(f"{n} label(s) stored; classifier retrained")
        return 0

    p.set_defaults(func=_label)

    p = tags.add_parser("threshold", help="save a tag's threshold")
    p.add_argument("tag_group")
    p.add_argument("tag")
    p.add_argument("threshold", type=float)
    p.set_defaults(func=sdk_command("set_threshold", "tag_group", "tag", "threshold", show=False))

    p = tags.add_parser("preview", help="keyframes the tag scores positive and negative")
    p.add_argument("tag_group")
    p.add_argument("tag")
    p.add_argument("--kind", default="compare", choices=["compare", "positives", "negatives"])
    p.add_argument("--level", default="keyframe", choices=["keyframe", "shot"])
    p.add_argument("--threshold", type=float)
    p.add_argument("-n", type=int, default=12)
    p.set_defaults(func=sdk_command("preview", "tag_group", "tag", "kind", "level", "threshold", "n"))

    p = tags.add_parser("uncertain", help="keyframes the classifier is least sure about (diverse)")
    p.add_argument("tag_group")
    p.add_argument("tag")
    p.add_argument("-k", type=int, default=20)
    p.set_defaults(func=sdk_command("uncertain_keyframes", "tag_group", "tag", "k"))

    p = tags.add_parser("publish", help="publish a version and queue scoring of the training dataset")
    p.add_argument("tag_group")
    p.add_argument("--visibility", choices=["secret", "shareable"])
    p.set_defaults(func=sdk_command("publish_tag_group", "tag_group", "visibility"))

    p = tags.add_parser("apply", help="apply a published group to another dataset")
    p.add_argument("tag_group")
    p.add_argument("dataset")
    p.add_argument("--version", type=int)
    p.set_defaults(func=sdk_command("apply_tag_group", "tag_group", "dataset", "version"))

    p = tags.add_parser("status", help="per dataset: status, versions, update available")
    p.add_argument("tag_group")
    p.set_defaults(func=sdk_command("tag_group_status", "tag_group"))

    p = tags.add_parser("score", help="score now in this process (instead of waiting for the worker)")
    p.add_argument("tag_group")
    p.add_argument("--dataset")
    p.set_defaults(func=sdk_command("score_tag_group", "tag_group", "dataset"))

    ev = sub.add_parser("eval", help="tag evaluator").add_subparsers(dest="eval_command", required=True)
    p = ev.add_parser("start", help="draw a stratified sample (~400 keyframes) for ground truth")
    p.add_argument("tag_group")
    p.add_argument("tag")
    p.add_argument("--dataset")
    p.add_argument("--size", type=int, default=400)
    p.set_defaults(func=sdk_command("start_evaluation", "tag_group", "tag", "dataset", "size"))
    p = ev.add_parser("truth", help="record ground truth for keyframes of an evaluation")
    p.add_argument("evaluation_id", type=int)
    p.add_argument("truth", choices=["yes", "no"])
    p.add_argument("keyframes", nargs="+", type=int)

    def _truth(a: argparse.Namespace) -> int:
        print(sdk_client().set_ground_truth(a.evaluation_id, a.keyframes, a.truth == "yes"))
        return 0

    p.set_defaults(func=_truth)
    p = ev.add_parser("metrics", help="F1, F0.5, precision, recall, accuracy per threshold")
    p.add_argument("evaluation_id", type=int)
    p.set_defaults(func=sdk_command("evaluation_metrics", "evaluation_id"))
    p = ev.add_parser("save", help="save the suggested threshold for a metric")
    p.add_argument("evaluation_id", type=int)
    p.add_argument("--metric", default="f1", choices=["f1", "f05", "precision", "recall", "accuracy"])
    p.set_defaults(func=sdk_command("save_threshold", "evaluation_id", "metric"))
