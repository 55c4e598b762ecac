"""Real speech and subtitle tracks for the transcript tests and the ASR bench: espeak-ng (Debian) speaks known
sentences, ffmpeg muxes them into video or audio files, or muxes subtitle files in as tracks."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

# The espeak-ng voice PocketSphinx hears best among the stock ones (en-us+klatt2 at 140 wpm: WER ~0.45 on the
# sentences below; the default en-us voice gives ~0.85).
VOICE = ("-v", "en-us+klatt2", "-s", "140")

SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "please call stella and ask her to bring these things with her from the store",
    "we need to buy some milk and bread for breakfast",
    "the weather is very nice today",
    "i would like to book a table for two people tonight",
)


def speak(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", *VOICE, "-w", str(path), text], check=True)
    return path


def speech_track(path: Path, sentences: Sequence[str], gap_s: float = 1.5) -> Path:
    """A WAV of the sentences spoken one after the other with `gap_s` of silence between them."""
    parts = [speak(path.with_name(f"{path.stem}.{i}.wav"), s) for i, s in enumerate(sentences)]
    inputs: list[str] = []
    graph = ""
    for i, part in enumerate(parts):
        inputs += ["-i", str(part)]
        graph += f"[{i}:a]aresample=22050,apad=pad_dur={gap_s}[a{i}];"
    graph += "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[a]"
    _ffmpeg(*inputs, "-filter_complex", graph, "-map", "[a]", str(path))
    for part in parts:
        part.unlink()
    return path


def talking_video(path: Path, speech: Path, *, size: str = "160x120", audio_codec: str = "aac") -> Path:
    """A test-pattern video as long as `speech`, with it as the audio track."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25", "-i", str(speech), "-shortest",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", audio_codec, str(path),
    )  # fmt: skip
    return path


def with_subtitle_tracks(
    path: Path,
    tracks: Sequence[tuple[Path, str, bool]],
    *,
    seconds: float = 4.0,
    codec: str = "copy",
    offset_s: float = 0.0,
) -> Path:
    """A short video with subtitle files muxed in as tracks: (file, language, default flag) each. codec 'copy'
    keeps SubRip/ASS as they are (Matroska); 'mov_text' for MP4. offset_s shifts the whole file's timestamps."""
    args = ["-f", "lavfi", "-t", str(seconds), "-i", "testsrc=size=160x120:rate=25"]
    for sub, _lang, _default in tracks:
        args += ["-i", str(sub)]
    args += ["-map", "0"] + [x for i in range(len(tracks)) for x in ("-map", str(i + 1))]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:s", codec]
    for i, (_sub, lang, default) in enumerate(tracks):
        args += [f"-metadata:s:s:{i}", f"language={lang}", f"-disposition:s:{i}", "default" if default else "0"]
    if offset_s:
        args += ["-output_ts_offset", str(offset_s)]
    _ffmpeg(*args, str(path))
    return path


def write_ass(path: Path, cues: Sequence[tuple[str, str, str]]) -> Path:
    """An ASS file with (start, end, text) dialogue lines, times as H:MM:SS.cc, text with override tags."""
    head = (
        "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
        "SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
        "Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\nStyle: Default,Arial,"
        "20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1\n\n[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    path.write_text(head + "".join(f"Dialogue: 0,{a},{b},Default,,0,0,0,,{t}\n" for a, b, t in cues))
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)
