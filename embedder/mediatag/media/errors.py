"""The one exception the media layer raises, so ingestion can record it per file and go on with the batch."""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """A media or sidecar file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")
