"""Embedding back-fills (`mediatag backfill DATASET`): rows that lack a vector of a model are embedded by workers
that load the model once — in this process, or as a Ray Data actor pool on a Ray cluster — and written back one
work unit per transaction (sql/src/backfill.sql says why that is exactly once per row)."""

from .run import BackfillOptions, EmbedBackfillSummary, backfill

__all__ = ["BackfillOptions", "EmbedBackfillSummary", "backfill"]
