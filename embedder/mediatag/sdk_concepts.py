"""SDK methods for concepts and search (mixed into `mediatag.Client`): one method per SQL function, same names
and arguments, plus `import_concept_labels_csv` (reads a CSV and calls `mediatag.import_concept_labels`) and
`score_image` (one file, embedded by the embedding service, scored against a concept)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

# SQL types of the arguments these functions take (merged with the Client's own table).
EXTRA_CASTS = {
    "keyframe": "bigint",
    "concepts": "text[]",
    "metadata": "jsonb",
    "group_by_video": "boolean",
    "offset": "int",
    "embedding": "vector",
    "recall": "real",
    "items": "text[]",
    "labels": "text[]",
    "paths": "text[]",
    "from_ms": "int",
    "to_ms": "int",
    "auto_apply": "boolean",
}

# CSV columns that name the item to label, in the order they are looked for, and the label column's names.
ITEM_COLUMNS = ("keyframe_id", "asset_id", "path", "file", "filename", "file_name", "image")
LABEL_COLUMNS = ("label", "answer", "value")


def read_label_csv(path: str | Path) -> tuple[list[str], list[str]]:
    """(items, labels) from a CSV of file names / paths / asset ids / keyframe ids with yes/no (or skip).

    With a header, the item column is one of ITEM_COLUMNS (keyframe_id values become "keyframe:<id>") and the
    label column one of LABEL_COLUMNS; without one, the first column is the item and the second the label."""
    with Path(path).open(newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path}: no rows")
    header = [c.strip().lower() for c in rows[0]]
    item_col = next((c for c in ITEM_COLUMNS if c in header), None)
    label_col = next((c for c in LABEL_COLUMNS if c in header), None)
    if item_col is not None and label_col is not None:
        i, j, body, keyframe = header.index(item_col), header.index(label_col), rows[1:], item_col == "keyframe_id"
        first_line = 2
    elif item_col is None and label_col is None:
        i, j, body, keyframe, first_line = 0, 1, rows, False, 1
    else:
        raise ValueError(
            f"{path}: the header needs an item column ({', '.join(ITEM_COLUMNS)}) and a label column "
            f"({', '.join(LABEL_COLUMNS)}); found {', '.join(header)}"
        )
    items, labels = [], []
    for n, r in enumerate(body, start=first_line):
        if len(r) <= max(i, j):
            raise ValueError(f"{path}, line {n}: expected an item and a label, got {r!r}")
        item = r[i].strip()
        items.append(f"keyframe:{item}" if keyframe else item)
        labels.append(r[j].strip())
    return items, labels


class ConceptsAndSearch:
    """Concept and search methods; expects the Client's `call`, `rows` and `engine`."""

    _extra_casts = EXTRA_CASTS

    # -- search -----------------------------------------------------------------------------------------------
    def search(
        self,
        dataset: str,
        query: str | None = None,
        keyframe: int | None = None,
        k: int = 50,
        concepts: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        group_by_video: bool | None = None,
        offset: int | None = None,
        embedding: Sequence[float] | None = None,
        recall: float | None = None,
    ) -> list[dict[str, Any]]:
        return self.rows(
            "search",
            dataset=dataset,
            query=query,
            keyframe=keyframe,
            k=k,
            concepts=list(concepts) if concepts is not None else None,
            tags=list(tags) if tags is not None else None,
            metadata=json.dumps(metadata) if metadata is not None else None,
            group_by_video=group_by_video,
            offset=offset,
            embedding=_vector(embedding) if embedding is not None else None,
            recall=recall,
        )

    def search_transcripts(
        self,
        dataset: str,
        query: str,
        k: int = 50,
        mode: str = "semantic",
        from_ms: int | None = None,
        to_ms: int | None = None,
        metadata: dict[str, Any] | None = None,
        group_by_video: bool | None = None,
        offset: int | None = None,
    ) -> list[dict[str, Any]]:
        return self.rows(
            "search_transcripts",
            dataset=dataset,
            query=query,
            k=k,
            mode=mode,
            from_ms=from_ms,
            to_ms=to_ms,
            metadata=json.dumps(metadata) if metadata is not None else None,
            group_by_video=group_by_video,
            offset=offset,
        )

    # -- concepts ---------------------------------------------------------------------------------------------
    def create_concept(self, dataset: str, name: str, description: str = "", auto_apply: bool = True) -> int:
        return self.call("create_concept", dataset=dataset, name=name, description=description, auto_apply=auto_apply)

    def list_concepts(self, dataset: str | None = None) -> list[dict[str, Any]]:
        return self.rows("list_concepts", dataset=dataset)

    def concept_versions(self, concept: str) -> list[dict[str, Any]]:
        return self.rows("concept_versions", concept=concept)

    def concept_labels(self, concept: str) -> list[dict[str, Any]]:
        return self.rows("concept_labels", concept=concept)

    def drop_concept(self, concept: str) -> None:
        self.call("drop_concept", concept=concept)

    def retrain_concept(self, concept: str) -> int:
        return self.call("retrain_concept", concept=concept)

    def apply_concept(self, concept: str, version: int | None = None) -> int:
        return self.call("apply_concept", concept=concept, version=version)

    def set_concept_threshold(self, concept: str, threshold: float) -> None:
        self.call("set_concept_threshold", concept=concept, threshold=threshold)

    def set_concept_description(self, concept: str, description: str) -> int:
        return self.call("set_concept_description", concept=concept, description=description)

    def label_concept(self, concept: str, keyframes: Iterable[int], label: str = "yes", origin: str = "manual") -> int:
        # Spelled out: `label` is text here ('yes' | 'no' | 'skip'), boolean for tags.
        with self.engine.begin() as conn:
            return conn.execute(
                text(
                    "SELECT mediatag.label_concept(concept => :c, keyframes => CAST(:k AS bigint[]), "
                    "label => CAST(:l AS text), origin => :o)"
                ),
                {"c": concept, "k": [int(x) for x in keyframes], "l": label, "o": origin},
            ).scalar()

    def unlabel_concept(self, concept: str, keyframes: Iterable[int]) -> int:
        return self.call("unlabel_concept", concept=concept, keyframes=[int(x) for x in keyframes])

    def import_concept_labels(self, concept: str, items: Sequence[str], labels: Sequence[str]) -> list[dict[str, Any]]:
        return self.rows("import_concept_labels", concept=concept, items=[str(i) for i in items], labels=list(labels))

    def import_concept_labels_csv(self, concept: str, path: str | Path) -> list[dict[str, Any]]:
        items, labels = read_label_csv(path)
        return self.import_concept_labels(concept, items, labels)

    def add_concept_examples(self, concept: str, paths: Sequence[str | Path]) -> int:
        """Example images (files the embedding service can read), kept as positives; returns the new version."""
        return self.call("add_concept_examples", concept=concept, paths=[str(Path(p).resolve()) for p in paths])

    def continue_labeling(self, concept: str, n: int = 12, seed: int | None = None) -> list[dict[str, Any]]:
        return self.rows("continue_labeling", concept=concept, n=n, seed=seed)

    def concept_scores(self, concept: str, version: int | None = None) -> list[dict[str, Any]]:
        return self.rows("concept_scores", concept=concept, version=version)

    def concept_top(self, concept: str, n: int = 3) -> list[dict[str, Any]]:
        return self.rows("concept_top", concept=concept, n=n)

    def search_for_concept(self, concept: str, query: str, k: int = 50) -> list[dict[str, Any]]:
        return self.rows("search_for_concept", concept=concept, query=query, k=k)

    def score_image(self, concept: str, path: str | Path) -> dict[str, Any]:
        """Score one image file against a concept: the embedding service reads and embeds the file with the
        concept's dataset model; returns score, decision and the classifier version used."""
        p = Path(path).resolve()
        if not p.is_file():
            raise FileNotFoundError(f"no such image file: {p}")
        return self.rows("score_images", concept=concept, paths=[str(p)])[0]


def _vector(v: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"
