"""The one exception the media layer raises, so ingestion can record it per file and go on with the batch."""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """A media or sidecar file that cannot be used; the message names the file and the problem.

    Raise it as MediaError(path, problem), which formats "<file name>: <problem>" and keeps both as
    attributes, or with a ready message, MediaError("clip.mp4: no keyframe").
    """

    def __init__(self, path: str | Path, problem: str | None = None) -> None:
        if problem is None:
            self.path: Path | None = None
            self.problem = str(path)
            super().__init__(self.problem)
            return
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")
