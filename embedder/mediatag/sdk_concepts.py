"""SDK methods for concepts and search (mixed into `mediatag.Client`): one method per SQL function, same names
and arguments, plus `import_concept_labels_csv` (sends a CSV file's text to the SQL function of that name, which
parses it for the web UI too) and `score_image` (one file, embedded by the embedding service, scored against a
concept)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
    "csv_text": "text",
    "paths": "text[]",
    "from_ms": "int",
    "to_ms": "int",
    "auto_apply": "boolean",
}


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

    def create_filter_index(self, dataset: str, metadata: dict[str, Any]) -> int:
        """A graph of its own for the keyframes whose asset metadata contains `metadata` (search uses it)."""
        return self.call("create_filter_index", dataset=dataset, metadata=json.dumps(metadata))

    def drop_filter_index(self, dataset: str, metadata: dict[str, Any]) -> bool:
        return self.call("drop_filter_index", dataset=dataset, metadata=json.dumps(metadata))

    def filter_indexes(self, dataset: str) -> list[dict[str, Any]]:
        return self.rows("filter_indexes", dataset=dataset)

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
        """Labels from a CSV file (header or not: see mediatag.import_concept_labels_csv, which parses it). A file
        the parser refuses raises ValueError naming the file."""
        csv_text = Path(path).read_text(encoding="utf-8-sig")
        try:
            return self.rows("import_concept_labels_csv", concept=concept, csv_text=csv_text)
        except DBAPIError as e:
            if getattr(e.orig, "sqlstate", None) == "22023":  # invalid_parameter_value: the CSV itself
                raise ValueError(f"{path}: {e.orig}") from e
            raise

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
