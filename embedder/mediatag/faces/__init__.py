"""Faces as a modality: detection and descriptors (detect.py), storage and back-fill (backfill.py), face tracks
within a shot (tracks.py) and clustering into people (cluster.py). Off by default per dataset."""

from .models import faces_unavailable

__all__ = ["faces_unavailable"]
