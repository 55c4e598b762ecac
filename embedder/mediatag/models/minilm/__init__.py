"""Sentence-transformers text models (MiniLM by default): transcripts, and the prompt side of the offline model."""
