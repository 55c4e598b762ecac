"""Choosing keyframes while the video streams past, and writing them as JPEG files.

Each shot is cut into windows of `every_ms`; a keyframe is the frame nearest the middle of each window, and a
shot shorter than one window gets the frame in its middle. The last, partial window of a longer shot gets its
own keyframe only when it is at least half a window long, so within a shot consecutive keyframes are never
more than `every_ms` apart (nor closer than half of it), and the first is at most half of it after the cut. The
middle of a shot avoids the blur and half-faded frames right at a cut, and is what a thumbnail of the shot
should look like. A window without any frame (a long still in a variable-frame-rate file) gets no keyframe.

The middle of a window is only known once the window (or the shot) ends, but it can never be before the
midpoint of what has been seen so far nor after the middle of a full window. Only frames in that range are
kept, thinned so their spacing grows with the elapsed time; that bounds the frames held to about six and
lets one decoding pass produce both the shots and the keyframes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Generic, TypeVar

import av
from PIL import Image

from .images import JPEG_QUALITY, fit_within, save_jpeg

P = TypeVar("P")

# Kept frames are at least elapsed/THINNING apart: the chosen frame is within ~6% of the shot's middle and
# about six decoded frames are held at a time (each held frame costs the decoder some cache).
THINNING = 8


@dataclass(slots=True)
class Keyframe:
    shot_index: int
    keyframe_index: int
    time_ms: int
    image_path: Path
    width: int
    height: int


class KeyframePicker(Generic[P]):
    """Push frames in presentation order with the index of the shot they belong to; `on_pick` is called with
    (shot_index, time_ms, payload) for each chosen frame, in time order. Call `finish(end_ms)` at the end."""

    def __init__(self, every_ms: float, on_pick: Callable[[int, float, P], None]) -> None:
        if every_ms <= 0:
            raise ValueError("every_ms must be > 0")
        self.every_ms = every_ms
        self.on_pick = on_pick
        self._shot: int | None = None
        self._start = 0.0  # start of the current window
        self._first_window = True
        self._previous_picked = False
        self._candidates: list[tuple[float, P]] = []

    @property
    def held(self) -> int:
        """Frames currently held back as candidates (for memory checks)."""
        return len(self._candidates)

    def push(self, time_ms: float, payload: P, shot_index: int) -> None:
        if shot_index != self._shot:
            if self._shot is not None:
                self._close(time_ms, shot_ends=True)
            self._shot = shot_index
            self._open(time_ms, first=True)
        else:
            while time_ms >= self._start + self.every_ms:
                self._close(self._start + self.every_ms, shot_ends=False)
                self._open(self._start + self.every_ms, first=False)
        self._offer(time_ms, payload)

    def finish(self, end_ms: float) -> None:
        if self._shot is not None:
            self._close(max(end_ms, self._start), shot_ends=True)
            self._shot = None
            self._candidates = []

    def _open(self, start: float, first: bool) -> None:
        self._start = start
        self._first_window = first
        if first:
            self._previous_picked = False
        self._candidates = []

    def _offer(self, time_ms: float, payload: P) -> None:
        latest_target = self._start + self.every_ms / 2
        earliest_target = min((self._start + time_ms) / 2, latest_target)
        cands = self._candidates
        # Forget frames that can no longer be the nearest: keep only the last one before the earliest target.
        drop = 0
        while drop + 1 < len(cands) and cands[drop + 1][0] <= earliest_target:
            drop += 1
        if drop:
            del cands[:drop]
        if not cands:
            cands.append((time_ms, payload))
        elif cands[-1][0] >= latest_target:
            return  # the window's latest target is already bracketed
        elif time_ms >= latest_target or time_ms - cands[-1][0] >= (time_ms - self._start) / THINNING:
            cands.append((time_ms, payload))

    def _close(self, end_ms: float, shot_ends: bool) -> None:
        if not self._candidates:
            self._previous_picked = False
            return
        length = end_ms - self._start
        if shot_ends and not self._first_window and self._previous_picked and length < self.every_ms / 2:
            return  # the previous keyframe is close enough to the shot's end
        target = self._start + (length / 2 if shot_ends else self.every_ms / 2)
        time_ms, payload = min(self._candidates, key=lambda c: abs(c[0] - target))
        self._previous_picked = True
        self.on_pick(self._shot if self._shot is not None else 0, time_ms, payload)


class KeyframeWriter:
    """Turns chosen frames into upright, display-proportioned JPEGs named by their index and time.

    Names (`kf_<index>_<time ms>.jpg`) depend only on the video and the settings, so a re-run overwrites the
    same files; out_dir is meant to be one folder per video.
    """

    def __init__(
        self,
        out_dir: str | Path,
        max_side: int = 512,
        sample_aspect_ratio: Fraction | None = None,
        quality: int = JPEG_QUALITY,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.max_side = max_side
        self.sar = sample_aspect_ratio if sample_aspect_ratio and sample_aspect_ratio > 0 else Fraction(1)
        self.quality = quality
        self.keyframes: list[Keyframe] = []

    def write(self, shot_index: int, time_ms: float, frame: av.VideoFrame) -> None:
        image = frame_to_image(frame, self.max_side, self.sar)
        index = len(self.keyframes)
        ms = int(round(time_ms))
        path = self.out_dir / f"kf_{index:05d}_{ms:09d}.jpg"
        save_jpeg(image, path, self.quality)
        self.keyframes.append(Keyframe(shot_index, index, ms, path, image.width, image.height))


_QUARTER_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


def frame_to_image(frame: av.VideoFrame, max_side: int, sar: Fraction = Fraction(1)) -> Image.Image:
    """RGB image as a player shows the frame: anamorphic pixels stretched, display-matrix rotation applied,
    longest side at most max_side (one swscale pass does the scaling and the colour conversion)."""
    width = frame.width if sar == 1 else max(1, round(frame.width * sar))
    out_w, out_h = fit_within(width, frame.height, max_side)
    options: dict[str, object] = {"width": out_w, "height": out_h, "format": "rgb24", "interpolation": "AREA"}
    if frame.color_range:
        options["src_color_range"] = frame.color_range  # full-range phone video would look washed out
    image = frame.reformat(**options).to_image()
    rotation = int(frame.rotation or 0)  # counter-clockwise degrees, as the display matrix says
    if rotation % 360 == 0:
        return image
    if rotation % 90 == 0:
        return image.transpose(_QUARTER_TURNS[(rotation // 90) % 4])
    return image.rotate(rotation, expand=True)
