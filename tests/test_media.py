"""Media layer tests on real files made with ffmpeg/Pillow in temporary folders (no database)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from mediatag.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    MediaError,
    Shot,
    detect_shots,
    extract_keyframes,
    find_metadata_sidecar,
    find_subtitle_sidecars,
    load_image,
    media_kind,
    parse_subtitles,
    probe,
    split_video,
    subtitle_label,
)
from mediatag.media.cuts import CutDetector
from mediatag.media.keyframes import KeyframePicker
from mediatag.media.probe import is_variable_frame_rate
from mediatag.media.signature import GRID_H, GRID_W, HIST_BINS, FrameSignature

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is needed to make test media")

SIZE = "320x240"
CUT_TOLERANCE_MS = 150


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *args], check=True)


def three_shots(out: Path, *codec: str, audio: bool = False) -> Path:
    """testsrc, plain red and a Mandelbrot, 2 s each at 25 fps: cuts at 2000 and 4000 ms."""
    inputs = [
        *("-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=25:d=2"),
        *("-f", "lavfi", "-i", f"color=c=red:s={SIZE}:r=25:d=2"),
        *("-f", "lavfi", "-i", f"mandelbrot=s={SIZE}:r=25"),
    ]
    graph = "[2:v]trim=duration=2,setpts=PTS-STARTPTS[m];[0:v][1:v][m]concat=n=3:v=1,format=yuv420p[v]"
    maps = ["-map", "[v]"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:duration=6"]
        maps += ["-map", "3:a"]
    ffmpeg(*inputs, "-filter_complex", graph, *maps, *codec, str(out))
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def cuts_mp4(media: Path) -> Path:
    x264 = ("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    return three_shots(media / "cuts.mp4", *x264, audio=True)


def assert_cuts(shots: list[Shot], expected_ms: list[int], end_ms: int) -> None:
    starts = [s.start_ms for s in shots[1:]]
    assert len(starts) == len(expected_ms), f"cuts {starts}, expected {expected_ms}"
    for got, want in zip(starts, expected_ms, strict=True):
        assert abs(got - want) <= CUT_TOLERANCE_MS, f"cuts {starts}, expected {expected_ms}"
    assert shots[0].start_ms == 0
    assert abs(shots[-1].end_ms - end_ms) <= 100
    for a, b in zip(shots, shots[1:], strict=False):
        assert a.end_ms == b.start_ms  # contiguous, no gaps or overlaps
    assert [s.index for s in shots] == list(range(len(shots)))


def keyframe_gaps(times: list[int], start: int, end: int) -> list[int]:
    points = [start, *times, end]
    return [b - a for a, b in zip(points, points[1:], strict=False)]


# --- kinds and images -------------------------------------------------------------------------------------


def test_media_kind_by_extension() -> None:
    assert media_kind("a/b/Clip.MP4") == "video"
    assert media_kind("photo.jpeg") == "image"
    assert media_kind("notes.srt") is None
    assert {".jpg", ".tiff", ".gif"} <= IMAGE_EXTENSIONS
    assert {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"} == VIDEO_EXTENSIONS


def test_load_image_applies_exif_orientation(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the left edge becomes the top
    stored.save(tmp_path / "phone.jpg", quality=95, exif=exif)
    img = load_image(tmp_path / "phone.jpg")
    assert img.mode == "RGB" and img.size == (20, 40)
    top, bottom = np.asarray(img)[5, 10], np.asarray(img)[35, 10]
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_load_image_normalises_modes(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255  # transparent shows as white
    Image.new("P", (8, 8), 3).save(tmp_path / "pal.gif")
    assert load_image(tmp_path / "pal.gif").mode == "RGB"
    deep = Image.fromarray(np.full((4, 4), 4000, dtype=np.uint16))
    deep.save(tmp_path / "deep.png")
    assert np.asarray(load_image(tmp_path / "deep.png")).max() == 255  # scaled, not clipped garbage


def test_load_image_rejects_broken_files(tmp_path: Path) -> None:
    Image.new("RGB", (256, 256), (10, 200, 30)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(500))
    for name in ("cut.jpg", "noise.png", "missing.webp"):
        with pytest.raises(MediaError, match=name.replace(".", r"\.")):
            load_image(tmp_path / name)


# --- probe and containers ---------------------------------------------------------------------------------

CONTAINERS = {
    "mp4": ("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"),
    "mkv": ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-c:a", "aac"),
    "webm": ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "400k", "-c:a", "libopus"),
    "mov": ("-c:v", "mpeg4", "-q:v", "4", "-c:a", "aac"),
}


@pytest.mark.parametrize("ext", sorted(CONTAINERS))
def test_each_container_probes_and_splits(media: Path, ext: str, tmp_path: Path) -> None:
    path = three_shots(media / f"clip.{ext}", *CONTAINERS[ext], audio=True)
    info = probe(path)
    assert info.container == ext
    assert info.video_codec == {"mp4": "h264", "mkv": "h264", "webm": "vp9", "mov": "mpeg4"}[ext]
    assert info.has_audio and info.audio_codec in {"aac", "opus"}
    assert (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_ms is not None and abs(info.duration_ms - 6000) <= 100
    assert not info.is_vfr
    json.dumps(info.extra)  # goes into a jsonb column
    result = split_video(path, tmp_path / "kf")
    assert_cuts(result.shots, [2000, 4000], 6000)
    assert result.warnings == []


def test_probe_reports_rotation_and_display_size(media: Path, tmp_path: Path) -> None:
    plain = media / "landscape.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=25:d=1", "-c:v", "libx264", "-preset", "ultrafast", str(plain))
    rotated = media / "portrait.mp4"
    with av.open(str(plain)) as src, av.open(str(rotated), "w") as dst:
        # A phone's portrait video: landscape pixels plus a display matrix saying "turn 90° clockwise".
        stream = dst.add_stream_from_template(src.streams.video[0])
        stream.set_display_rotation(-90)
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    info = probe(rotated)
    assert (info.width, info.height) == (320, 240)
    assert info.extra["rotation"] == -90
    assert (info.extra["display_width"], info.extra["display_height"]) == (240, 320)
    keyframe = split_video(rotated, tmp_path / "kf").keyframes[0]
    assert (keyframe.width, keyframe.height) == (240, 320)
    # Same picture as ffmpeg's own auto-rotation (a wrong turn would differ by ~100 grey levels).
    ffmpeg("-ss", f"{keyframe.time_ms / 1000:.3f}", "-i", str(rotated), "-frames:v", "1", str(tmp_path / "ff.png"))
    ours = np.asarray(Image.open(keyframe.image_path).convert("RGB"), dtype=np.float32)
    theirs = np.asarray(Image.open(tmp_path / "ff.png").convert("RGB"), dtype=np.float32)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() < 12


# --- shots and keyframes ----------------------------------------------------------------------------------


def test_split_finds_known_cuts_and_writes_keyframes(cuts_mp4: Path, tmp_path: Path) -> None:
    result = split_video(cuts_mp4, tmp_path / "kf")
    assert_cuts(result.shots, [2000, 4000], 6000)
    assert result.frames_decoded == 150
    assert [k.keyframe_index for k in result.keyframes] == list(range(len(result.keyframes)))
    assert [k.shot_index for k in result.keyframes] == [0, 1, 2]  # 2 s shots < every_s: one each, mid-shot
    for keyframe, shot in zip(result.keyframes, result.shots, strict=True):
        assert abs(keyframe.time_ms - (shot.start_ms + shot.end_ms) / 2) <= 200
        with Image.open(keyframe.image_path) as img:
            assert img.format == "JPEG" and img.size == (keyframe.width, keyframe.height) == (320, 240)
    # The red shot's keyframe is red: the right frame was written.
    red = np.asarray(Image.open(result.keyframes[1].image_path).convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    assert red[0] > 200 and red[1] < 40 and red[2] < 40
    # Deterministic names: a second run produces the same files.
    again = split_video(cuts_mp4, tmp_path / "kf")
    assert [k.image_path for k in again.keyframes] == [k.image_path for k in result.keyframes]
    assert sorted((tmp_path / "kf").iterdir()) == sorted(k.image_path for k in result.keyframes)


def test_detect_shots_and_extract_keyframes_agree_with_split(cuts_mp4: Path, tmp_path: Path) -> None:
    shots = detect_shots(cuts_mp4)
    assert_cuts(shots, [2000, 4000], 6000)
    given = [Shot(0, 0, 3000), Shot(1, 3000, 6000)]  # shots from elsewhere: keyframes follow them
    keyframes = extract_keyframes(cuts_mp4, given, tmp_path / "kf", every_s=5.0, max_side=160)
    assert [k.shot_index for k in keyframes] == [0, 1]
    assert [abs(k.time_ms - t) <= 120 for k, t in zip(keyframes, (1500, 4500), strict=True)] == [True, True]
    assert all(max(k.width, k.height) == 160 for k in keyframes)


def test_long_single_shot_gets_a_keyframe_every_interval(media: Path, tmp_path: Path) -> None:
    path = media / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=15:d=23", "-c:v", "libx264", "-preset", "ultrafast", str(path))
    for every_s in (5.0, 2.0):
        result = split_video(path, tmp_path / f"kf{every_s}", every_s=every_s)
        assert len(result.shots) == 1
        times = [k.time_ms for k in result.keyframes]
        assert times == sorted(times) and len(times) >= 23 / every_s - 1
        gaps = keyframe_gaps(times, 0, result.shots[0].end_ms)
        assert max(gaps[1:-1]) <= every_s * 1000 + 70  # between keyframes: at most every_s (one frame slack)
        assert gaps[0] <= every_s * 500 + 70 and gaps[-1] <= every_s * 1000


def test_variable_frame_rate_uses_timestamps(media: Path, tmp_path: Path) -> None:
    # 3 s at 30 fps, then two 3 s shots at 10 fps: frame counting would put the second cut at 4 s.
    path = media / "vfr.mkv"
    graph = "[1:v]trim=duration=3,setpts=PTS-STARTPTS[m];[0:v][m][2:v]concat=n=3:v=1,format=yuv420p[v]"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=30:d=3"),
        *("-f", "lavfi", "-i", f"mandelbrot=s={SIZE}:r=10"),
        *("-f", "lavfi", "-i", f"color=c=blue:s={SIZE}:r=10:d=3"),
        *("-filter_complex", graph, "-map", "[v]", "-fps_mode", "passthrough"),
        *("-c:v", "libx264", "-preset", "ultrafast", str(path)),
    )
    info = probe(path)
    assert info.is_vfr
    result = split_video(path, tmp_path / "kf", every_s=2.0)
    assert result.frames_decoded == 90 + 30 + 30
    assert_cuts(result.shots, [3000, 6000], 9000)
    for keyframe in result.keyframes:
        shot = result.shots[keyframe.shot_index]
        assert shot.start_ms <= keyframe.time_ms < shot.end_ms


def test_constant_rate_detection_tolerates_rounded_timestamps() -> None:
    rounded = [round(i / 30, 3) for i in range(300)]  # Matroska's 1 ms clock: 33/34 ms steps
    assert not is_variable_frame_rate(rounded, tick_s=0.001)
    dropped = [i / 25 for i in range(300) if i != 100]  # one dropped frame is not variable rate
    assert not is_variable_frame_rate(dropped)
    phone = [t for i in range(100) for t in (i * 0.1, i * 0.1 + 0.033, i * 0.1 + 0.05)]
    assert is_variable_frame_rate(phone)


def test_flash_is_not_a_cut(media: Path, tmp_path: Path) -> None:
    path = media / "flash.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=25:d=3"),
        *("-vf", "drawbox=c=white:t=fill:enable='eq(n,30)',drawbox=c=black:t=fill:enable='between(n,50,51)'"),
        *("-c:v", "libx264", "-preset", "ultrafast", str(path)),
    )
    assert len(split_video(path, tmp_path / "kf").shots) == 1


def test_single_frame_and_very_short_videos(media: Path, tmp_path: Path) -> None:
    one, short = media / "one.mp4", media / "short.webm"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=25:d=0.04", "-c:v", "libx264", "-preset", "ultrafast", str(one))
    ffmpeg("-f", "lavfi", "-i", f"testsrc=s={SIZE}:r=25:d=0.3", "-c:v", "libvpx", "-deadline", "realtime", str(short))
    result = split_video(one, tmp_path / "one")
    assert result.frames_decoded == 1
    assert [(s.start_ms, s.end_ms) for s in result.shots] == [(0, 40)]
    assert [(k.shot_index, k.time_ms) for k in result.keyframes] == [(0, 0)]
    result = split_video(short, tmp_path / "short")
    assert len(result.shots) == 1 and len(result.keyframes) == 1
    assert 80 <= result.keyframes[0].time_ms <= 200


def test_unreadable_videos_raise_media_error(media: Path, cuts_mp4: Path, tmp_path: Path) -> None:
    data = cuts_mp4.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov index at the end: gone
    (tmp_path / "noise.mkv").write_bytes(np.random.default_rng(1).bytes(4000))
    (tmp_path / "empty.mov").write_bytes(b"")
    (tmp_path / "notes.avi").write_text("not a video at all\n")
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(tmp_path / "audio_only.mp4"))
    expected = {
        "truncated.mp4": "unreadable container",
        "noise.mkv": "unreadable",
        "empty.mov": "empty file",
        "notes.avi": "unreadable",
        "audio_only.mp4": "no decodable video stream",
        "missing.mp4": "file not found",
    }
    for name, problem in expected.items():
        with pytest.raises(MediaError, match=rf"^{name.replace('.', '[.]')}: {problem}"):
            split_video(tmp_path / name, tmp_path / "kf")
        with pytest.raises(MediaError, match=name.replace(".", "[.]")):
            probe(tmp_path / name)


def test_truncated_after_index_keeps_decodable_part(cuts_mp4: Path, tmp_path: Path) -> None:
    fast = tmp_path / "faststart.mp4"
    ffmpeg("-i", str(cuts_mp4), "-c", "copy", "-movflags", "+faststart", str(fast))
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    result = split_video(cut, tmp_path / "kf")
    assert any("truncated" in w for w in result.warnings)
    assert 2000 < result.shots[-1].end_ms < 6000
    assert abs(result.shots[1].start_ms - 2000) <= CUT_TOLERANCE_MS


def flat_signature(level: int) -> FrameSignature:
    hist = np.zeros(3 * HIST_BINS, dtype=np.float32)
    hist[[level // 16, HIST_BINS + 8, 2 * HIST_BINS + 8]] = 1.0
    return FrameSignature(np.full(GRID_H * GRID_W, level, dtype=np.float32), hist)


def test_cut_detector_on_synthetic_signatures() -> None:
    # 40 ms frames: dark, with a two-frame flash at 1 s and a small exposure step at 2 s (neither is a cut);
    # a cut to bright at 4 s, and another 200 ms later that is closer than min_shot_ms and ignored.
    levels = [32] * 50 + [40] * 50 + [220] * 5 + [120] * 45
    levels[25:27] = [250, 250]
    detector: CutDetector[int] = CutDetector(min_shot_ms=400)
    decisions = []
    for i, level in enumerate(levels):
        decisions += detector.push(i * 40.0, flat_signature(level), i)
    decisions += detector.finish()
    assert [d.payload for d in decisions] == list(range(len(levels)))  # all frames, in order
    assert [d.time_ms for d in decisions if d.is_cut] == [4000.0]
    assert max(d.score for d in decisions if not d.is_cut and d.time_ms < 4000) < 0.09


def test_keyframe_picker_spacing_on_synthetic_timelines() -> None:
    picks: list[tuple[int, float]] = []
    picker: KeyframePicker[int] = KeyframePicker(5000.0, lambda shot, t, _payload: picks.append((shot, t)))
    # Shots of 0.2 s, 4 s, 12.04 s and 31 s at 25 fps; the last one then shows a still for 9 s (VFR: no
    # frames in between) and one more frame.
    starts = [0, 200, 4200, 16240]
    times = [*range(0, 47240, 40), 56240, 56280]
    held = 0
    for t in times:
        shot = sum(1 for b in starts[1:] if t >= b)
        picker.push(float(t), t, shot)
        held = max(held, picker.held)
    picker.finish(56320.0)
    assert held <= 8  # bounded memory of decoded frames
    assert [t for _, t in picks] == sorted(t for _, t in picks)
    by_shot: dict[int, list[float]] = {}
    for shot, t in picks:
        by_shot.setdefault(shot, []).append(t)
    assert sorted(by_shot) == [0, 1, 2, 3]
    assert abs(by_shot[0][0] - 100) <= 40 and abs(by_shot[1][0] - 2200) <= 200  # middles of short shots
    for shot, end in ((1, 4200), (2, 16240), (3, 47240)):
        ts = [t for t in by_shot[shot] if t < end]
        gaps = keyframe_gaps(ts, starts[shot], end)
        assert max(gaps[1:-1], default=0) <= 5000 + 40 and gaps[0] <= 2500 + 40 and gaps[-1] <= 5000
    assert by_shot[3][-1] >= 56240  # the still after the gap has its own keyframe


# --- subtitles --------------------------------------------------------------------------------------------

SRT_WITH_DEFECTS = (
    "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Je suis allé à l'école</i>\r\n"
    '2\r\n00:00:03.000 --> 00:00:04,000\r\n{\\an8}Ça va, <font color="#ffff00">très</font> bien &amp; toi?\r\n\r\n'
    "7\r\n00:00:03,500 --> 00:00:05,000 X1:100 X2:200 Y1:10 Y2:20\r\nOverlapping cue\r\nsecond line\r\n\r\n"
    "4\r\n00:00:09,000 --> 00:00:0x,000\r\nbroken timing\r\n\r\n"
    "5\r\n0:00:10,5 --> 0:00:11,75\r\nShort hours, short fractions\r\n\r\n"
)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-16-le", "utf-8-sig"])
def test_srt_in_real_world_encodings_with_defects(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "film.srt"
    path.write_bytes(SRT_WITH_DEFECTS.encode(encoding))
    result = parse_subtitles(path)
    assert [(s.start_ms, s.end_ms, s.text) for s in result.segments] == [
        (1000, 2500, "Je suis allé à l'école"),
        (3000, 4000, "Ça va, très bien & toi?"),
        (3500, 5000, "Overlapping cue second line"),
        (10500, 11750, "Short hours, short fractions"),
    ]
    assert result.encoding.replace("_", "-").startswith(encoding.split("-sig")[0][:6])
    text = " | ".join(result.warnings)
    for defect in ("missing blank line", "unreadable timing", "bad index", "overlapping"):
        assert defect in text


def test_vtt_tags_cue_settings_and_blocks(tmp_path: Path) -> None:
    path = tmp_path / "clip.en.vtt"
    path.write_text(
        "WEBVTT - with header\nKind: captions\n\nNOTE a comment\nover two lines\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10% line:0\n"
        "<v Roger Bingham>We are <c.loud>live</c></v>\n\n"
        "00:00:02.500 --> 00:00:04.000\n<00:00:03.000><b>Karaoke</b> &lt;3\n"
        "00:04.000 --> 00:05.000\n<ruby>漢<rt>kan</rt></ruby>字\n",
        encoding="utf-8",
    )
    result = parse_subtitles(path)
    assert result.format == "vtt"
    assert [(s.start_ms, s.end_ms, s.text) for s in result.segments] == [
        (1000, 2000, "We are live"),
        (2500, 4000, "Karaoke <3"),
        (4000, 5000, "漢kan字"),
    ]
    assert result.warnings == ["1 missing blank line(s) between cues (line 16)"]


def test_subtitles_without_cues_raise(tmp_path: Path) -> None:
    (tmp_path / "empty.srt").write_bytes(b"\xef\xbb\xbf\r\n")
    (tmp_path / "prose.srt").write_text("Just some notes,\nno timings here.\n")
    (tmp_path / "binary.vtt").write_bytes(np.random.default_rng(2).bytes(300))
    for name in ("empty.srt", "prose.srt", "binary.vtt", "missing.srt"):
        with pytest.raises(MediaError, match=name.replace(".", "[.]")):
            parse_subtitles(tmp_path / name)


# --- sidecars ---------------------------------------------------------------------------------------------


def test_find_subtitle_sidecars(tmp_path: Path) -> None:
    for name in ("clip.mp4", "clip.srt", "clip.en.vtt", "Clip.FR.forced.SRT", "clip2.srt", "clip.txt", "other.vtt"):
        (tmp_path / name).write_text("x")
    found = find_subtitle_sidecars(tmp_path / "clip.mp4")
    assert [p.name for p in found] == ["clip.srt", "clip.en.vtt", "Clip.FR.forced.SRT"]
    assert [subtitle_label(p, tmp_path / "clip.mp4") for p in found] == [None, "en", "FR.forced"]
    assert find_subtitle_sidecars(tmp_path / "nothing.mp4") == []


def test_metadata_from_csv_and_json_sidecars(tmp_path: Path) -> None:
    (tmp_path / "metadata.csv").write_bytes(
        "filename;SeriesName;EpisodeName;Season\r\n"
        "ep1.mp4;Café Stories;Pilot;1\r\n"
        "sub\\ep2.mp4;Café Stories;Épisode deux;\r\n".encode("cp1252")  # Excel on Windows
    )
    (tmp_path / "ep2.json").write_text(json.dumps({"Season": 1, "tags": ["a"]}))
    (tmp_path / "ep2.mp4.json").write_text(json.dumps({"tags": ["b"]}))
    assert find_metadata_sidecar(tmp_path / "ep1.mp4") == {
        "SeriesName": "Café Stories",
        "EpisodeName": "Pilot",
        "Season": "1",
    }
    assert find_metadata_sidecar(tmp_path / "ep2.mp4") == {
        "SeriesName": "Café Stories",
        "EpisodeName": "Épisode deux",
        "Season": 1,
        "tags": ["b"],
    }
    assert find_metadata_sidecar(tmp_path / "ep3.mp4") == {}


def test_malformed_metadata_sidecars_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"SeriesName": "x",}')
    with pytest.raises(MediaError, match=r"^a\.json: invalid JSON \(line 1"):
        find_metadata_sidecar(tmp_path / "a.mp4")
    (tmp_path / "b.jpg.json").write_text("[1, 2]")
    with pytest.raises(MediaError, match=r"^b\.jpg\.json: .*JSON object"):
        find_metadata_sidecar(tmp_path / "b.jpg")
    table = tmp_path / "sub"
    table.mkdir()
    (table / "metadata.csv").write_text("name,SeriesName\nc.mp4,x\n")
    with pytest.raises(MediaError, match=r"^metadata\.csv: first column"):
        find_metadata_sidecar(table / "c.mp4")
