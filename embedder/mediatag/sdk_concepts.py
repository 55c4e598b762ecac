"""Concept methods of `mediatag.Client` that work with files (mixed into the Client; every other concept and
search method is its SQL function, see sdk_functions.py): a CSV file's labels, example images and one image's
score, with paths made absolute because the embedding service, not this process, reads them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError


class ConceptFiles:
    call: Callable[..., Any]  # the Client's (sdk_calls.CatalogCalls)
    rows: Callable[..., list[dict[str, Any]]]

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

    def score_image(self, concept: str, path: str | Path) -> dict[str, Any]:
        """Score one image file against a concept: the embedding service reads and embeds the file with the
        concept's dataset model; returns score, decision and the classifier version used."""
        p = Path(path).resolve()
        if not p.is_file():
            raise FileNotFoundError(f"no such image file: {p}")
        return self.rows("score_images", concept=concept, paths=[str(p)])[0]
