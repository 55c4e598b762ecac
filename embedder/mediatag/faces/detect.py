"""Faces in one image: boxes, detector confidence, a quality score, an aligned crop and a 128-d descriptor."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .models import load_models

# HOG finds faces from about 80 px; an image is upsampled until a face of MIN_FACE_PX would reach that size.
HOG_MIN_PX = 80
MIN_FACE_PX = 40
MAX_UPSAMPLE = 2
CHIP_SIZE = 150  # dlib's descriptor network expects 150x150 aligned chips
CROP_JPEG_QUALITY = 85


@dataclass(slots=True)
class DetectedFace:
    box: tuple[int, int, int, int]  # x, y, width, height in the image's pixels
    confidence: float
    quality: float  # 0..1: size and sharpness
    crop_jpeg: bytes  # the aligned chip, what the UI shows
    descriptor: np.ndarray  # float32[128]


def _upsample_times(width: int, height: int) -> int:
    """How many times to double the image so that a MIN_FACE_PX face reaches the detector's window."""
    times, scale = 0, 1
    while times < MAX_UPSAMPLE and MIN_FACE_PX * scale < HOG_MIN_PX and max(width, height) * scale <= 2000:
        times, scale = times + 1, scale * 2
    return times


def _sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: low for a blurred face."""
    g = gray.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def quality_score(face_px: int, chip: np.ndarray) -> float:
    """0..1: faces of 100 px and more and a sharp chip score 1; each term saturates, the product penalises either."""
    size = min(1.0, face_px / 100.0)
    gray = chip.mean(axis=2)
    sharp = min(1.0, _sharpness(gray) / 200.0)
    return round(size * (0.3 + 0.7 * sharp), 4)


def detect_faces(image: Image.Image | np.ndarray, *, cnn: bool = False) -> list[DetectedFace]:
    import dlib

    m = load_models(cnn)
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image))
    h, w = rgb.shape[:2]
    up = _upsample_times(w, h)
    if m.cnn:
        found = [(d.rect, float(d.confidence)) for d in m.detector(rgb, up)]
    else:
        rects, scores, _ = m.detector.run(rgb, up, 0.0)
        found = list(zip(rects, (float(s) for s in scores), strict=True))
    faces: list[DetectedFace] = []
    for rect, score in found:
        x0, y0 = max(0, rect.left()), max(0, rect.top())
        x1, y1 = min(w, rect.right() + 1), min(h, rect.bottom() + 1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        shape = m.landmarks(rgb, rect)
        chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=0.25)
        descriptor = np.asarray(m.descriptor.compute_face_descriptor(chip), dtype=np.float32)
        buf = io.BytesIO()
        Image.fromarray(chip).resize((96, 96), Image.BILINEAR).save(buf, "JPEG", quality=CROP_JPEG_QUALITY)
        faces.append(
            DetectedFace(
                box=(x0, y0, x1 - x0, y1 - y0),
                confidence=score,
                quality=quality_score(min(x1 - x0, y1 - y0), chip),
                crop_jpeg=buf.getvalue(),
                descriptor=descriptor,
            )
        )
    return faces
