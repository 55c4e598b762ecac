"""The dlib models faces use, loaded once per process from the `face-recognition-models` package.

Only models whose licence allows any use are loaded: the HOG detector (built into dlib), the CNN (MMOD) detector,
the 5-point landmark predictor and the ResNet descriptor network. The package also ships the 68-point landmark
predictor, whose training data (iBUG 300-W) forbids commercial use: it is never opened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FaceModels:
    detector: object  # dlib.fhog_object_detector or dlib.cnn_face_detection_model_v1
    cnn: bool
    landmarks: object  # dlib.shape_predictor (5 points)
    descriptor: object  # dlib.face_recognition_model_v1


def _model_dir() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.__file__).parent / "models"


def faces_unavailable() -> str | None:
    """None when faces can run here, else why not (what to install)."""
    try:
        import dlib  # noqa: F401
    except ImportError as exc:
        return f"faces are off: dlib is not installed (pip install dlib-bin; {exc})"
    try:
        folder = _model_dir()
    except ImportError as exc:
        return f"faces are off: the face-recognition-models package is not installed ({exc})"
    for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        if not (folder / name).is_file():
            return f"faces are off: {name} is missing from {folder}"
    return None


@functools.cache
def load_models(cnn: bool = False) -> FaceModels:
    """The detector (HOG by default; CNN where configured, slow on a CPU), landmarks and descriptor network."""
    why = faces_unavailable()
    if why:
        raise RuntimeError(why)
    import dlib

    folder = _model_dir()
    detector = (
        dlib.cnn_face_detection_model_v1(str(folder / "mmod_human_face_detector.dat"))
        if cnn
        else dlib.get_frontal_face_detector()
    )
    return FaceModels(
        detector=detector,
        cnn=cnn,
        landmarks=dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
        descriptor=dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")),
    )
