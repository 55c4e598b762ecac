"""Transcripts for every video (issue 25): subtitle tracks inside the file, speech to text (PocketSphinx on real
espeak-ng speech, an OpenAI-compatible endpoint on a local server), audio-only files, the back-fill and the
scoring of what it adds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mediatag.db import connect
from mediatag.ingest import IngestOptions, backfill, ingest
from mediatag.ingest import jobs as transcribe_jobs
from mediatag.media.embedded_subtitles import SubtitleTrack, choose_track, read_embedded_subtitles
from mediatag.media.transcription import TranscriptionError, transcribe_file
from mediatag.media.transcription.metrics import word_error_rate
from mediatag.media.transcription.openai_endpoint import EndpointConfig, OpenAIEndpointEngine
from mediatag.media.transcription.pocketsphinx import PocketSphinxEngine

from .asr_server import ASRServer, Reply
from .conftest import unique
from .mediafactory import write_srt
from .speechfactory import SENTENCES, speech_track, talking_video, with_subtitle_tracks, write_ass

# PocketSphinx measures ~0.45 on these sentences (bench/bench_asr.py); a broken pipeline (wrong sample rate,
# clipped chunks, misplaced times) lands near 1.0.
WER_FLOOR = 0.7

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (scripts/install_system.sh)")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_track(tmp_path_factory.mktemp("speech") / "sentences.wav", SENTENCES)


@pytest.fixture(scope="module")
def talking(speech: Path) -> Path:
    return talking_video(speech.with_name("talking.mp4"), speech)


def _segments(conn, dataset: str) -> list[tuple]:
    return conn.execute(
        "SELECT a.kind, s.start_ms, s.end_ms, s.text, s.source, s.language FROM mediatag.transcript_segment s "
        "JOIN mediatag.asset a ON a.id = s.asset_id WHERE s.dataset_id = mediatag.dataset_id(%s) "
        "ORDER BY a.id, s.segment_index",
        (dataset,),
    ).fetchall()


# ---- subtitle tracks inside the container ----------------------------------------------------------------------


def test_mkv_track_choice_by_language_default_and_ass_styling_stripped(tmp_path):
    en = write_srt(tmp_path / "en.srt", [(500, 1500, "<i>Hello</i> world"), (2000, 3000, "Second line")])
    de = write_srt(tmp_path / "de.srt", [(500, 1500, "Hallo Welt")])
    ass = write_ass(tmp_path / "s.ass", [("0:00:01.00", "0:00:02.50", r"{\an8}{\b1}Bold{\b0} text\Nsecond line")])
    mkv = with_subtitle_tracks(tmp_path / "two.mkv", [(en, "eng", False), (de, "ger", True), (ass, "jpn", False)])

    default = read_embedded_subtitles(mkv)
    assert default.track.source == "embedded:subrip:deu" and [s.text for s in default.segments] == ["Hallo Welt"]
    asked = read_embedded_subtitles(mkv, "en")
    assert asked.track.source == "embedded:subrip:eng"
    assert [(s.start_ms, s.end_ms, s.text) for s in asked.segments] == [
        (500, 1500, "Hello world"),
        (2000, 3000, "Second line"),
    ]
    assert read_embedded_subtitles(mkv, "fr, deu").track.language == "deu"  # the first asked-for that exists
    styled = read_embedded_subtitles(mkv, "ja")
    assert styled.track.source == "embedded:ass:jpn"
    assert [(s.start_ms, s.end_ms, s.text) for s in styled.segments] == [(1000, 2500, "Bold text second line")]
    # Nothing flagged default and nothing asked for: the first text track; bitmap tracks are never chosen.
    pgs = SubtitleTrack(0, "hdmv_pgs_subtitle", "eng", default=True, forced=False)
    first = SubtitleTrack(1, "subrip", "deu", default=False, forced=False)
    assert choose_track([pgs, first, SubtitleTrack(2, "ass", "eng", False, False)]) is first
    assert choose_track([pgs]) is None


def test_ingest_takes_embedded_tracks_mov_text_with_offset_and_the_dataset_language(
    db_url, service, media_dir, tmp_path
):
    en = write_srt(tmp_path / "en.srt", [(500, 1500, "Hello world"), (2000, 3000, "Second line")])
    de = write_srt(tmp_path / "de.srt", [(600, 1600, "Hallo Welt")])
    # MP4 with mov_text, every timestamp shifted by 10 s: cue times stay relative to the first frame.
    mp4 = with_subtitle_tracks(tmp_path / "offset.mp4", [(en, "eng", True)], codec="mov_text", offset_s=10)
    mkv = with_subtitle_tracks(tmp_path / "two.mkv", [(en, "eng", True), (de, "ger", False)], seconds=3)
    ds = unique("embedded")
    opts = IngestOptions(progress=False, media_dir=media_dir, asr="off")
    with connect(db_url) as c:
        s = ingest(c, ds, [mp4], opts)
        assert s.videos == 1 and s.transcript_segments == 2 and not s.errors, s.render()
        c.execute("SELECT mediatag.set_subtitle_language(%s, %s)", (ds, "ger,eng"))
        c.commit()
        s = ingest(c, ds, [mkv], opts)
        assert s.transcript_segments == 1, s.render()
        segs = _segments(c, ds)
        first_shot = c.execute(
            "SELECT min(k.start_ms), max(k.end_ms) FROM mediatag.shot k JOIN mediatag.asset a ON a.id = k.asset_id "
            "WHERE a.dataset_id = mediatag.dataset_id(%s) AND a.path LIKE '%%offset.mp4'",
            (ds,),
        ).fetchone()
    assert segs == [
        ("video", 500, 1500, "Hello world", "embedded:mov_text:eng", "eng"),
        ("video", 2000, 3000, "Second line", "embedded:mov_text:eng", "eng"),
        ("video", 600, 1600, "Hallo Welt", "embedded:subrip:deu", "deu"),
    ]
    assert first_shot[0] == 0 and abs(first_shot[1] - 4000) < 100  # frames measured from the same origin


# ---- speech to text ---------------------------------------------------------------------------------------------


def test_pocketsphinx_transcribes_espeak_speech_under_the_wer_floor(talking):
    engine = PocketSphinxEngine()
    t = transcribe_file(talking, engine)
    heard = " ".join(s.text for s in t.segments)
    wer = word_error_rate(" ".join(SENTENCES), heard)
    assert wer <= WER_FLOOR, (wer, heard)
    # Silence between sentences splits them: one segment per sentence or close, in order, inside the audio.
    assert len(SENTENCES) - 1 <= len(t.segments) <= len(SENTENCES) + 2, t.segments
    assert all(a.end_ms <= b.start_ms for a, b in zip(t.segments, t.segments[1:], strict=False))
    assert t.segments[0].start_ms < 1000 and t.segments[-1].end_ms <= t.audio_seconds * 1000 + 50
    assert t.source == "asr:pocketsphinx" and t.complete and t.notes == []


def test_endpoint_retries_429_and_500_then_gives_a_note_on_timeouts(speech, tmp_path):
    two = speech_track(tmp_path / "two.wav", SENTENCES[:2])
    with ASRServer() as server:
        server.script = [Reply(429, {"error": "slow down"}, headers={"Retry-After": "0"}), Reply(500, "oops"), Reply()]
        config = EndpointConfig(url=server.url, model="whisper-test", api_key="k3y", timeout_s=5, backoff_s=0.01)
        engine = OpenAIEndpointEngine(config)
        t = transcribe_file(two, engine)
        assert [s.text for s in t.segments] == ["request 2 heard", "request 3 heard"], t.segments
        assert engine.requests == 4 and {r.model for r in server.requests} == {"whisper-test"}
        assert {r.authorization for r in server.requests} == {"Bearer k3y"}
        # Segment times are the server's, placed at the chunk's position in the file.
        assert 0 < t.segments[0].start_ms < t.segments[0].end_ms < t.segments[1].start_ms
        assert t.segments[0].language == "english" and t.complete

        server.requests.clear()
        server.script = [Reply(delay=1.0)]
        slow = OpenAIEndpointEngine(
            EndpointConfig(url=server.url, model="m", timeout_s=0.2, max_retries=1, backoff_s=0)
        )
        t = transcribe_file(two, slow)
        assert t.segments == [] and not t.complete and len(server.requests) == 2  # one chunk, 2 tries, then stop
        assert any("gave up after 2 attempts: no reply within 0.2 s" in n for n in t.notes), t.notes
        server.script = [Reply(401, {"error": "bad key"})]
        with pytest.raises(TranscriptionError, match="HTTP 401.*MEDIATAG_ASR_API_KEY"):
            slow.transcribe(np.zeros(16000, dtype=np.int16))  # not retried: asking again will not help


def test_audio_only_files_silence_and_no_audio(db_url, service, media_dir, speech, tmp_path):
    import subprocess

    mp3 = tmp_path / "podcast.mp3"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(speech), str(mp3)], check=True)
    silent = tmp_path / "silence.wav"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-t", "3", "-i", "anullsrc=r=16000:cl=mono", str(silent)],
        check=True,
    )
    ds = unique("audio")
    with connect(db_url) as c:
        s = ingest(c, ds, [mp3, silent], IngestOptions(progress=False, media_dir=media_dir))
        assert s.audio == 2 and s.keyframes == 0 and not s.errors, s.render()
        rows = _segments(c, ds)
        assets = dict(
            c.execute(
                "SELECT path, tech -> 'transcript' FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)",
                (ds,),
            ).fetchall()
        )
    assert rows and {r[0] for r in rows} == {"audio"} and {r[4] for r in rows} == {"asr:pocketsphinx"}
    assert word_error_rate(" ".join(SENTENCES), " ".join(r[3] for r in rows)) <= WER_FLOOR
    assert assets[str(silent)]["asr"] == "pocketsphinx" and assets[str(silent)]["segments"] == 0
    assert [p for p, _ in s.no_transcript] == [str(silent)] and "no speech found" in s.no_transcript[0][1]
    assert "no transcript for 1 file(s): silence.wav (no speech found" in s.render()


def test_endpoint_down_at_ingest_costs_the_transcript_only(db_url, service, media_dir, talking, monkeypatch):
    with ASRServer() as server:
        server.script = [Reply(500, "down")]
        monkeypatch.setenv("MEDIATAG_ASR_URL", server.url)
        monkeypatch.setenv("MEDIATAG_ASR_MODEL", "whisper-test")
        monkeypatch.setenv("MEDIATAG_ASR_MAX_RETRIES", "1")
        monkeypatch.setenv("MEDIATAG_ASR_BACKOFF", "0")
        ds = unique("down")
        with connect(db_url) as c:
            s = ingest(c, ds, [talking], IngestOptions(progress=False, media_dir=media_dir, asr="openai"))
            pending = c.execute("SELECT pending FROM mediatag.transcription_status(%s)", (ds,)).fetchone()[0]
    assert s.videos == 1 and s.keyframes > 0 and s.transcript_segments == 0 and not s.errors
    assert any("gave up after 2 attempts: HTTP 500" in w for w in s.warnings), s.warnings
    assert pending == 1  # the back-fill will try it again
    assert len(server.requests) == 2


# ---- back-fill and scoring ---------------------------------------------------------------------------------------


def test_backfill_resumes_after_a_kill_and_scores_transcript_tags(
    db_url, service, client, conn, media_dir, speech, tmp_path, monkeypatch
):
    videos = [talking_video(tmp_path / "first.mp4", speech)]
    videos.append(talking_video(tmp_path / "second.mp4", speech_track(tmp_path / "s2.wav", SENTENCES[2:4])))
    ds = unique("backfill")
    with connect(db_url) as c:
        s = ingest(c, ds, videos, IngestOptions(progress=False, media_dir=media_dir, asr="off"))
    assert s.videos == 2 and s.transcript_segments == 0
    assert "speech to text is off" in s.render()
    group = unique("Breakfast")
    client.create_tag_group(ds, group, ["breakfast"])
    client.add_prompt(group, "breakfast", "milk and bread for breakfast", modality="transcript")
    client.publish_tag_group(group)
    client.run_jobs()
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE lower(name) = lower(%s)", (group,)).fetchone()[0]
    scored = f"SELECT count(*) FROM mediatag_data.dt_{slug}_transcript"
    assert conn.execute(scored).fetchone()[0] == 0

    # A run killed while it hears the second file: the first file's transcript is committed, the second's not.
    real = backfill.transcribe_speech
    calls = []

    def killed_on_second(path, *args):
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, *args)

    monkeypatch.setattr(backfill, "transcribe_speech", killed_on_second)
    with connect(db_url) as c, pytest.raises(KeyboardInterrupt):
        backfill.transcribe_dataset(c, ds, progress=False)
    monkeypatch.setattr(backfill, "transcribe_speech", real)
    row = conn.execute("SELECT * FROM mediatag.transcription_status(%s)", (ds,)).fetchone()
    assert row[:6] == (2, 1, 0, 0, 1, 1), row

    # The rest through the SQL function's job, as the service's worker runs it: only the unfinished file.
    job = conn.execute("SELECT mediatag.transcribe(%s)", (ds,)).fetchone()[0]
    assert conn.execute("SELECT mediatag.transcribe(%s)", (ds,)).fetchone()[0] == job  # one at a time
    assert transcribe_jobs.run_pending(db_url) == 1
    state, result = conn.execute("SELECT state, result FROM mediatag.job WHERE id = %s", (job,)).fetchone()
    assert state == "done" and result["targets"] == 1 and result["transcribed"] == 1, result
    assert conn.execute("SELECT * FROM mediatag.transcription_status(%s)", (ds,)).fetchone()[:6] == (2, 2, 0, 0, 2, 0)

    # New segments queued their scoring; the transcript tag scores the ASR segments like subtitles.
    queued = conn.execute(
        "SELECT payload FROM mediatag.job WHERE kind = 'score_assets' AND state = 'queued' "
        "AND (payload ->> 'group_id')::bigint = (SELECT id FROM mediatag.tag_group WHERE slug = %s)",
        (slug,),
    ).fetchall()
    assert len(queued) == 1 and len(queued[0][0]["rescore_asset_ids"]) == 2
    client.run_jobs()
    n_segments = len(_segments(conn, ds))
    assert conn.execute(scored).fetchone()[0] == n_segments > 0
    best = conn.execute(
        f"SELECT t.text FROM mediatag_data.dt_{slug}_transcript t ORDER BY t.score DESC LIMIT 1"
    ).fetchone()[0]
    assert "bread" in best or "breakfast" in best or "milk" in best, best
    # Scoring it again (full job) gives the same rows: the rescore left no duplicates.
    client.score_tag_group(group)
    assert conn.execute(scored).fetchone()[0] == n_segments
