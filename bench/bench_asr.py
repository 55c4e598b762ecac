"""Speech to text: word error rate and real-time factor of each engine available here, on espeak-ng speech of known
sentences muxed into a video, and the ingest throughput of a long talking video with ASR on.

    python bench/bench_asr.py [--minutes 10] [--no-ingest]

The speech is made here (Debian's espeak-ng, tests/speechfactory.py): 20 sentences, ~1.5 s of silence between
them. WER is over all sentences together (lower-cased words, punctuation dropped); the real-time factor is
wall time / audio time, decoding and silence detection included. Engines: PocketSphinx always; faster-whisper
with MEDIATAG_ASR_MODEL_DIR; an endpoint with MEDIATAG_ASR_URL / MEDIATAG_ASR_MODEL.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_db import bench_database_url  # noqa: E402

from mediatag.db import connect  # noqa: E402
from mediatag.ingest import IngestOptions, ingest  # noqa: E402
from mediatag.media.transcription import ENGINES, TranscriptionError, transcribe_file  # noqa: E402
from mediatag.media.transcription.metrics import word_errors  # noqa: E402
from tests.speechfactory import SENTENCES, speech_track, talking_video  # noqa: E402

MORE = (
    "the children are playing in the garden after school",
    "turn left at the next corner and drive to the station",
    "my brother works at the hospital in the city",
    "the meeting starts at nine in the morning",
    "she reads a book every night before she goes to sleep",
    "the price of coffee went up again this year",
    "open the window because it is too warm in here",
    "they found an old map in the attic of the house",
    "the train to london leaves from platform four",
    "we watched a movie about the ocean last night",
    "he forgot his keys on the kitchen table",
    "the museum is closed on mondays",
    "can you send me the report by friday",
    "the dog barked at the mailman all morning",
    "our team won the game in the last minute",
)
BENCH_SENTENCES = SENTENCES + MORE


def engine_figures(video: Path) -> list[dict]:
    reference = " ".join(BENCH_SENTENCES)
    rows = []
    for name, make in ENGINES.items():
        try:
            engine = make()
        except TranscriptionError as exc:
            print(f"  {name}: not available ({exc})")
            continue
        t = transcribe_file(video, engine)
        engine.close()
        errors, n = word_errors(reference, " ".join(s.text for s in t.segments))
        rows.append(
            {
                "engine": name,
                "wer": errors / n,
                "rtf": t.real_time_factor,
                "audio_s": t.audio_seconds,
                "speech_s": t.speech_seconds,
                "segments": len(t.segments),
            }
        )
        print(
            f"  {name}: WER {errors / n:.3f} ({errors}/{n} words), real-time factor {t.real_time_factor:.3f}"
            f" ({t.seconds:.1f} s for {t.audio_seconds:.1f} s of audio, {t.speech_seconds:.1f} s of it speech),"
            f" {len(t.segments)} segments"
        )
    return rows


def ingest_figures(folder: Path, minutes: float) -> None:
    """A long talking video (the sentence set repeated) ingested with ASR on: the whole pipeline's throughput."""
    rounds = max(1, round(minutes * 60 / 75))  # the 20 sentences last ~75 s
    speech = speech_track(folder / "long.wav", BENCH_SENTENCES * rounds)
    video = talking_video(folder / "long_talk.mp4", speech, size="640x360")
    url = bench_database_url("mediatag_bench_asr")  # a database of its own: datasets come and go
    with connect(url) as conn:
        for asr in ("off", "auto"):
            name = f"bench_asr_{asr}_{int(time.time())}"
            s = ingest(conn, name, [video], IngestOptions(progress=False, asr=asr))
            print(
                f"  ingest --asr {asr}: {s.video_seconds:.0f} s of video in {s.seconds:.1f} s"
                f" ({s.video_seconds / s.seconds:.2f}x real time), {s.keyframes} keyframes,"
                f" {s.transcript_segments} transcript segments"
            )
            conn.execute("SELECT mediatag.drop_dataset(%s)", (name,))
            conn.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the ingest throughput video")
    ap.add_argument("--no-ingest", action="store_true", help="engines only (no database)")
    args = ap.parse_args()
    print(f"speech to text on espeak-ng speech ({len(BENCH_SENTENCES)} sentences), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = talking_video(folder / "talk.mp4", speech_track(folder / "talk.wav", BENCH_SENTENCES))
        engine_figures(video)
        if not args.no_ingest:
            ingest_figures(folder, args.minutes)


if __name__ == "__main__":
    main()
