"""The faces of one photo file, largest first (its subject first): what searching by a photo and teaching a person
tag or concept from example photos start from, in the SDK and in the service's /faces/detect endpoint."""

from __future__ import annotations

from pathlib import Path

from ..media import MediaError, load_image
from .detect import DetectedFace, detect_faces
from .models import faces_unavailable


def photo_faces(path: str | Path, max_pixels: int | None = None) -> list[DetectedFace]:
    """FileNotFoundError for a missing file, RuntimeError where faces are unavailable (dlib or its models missing:
    the message says which), ValueError naming the file for one that is no readable image."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such photo file: {p}")
    off = faces_unavailable()
    if off:
        raise RuntimeError(off)
    try:
        image = load_image(p, max_pixels=max_pixels)
    except MediaError as e:
        raise ValueError(f"{p}: {e}") from e
    return sorted(detect_faces(image), key=lambda f: f.box[2] * f.box[3], reverse=True)


def photo_face(path: str | Path) -> DetectedFace:
    """The photo's subject: its largest face. ValueError naming the file when it has none."""
    faces = photo_faces(path)
    if not faces:
        raise ValueError(f"{path}: no face found in this photo (faces from about 40 px, frontal or near it)")
    return faces[0]
