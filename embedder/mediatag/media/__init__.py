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
from .sidecars import find_metadata_sidecar, find_subtitle_sidecars, subtitle_label
from .split import VideoSplit, detect_shots, extract_keyframes, split_video
from .subtitles import Segment, SubtitleResult, parse_subtitles

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Keyframe",
    "MediaError",
    "MediaInfo",
    "Segment",
    "Shot",
    "SubtitleResult",
    "VideoSplit",
    "detect_shots",
    "extract_keyframes",
    "find_metadata_sidecar",
    "find_subtitle_sidecars",
    "load_image",
    "media_kind",
    "parse_subtitles",
    "probe",
    "split_video",
    "subtitle_label",
]
