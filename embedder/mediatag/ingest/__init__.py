"""Media ingestion: files → assets, shots, keyframes, transcript segments, embeddings (written with COPY)."""

from .pipeline import IngestOptions, IngestSummary, ingest
from .rights import IngestRefused

__all__ = ["IngestOptions", "IngestRefused", "IngestSummary", "ingest"]
