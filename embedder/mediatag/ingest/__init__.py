"""Media ingestion: files → assets, shots, keyframes, transcript segments, embeddings (written with COPY)."""

from .pipeline import IngestOptions, IngestSummary, ingest

__all__ = ["IngestOptions", "IngestSummary", "ingest"]
