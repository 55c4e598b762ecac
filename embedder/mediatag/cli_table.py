"""The `mediatag` subcommands that call one SQL function each: subcommand → function, and only what the catalog
cannot say. Arguments come from the function's declaration (cli_sdk.py): required ones are positional, defaulted
ones `--flags` (one-letter names `-n`), types, enum values and defaults from the catalog, `--help` from its comment.
Adding a command is adding a line here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("tags", "preview"): a group and a name, or a top-level name
    function: str  # the SQL function mediatag.<function>
    help: str  # one line for listings (and --help when the function has no comment)
    positional: tuple[str, ...] = ()  # another positional order (a trailing "?" makes one optional)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the command's own defaults, where not SQL's
    flags: Mapping[str, str] = field(default_factory=dict)  # another spelling of an argument's flag
    switches: Mapping[str, tuple[str, Any]] = field(default_factory=dict)  # --flag sets argument to value
    text: tuple[str, ...] = ()  # text arguments that may be '-' (stdin) or, with --file, a file's path
    files: tuple[str, ...] = ()  # text arguments given as a file's path ('-': stdin) whose text is sent
    paths: tuple[str, ...] = ()  # arguments naming local files: sent absolute (the embedding service reads them)
    columns: tuple[str, ...] = ()  # what a person reads of each row (--json prints all)
    message: str = ""  # a sentence for the result, formatted with the arguments and `result`
    # --face-photo FILE: this Client method (sdk_faces.FacePhotos) runs instead, with the photo's largest face, and
    # its rows print with face_columns
    face_photo: str = ""
    face_columns: tuple[str, ...] = ()


GROUPS = {
    "tags": "Dynamic Tags: groups, prompts, labels, publish, apply",
    "eval": "tag evaluator",
    "concepts": "concepts: create, label, import labels, next batch, scores",
    "media-roots": "the folders editors may ingest from (admins set them)",
}

_KEYFRAMES = ("keyframe_id", "score", "path")
COMMANDS = (
    Command(("datasets",), "dataset_summary", "datasets and their counts",
            columns=("name", "visual_model", "images", "videos", "keyframes", "transcript_segments", "errors")),
    Command(("search",), "search", "search a dataset's keyframes by text or by keyframe",
            positional=("dataset", "query?"), defaults={"k": 20}, flags={"concepts": "--concept", "tags": "--tag"},
            columns=("rank", "keyframe_id", "score", "keyframe_time_ms", "asset_path"),
            face_photo="search_face_photo",
            face_columns=("rank", "face_id", "distance", "asset_id", "video_time_ms", "person_name")),
    Command(("tags", "create"), "create_tag_group", "create a group from keywords, one per line", text=("keywords",),
            message="created tag group {name!r} (id {result})"),
    Command(("tags", "list"), "list_tag_groups", "tag groups visible from a dataset",
            columns=("name", "training_dataset", "visibility", "state", "published_version", "tags", "status")),
    Command(("tags", "overview"), "group_overview", "each tag's prompts, labels, classifier version, counts",
            columns=("tag", "threshold", "visual_positive", "labels_yes", "labels_no", "classifier_version",
                     "keyframes_above_threshold", "keyframes_scored")),
    Command(("tags", "prompt"), "add_prompt", "add a positive or negative prompt",
            switches={"--negative": ("polarity", "negative")}),
    Command(("tags", "remove-prompt"), "remove_prompt", "remove a prompt"),
    Command(("tags", "rename"), "rename_tag", "rename a tag"),
    Command(("tags", "label"), "label_keyframes", "label keyframes yes or no",
            positional=("tag_group", "tag", "label", "keyframes"),
            message="{result} label(s) stored; classifier retrained"),
    Command(("tags", "unlabel"), "unlabel_keyframes", "remove labels from keyframes"),
    Command(("tags", "threshold"), "set_threshold", "save a tag's threshold"),
    Command(("tags", "preview"), "preview", "keyframes the tag scores positive and negative", defaults={"n": 12},
            columns=("side", "keyframe_id", "score", "decision", "keyframe_time_ms", "path")),
    Command(("tags", "uncertain"), "uncertain_keyframes", "keyframes the classifier is least sure about (diverse)",
            columns=_KEYFRAMES),
    Command(("tags", "publish"), "publish_tag_group", "publish a version and queue scoring of the training dataset"),
    Command(("tags", "apply"), "apply_tag_group", "apply a published group to another dataset"),
    Command(("tags", "status"), "tag_group_status", "per dataset: status, versions, update available",
            columns=("dataset", "status", "applied_version", "scored_version", "latest_version", "update_available",
                     "scored_at", "error")),
    Command(("tags", "score"), "score_tag_group", "score now in this process (instead of waiting for the worker)"),
    Command(("tags", "drop"), "drop_tag_group", "drop a tag group"),
    Command(("eval", "start"), "start_evaluation", "draw a stratified sample (~400 keyframes) for ground truth"),
    Command(("eval", "truth"), "set_ground_truth", "record ground truth for keyframes of an evaluation",
            positional=("evaluation_id", "truth", "keyframes")),
    Command(("eval", "items"), "evaluation_items", "an evaluation's keyframes and their ground truth",
            columns=("keyframe_id", "bucket", "score", "truth", "path")),
    Command(("eval", "metrics"), "evaluation_metrics", "F1, F0.5, precision, recall, accuracy per threshold",
            columns=("threshold", "precision", "recall", "f1", "f05", "accuracy", "tp", "fp", "fn", "tn")),
    Command(("eval", "suggest"), "suggest_threshold", "the threshold that maximises a metric"),
    Command(("eval", "save"), "save_threshold", "save the suggested threshold for a metric"),
    Command(("concepts", "create"), "create_concept", "create a concept on a dataset"),
    Command(("concepts", "list"), "list_concepts", "concepts, their label counts and versions",
            columns=("name", "dataset", "labels_yes", "labels_no", "examples", "version", "threshold")),
    Command(("concepts", "label"), "label_concept", "label keyframes yes, no or skip",
            positional=("concept", "label", "keyframes")),
    Command(("concepts", "unlabel"), "unlabel_concept", "remove labels from keyframes"),
    Command(("concepts", "import"), "import_concept_labels_csv",
            "import labels from a CSV (file names, paths, asset ids or keyframe ids)", files=("csv_text",)),
    Command(("concepts", "examples"), "add_concept_examples", "add example image files as positives",
            paths=("paths",)),
    Command(("concepts", "next"), "continue_labeling", "the next keyframes worth labeling",
            columns=("keyframe_id", "score", "reason", "path")),
    Command(("concepts", "top"), "concept_top", "the best-scoring keyframes", columns=(*_KEYFRAMES, "decision")),
    Command(("concepts", "score"), "score_images", "score image files against a concept", paths=("paths",)),
    Command(("concepts", "versions"), "concept_versions", "a concept's classifier versions",
            columns=("version", "in_use", "kind", "labels_yes", "labels_no", "examples", "trained_by", "created_at")),
    Command(("concepts", "threshold"), "set_concept_threshold", "save a concept's threshold"),
    Command(("concepts", "drop"), "drop_concept", "drop a concept"),
    Command(("media-roots", "add"), "add_media_root", "let editors ingest files under a folder (admins)",
            message="media root {result} added"),
    Command(("media-roots", "remove"), "remove_media_root", "remove a media root (admins)"),
    Command(("media-roots", "list"), "media_roots", "the media roots", columns=("path", "added_by", "added_at")),
)  # fmt: skip
