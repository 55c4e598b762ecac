"""The media layer of ingestion: files in, decoded pictures, shots, keyframes, subtitles and sidecars out.

Pure functions over files (no database): ingestion calls them per asset and records a MediaError as that
asset's error while the rest of the batch goes on.
"""

from .errors import MediaError
from .images import load_image
from .keyframes import Keyframe
from .kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, media_kind
from .probe import MediaInfo, probe
from .shots import Shot
from .split import VideoSplit, detect_shots, extract_keyframes, split_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Keyframe",
    "MediaError",
    "MediaInfo",
    "Shot",
    "VideoSplit",
    "detect_shots",
    "extract_keyframes",
    "load_image",
    "media_kind",
    "probe",
    "split_video",
]
