"""Shots: the time ranges between detected cuts, covering a video from 0 to its end without gaps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Shot:
    index: int
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def shots_from_cuts(cut_times_ms: Sequence[float], end_ms: float) -> list[Shot]:
    """Shot i runs from cut i-1 (or 0) to cut i (or the end of the last frame).

    Times are rounded to whole milliseconds; boundaries that collapse onto each other after rounding are
    merged, so every shot is at least 1 ms long.
    """
    bounds = [0]
    for t in sorted(cut_times_ms):
        ms = int(round(t))
        if ms > bounds[-1]:
            bounds.append(ms)
    bounds.append(max(int(round(end_ms)), bounds[-1] + 1))
    return [Shot(i, start, stop) for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False))]
