"""Video splitting benchmark: shot detection + keyframe extraction in one decoding pass (`split_video`).

Without a path it makes (once, cached under bench/out/) a 60 s 1280x720 30 fps H.264 video of 20 three-second
shots with camera motion (pans, zooms, hand-held shake over real photos when the shared COCO photos are there,
lavfi test patterns otherwise), so the cut times are known and detection accuracy is printed too.

Printed for the same file in the same run: a decode-only pass (the floor), the one-pass split, and the
two-pass alternative (detect shots, then seek to each keyframe): the best of --repeat interleaved rounds.

    python bench/bench_keyframes.py [VIDEO] [--every-s 5] [--max-side 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "embedder"))

import av  # noqa: E402

from mediatag.media import VideoSplit, detect_shots, split_video  # noqa: E402
from mediatag.media.decode import VideoDecoder  # noqa: E402
from mediatag.media.keyframes import frame_to_image  # noqa: E402
from mediatag.sample_data import coco_dir  # noqa: E402

COCO_IMAGES = coco_dir() / "images"
OUT = ROOT / "bench" / "out"
WIDTH, HEIGHT, FPS, SHOT_S, SHOTS = 1280, 720, 30, 3, 20
CUT_TOLERANCE_MS = 150


def make_video(path: Path) -> list[int]:
    """Generate the benchmark video (if missing); returns the true cut times in ms."""
    cuts = [i * SHOT_S * 1000 for i in range(1, SHOTS)]
    if path.exists():
        return cuts
    path.parent.mkdir(parents=True, exist_ok=True)
    photos = sorted(COCO_IMAGES.glob("*.jpg"))[:SHOTS] if COCO_IMAGES.is_dir() else []
    args: list[str] = []
    for i in range(SHOTS):
        if len(photos) == SHOTS:
            args += ["-loop", "1", "-framerate", str(FPS), "-t", str(SHOT_S), "-i", str(photos[i])]
        else:
            pattern = ("testsrc2", "smptebars", "mandelbrot", "rgbtestsrc", "yuvtestsrc")[i % 5]
            args += ["-f", "lavfi", "-t", str(SHOT_S), "-i", f"{pattern}=s={WIDTH}x{HEIGHT}:r={FPS}"]
    chains = [f"[{i}:v]{_motion(i, bool(photos))},setsar=1,format=yuv420p[v{i}]" for i in range(SHOTS)]
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(SHOTS)) + f"concat=n={SHOTS}:v=1[out]"
    tmp = path.with_suffix(".part.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-nostdin",
            *args,
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            str(tmp),
        ],
        check=True,
    )
    tmp.replace(path)
    return cuts


def _motion(i: int, photo: bool) -> str:
    big_w, big_h = WIDTH * 3 // 2, HEIGHT * 3 // 2
    fill = f"scale={big_w}:{big_h}:force_original_aspect_ratio=increase,crop={big_w}:{big_h},"
    kind = i % 3
    if not photo:
        return f"scale={WIDTH}:{HEIGHT},hue=h={i * 37}"
    if kind == 0:
        return fill + f"crop={WIDTH}:{HEIGHT}:x='(iw-{WIDTH})*t/{SHOT_S}':y='(ih-{HEIGHT})/2'"
    if kind == 1:
        return fill + f"crop={WIDTH}:{HEIGHT}:x='(iw-{WIDTH})/2+60*sin(t*11+{i})':y='(ih-{HEIGHT})/2+40*sin(t*7)'"
    return fill + f"zoompan=z='1+in/200':d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={WIDTH}x{HEIGHT}:fps={FPS}"


def measure(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float, object]]:
    """Best wall time of each run over `repeat` interleaved rounds (so load from elsewhere hits all of them
    alike), with the CPU time of all threads during that best run and its result."""
    best: dict[str, tuple[float, float, object]] = {}
    for _ in range(repeat):
        for name, fn in runs.items():
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            result = fn()
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu, result)
    return best


def decode_only(path: Path) -> int:
    decoder = VideoDecoder(path)
    for _ in decoder.frames():
        pass
    return decoder.report.frames


def two_pass(path: Path, out_dir: Path, times_ms: list[int], max_side: int) -> int:
    """The alternative to one pass: find shots, then seek to each keyframe and decode up to it."""
    detect_shots(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        origin = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        for n, t in enumerate(times_ms):
            target = origin + t / 1000
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= target - 0.001:
                    frame_to_image(frame, max_side).save(out_dir / f"seek_{n:05d}.jpg", quality=90)
                    break
    return len(times_ms)


def cut_accuracy(found_ms: list[int], truth_ms: list[int]) -> str:
    matched = [min(found_ms, key=lambda f, t=t: abs(f - t)) for t in truth_ms] if found_ms else []
    hits = [(f, t) for f, t in zip(matched, truth_ms, strict=False) if abs(f - t) <= CUT_TOLERANCE_MS]
    recall = len(hits) / len(truth_ms) if truth_ms else 1.0
    precision = len(hits) / len(found_ms) if found_ms else 1.0
    err = sum(abs(f - t) for f, t in hits) / len(hits) if hits else 0.0
    return f"recall {recall:.2f}, precision {precision:.2f}, mean |error| {err:.0f} ms (tolerance ±{CUT_TOLERANCE_MS})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, help="video to split (default: generated 60 s 720p)")
    parser.add_argument("--every-s", type=float, default=5.0)
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the best run of each is shown")
    parser.add_argument("--no-two-pass", action="store_true", help="skip the seek-based comparison")
    args = parser.parse_args()

    truth: list[int] | None = None
    path = args.video
    if path is None:
        path = OUT / f"keyframes_{WIDTH}x{HEIGHT}_{SHOTS * SHOT_S}s.mp4"
        t0 = time.perf_counter()
        existed = path.exists()
        truth = make_video(path)
        if not existed:
            print(f"generated {path.name} in {time.perf_counter() - t0:.1f} s")

    work = Path(tempfile.mkdtemp(prefix="bench_keyframes_"))
    try:
        # The keyframe times for the two-pass run come from one split first (it also warms the file cache).
        first = split_video(path, work / "kf", every_s=args.every_s, max_side=args.max_side)
        times = [k.time_ms for k in first.keyframes]
        runs: dict[str, Callable[[], object]] = {
            "decode": lambda: decode_only(path),
            "split": lambda: split_video(path, work / "kf", every_s=args.every_s, max_side=args.max_side),
        }
        if not args.no_two_pass:
            runs["two_pass"] = lambda: two_pass(path, work, times, args.max_side)
        best = measure(runs, args.repeat)
        report(path, best, truth)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(path: Path, best: dict[str, tuple[float, float, object]], truth: list[int] | None) -> None:
    wall0, cpu0, frames = best["decode"]
    wall1, cpu1, split = best["split"]
    assert isinstance(split, VideoSplit) and isinstance(frames, int)
    info = split.info
    seconds = (info.duration_ms or 0) / 1000
    print(f"video: {path.name}  {info.width}x{info.height} {info.video_codec} {info.fps} fps  {seconds:.1f} s")
    print(f"machine: {os.cpu_count()} cores; PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})")
    print(
        f"decode only     : {frames / wall0:6.0f} frames/s {seconds / wall0:6.1f} s of video/s"
        f"  wall {wall0:.2f} s  cpu {cpu0:.2f} s"
    )
    print(
        f"split_video     : {split.frames_decoded / wall1:6.0f} frames/s {seconds / wall1:6.1f} s of video/s"
        f"  wall {wall1:.2f} s  cpu {cpu1:.2f} s  (vs decode only: wall {(wall1 / wall0 - 1) * 100:+.0f}%,"
        f" cpu {(cpu1 / cpu0 - 1) * 100:+.0f}%)"
    )
    print(
        f"  frames decoded {split.frames_decoded}, shots {len(split.shots)}, keyframes {len(split.keyframes)}"
        f" ({len(split.keyframes) / max(seconds, 1e-9) * 60:.1f}/min), warnings {split.warnings or 'none'}"
    )
    if truth is not None:
        print(f"  cuts: {cut_accuracy([s.start_ms for s in split.shots[1:]], truth)}")
    if "two_pass" in best:
        wall2, cpu2, _ = best["two_pass"]
        print(
            f"two-pass (seek) : {'':15} {seconds / wall2:6.1f} s of video/s  wall {wall2:.2f} s"
            f"  cpu {cpu2:.2f} s  ({wall2 / wall1:.2f}x wall, {cpu2 / cpu1:.2f}x cpu of one pass)"
        )


if __name__ == "__main__":
    main()
