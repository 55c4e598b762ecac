"""The ingest pipeline: discover → hash → skip known → decode/split → embed in batches → write with COPY.

Files are processed in batches; each batch is written in one transaction, so a crash loses at most the batch
in flight and a re-run picks it up (files are identified by sha256). Any editor may ingest with their own login:
a batch is COPYed into the extension's staging tables and moved into place by mediatag.ingest_staged, which
checks the login may write the dataset and that every file lies under the media roots (staging.py, rights.py).
A file that cannot be read, embedded or found any more is stored as an `error` asset with its message (or listed
in the summary when it has no content hash), and the rest of the batch goes on. Error assets are retried by the
next run (retry_errors).

Healing: the post-ingest work (views, scoring of applied tag groups, sample top-up) is tracked per asset
(asset.post_ingest_at). A run that stopped after committing files leaves them pending and the next run of the
dataset does their post-ingest work, whether or not it brings new files. The HNSW indexes are built with
CREATE INDEX CONCURRENTLY from this connection in autocommit mode, after the data is committed, so ingests into
other datasets are not blocked meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import psycopg
from pgvector import HalfVector
from psycopg.types.json import Jsonb
from tqdm import tqdm

from ..media import MediaError, find_metadata_sidecar, limits, load_image, split_video
from ..media.audio import probe_audio
from ..models.registry import default_text_model, default_visual_model, get_text_encoder, get_visual_encoder
from ..service.backfill_queue import face_scan_queued, queue_face_scan
from .discovery import discover
from .hashing import sha256_file
from .rights import check_login, is_superuser, outside_media_roots, refuse_outside
from .staging import SEGMENT_FIELDS, copy_rows, move_batch
from .transcripts import SpeechToText, file_transcript


@dataclass(slots=True)
class IngestOptions:
    visual_model: str | None = None
    text_model: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    media_dir: Path | None = None
    batch_files: int = 16
    embed_batch: int = 32
    keyframe_every_s: float = 5.0
    progress: bool = True
    retry_errors: bool = True  # files stored as error assets by an earlier run are tried again
    max_image_pixels: int | None = limits.MAX_IMAGE_PIXELS
    max_video_seconds: float | None = limits.MAX_VIDEO_SECONDS
    max_subtitle_bytes: int = limits.MAX_SUBTITLE_BYTES
    max_sidecar_bytes: int = limits.MAX_SIDECAR_BYTES
    # Transcripts: 'auto' = the best speech-to-text engine usable here, 'off', or an engine name
    # (media/transcription); subtitle_lang: preferred embedded subtitle track languages ("de,en"), else the
    # dataset's setting (mediatag.set_subtitle_language), else the default-flagged track.
    asr: str = "auto"
    # Faces: True turns them on for the dataset (mediatag.enable_faces); a dataset with faces on is scanned after
    # every ingest either way (mediatag.faces.scan).
    faces: bool = False
    asr_language: str | None = None
    subtitle_lang: str | None = None
    # Encoders to use instead of the registry's (same name and dim as the dataset's models): custom models.
    visual_encoder: object | None = None
    text_encoder: object | None = None
    # Keyframes are stored without vectors (mediatag.keyframe_pending) and embedded afterwards by the back-fill
    # (embedder/mediatag/backfill), which also does their post-ingest work: `mediatag ingest --ray`.
    defer_keyframes: bool = False
    # Files must lie under the media roots even for a superuser (the worker runs queued ingests with them on: the
    # queuer's paths were checked, a symlink inside a folder must not lead out).
    require_media_roots: bool = False
    # Called with (files seen, files found) after every batch (the worker records it in the job).
    on_progress: Callable[[int, int], None] | None = None


@dataclass(slots=True)
class IngestSummary:
    dataset: str
    ingested: int = 0
    images: int = 0
    videos: int = 0
    audio: int = 0
    keyframes: int = 0
    shots: int = 0
    transcript_segments: int = 0
    skipped_known: int = 0
    retried: int = 0  # error assets of earlier runs tried again
    recovered: int = 0  # of those, now ingested
    healed: int = 0  # assets of earlier, interrupted runs whose post-ingest work this run did
    ingest_run: int | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    no_transcript: list[tuple[str, str]] = field(default_factory=list)  # (path, why) of videos/audio without one
    scoring_jobs: int = 0
    seconds: float = 0.0
    video_seconds: float = 0.0
    faces: int = 0  # faces found on the new keyframes (datasets with faces on)
    face_scan_job: int | None = None  # the face scan queued for the worker (a login without superuser)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def render(self) -> str:
        rate = self.keyframes / self.seconds if self.seconds else 0.0
        lines = [
            f"dataset {self.dataset}: {self.ingested} new assets ({self.images} images, {self.videos} videos"
            f"{f', {self.audio} audio' if self.audio else ''}), "
            f"{self.shots} shots, {self.keyframes} keyframes, {self.transcript_segments} transcript segments "
            f"in {self.seconds:.1f}s ({rate:.1f} keyframes/s)",
            f"  already ingested (same sha256): {self.skipped_known}",
        ]
        if self.retried:
            lines.append(f"  error assets of earlier runs retried: {self.retried} ({self.recovered} now ingested)")
        if self.healed:
            lines.append(f"  finished the post-ingest work of an interrupted earlier run for {self.healed} asset(s)")
        if self.faces:
            lines.append(f"  faces found: {self.faces}")
        if self.face_scan_job is not None:
            lines.append(f"  {face_scan_queued(self.face_scan_job)}")
        if self.scoring_jobs:
            lines.append(f"  scoring jobs queued for applied tag groups: {self.scoring_jobs}")
        for p in self.missing:
            lines.append(f"  missing: {p}")
        for p in self.unsupported:
            lines.append(f"  unsupported file type, skipped: {p}")
        for p, err in self.errors:
            lines.append(f"  error: {p}: {err}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        if self.no_transcript:
            # Said once for the run: which files got no transcript, and why.
            listed = ", ".join(f"{Path(p).name} ({why})" for p, why in self.no_transcript[:10])
            more = f" and {len(self.no_transcript) - 10} more" if len(self.no_transcript) > 10 else ""
            lines.append(f"  no transcript for {len(self.no_transcript)} file(s): {listed}{more}")
        return "\n".join(lines)


@dataclass(slots=True)
class _Prepared:
    path: Path
    kind: str
    sha: str
    size: int
    metadata: dict
    duration_ms: int | None = None
    width: int | None = None
    height: int | None = None
    tech: dict = field(default_factory=dict)
    shots: list = field(default_factory=list)  # (shot_index, start_ms, end_ms)
    keyframes: list = field(default_factory=list)  # (shot_index|None, keyframe_index, time_ms, path, w, h)
    segments: list = field(default_factory=list)  # (segment_index, start_ms, end_ms, text, source, language)
    no_transcript: str | None = None  # why a video or audio file has no transcript
    kf_vectors: np.ndarray | None = None
    seg_vectors: np.ndarray | None = None
    error: str | None = None
    asset_id: int | None = None
    replaces: int | None = None  # the id of the error asset this file's retry replaces
    image: object | None = None  # the decoded photo, kept until it is embedded (decoding twice costs ~30 %)


def _media_root(opts: IngestOptions) -> Path:
    if opts.media_dir:
        return opts.media_dir
    from ..cluster import project_root

    return Path(os.environ.get("MEDIATAG_MEDIA_DIR", project_root() / ".mediatag" / "media"))


def _dataset_models(conn: psycopg.Connection, dataset: str, opts: IngestOptions) -> tuple[str, str]:
    row = conn.execute("SELECT visual_model, text_model FROM mediatag.dataset WHERE name = %s", (dataset,)).fetchone()
    if row:
        return row[0], row[1]
    return opts.visual_model or default_visual_model(), opts.text_model or default_text_model()


def _prepare(
    path: Path, kind: str, sha: str, size: int, opts: IngestOptions, out_root: Path, stt: SpeechToText
) -> _Prepared:
    meta = {**find_metadata_sidecar(path, opts.max_sidecar_bytes), **opts.metadata}
    item = _Prepared(path=path, kind=kind, sha=sha, size=size, metadata=meta)
    if kind == "audio":
        _prepare_audio(item, opts)
        _add_transcript(item, opts, stt, has_audio=True)
        return item
    if kind == "image":
        img = load_image(path, opts.max_image_pixels)
        item.width, item.height = img.size
        item.tech = {"format": (img.format or path.suffix.lstrip(".")).lower(), "mode": img.mode}
        item.keyframes = [(None, 0, 0, str(path), img.width, img.height)]
        item.image = img
        return item
    split = split_video(
        path, out_root / sha[:2] / sha, every_s=opts.keyframe_every_s, max_duration_s=opts.max_video_seconds
    )
    info = split.info
    item.duration_ms, item.width, item.height = info.duration_ms, info.width, info.height
    item.tech = {
        "container": info.container,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "fps": info.fps,
        "bit_rate": info.bit_rate,
        "has_audio": info.has_audio,
        "is_vfr": info.is_vfr,
        **(info.extra or {}),
    }
    if split.warnings:
        item.tech["decode_warnings"] = [f"{path.name}: {w}" for w in split.warnings]
    item.shots = [(s.index, s.start_ms, s.end_ms) for s in split.shots]
    item.keyframes = [
        (k.shot_index, k.keyframe_index, k.time_ms, str(k.image_path), k.width, k.height) for k in split.keyframes
    ]
    if not item.keyframes:
        raise MediaError(f"{path.name}: no keyframe could be decoded")
    _add_transcript(item, opts, stt, has_audio=info.has_audio)
    return item


def _prepare_audio(item: _Prepared, opts: IngestOptions) -> None:
    # An audio-only file: an asset with a transcript and no keyframes (a podcast is found by its words).
    info = probe_audio(item.path)
    if opts.max_video_seconds is not None and info.duration_ms and info.duration_ms > opts.max_video_seconds * 1000:
        raise MediaError(
            item.path,
            f"audio lasts {info.duration_ms / 1000:.0f} s, above the cap of {opts.max_video_seconds:g} s"
            " (max_video_seconds)",
        )
    item.duration_ms = info.duration_ms
    item.tech = {
        "container": info.container,
        "audio_codec": info.codec,
        "audio_sample_rate": info.sample_rate,
        "audio_channels": info.channels,
        "bit_rate": info.bit_rate,
        "has_audio": True,
    }


def _add_transcript(item: _Prepared, opts: IngestOptions, stt: SpeechToText, *, has_audio: bool) -> None:
    found = file_transcript(
        item.path,
        item.kind,
        has_audio,
        stt,
        subtitle_lang=opts.subtitle_lang,
        max_subtitle_bytes=opts.max_subtitle_bytes,
    )
    if found.sidecar_warnings:
        item.tech["subtitle_warnings"] = found.sidecar_warnings
    if found.sidecar:
        item.tech["subtitles"] = [found.sidecar]
    if found.notes:
        item.tech["ingest_notes"] = [f"{item.path.name}: {n}" for n in found.notes]
    item.tech["transcript"] = found.record
    item.no_transcript = found.missing_reason if not found.segments else None
    item.segments = [(i, *row) for i, row in enumerate(found.segments)]


def _embed(items: Sequence[_Prepared], visual, text, batch: int) -> None:
    """Embed all keyframes and transcript segments of a batch of prepared files, in model-sized chunks.

    A model failure (an exception, out of memory on one huge image) costs the file it happened on: the chunk is
    retried one file at a time, and a file that still fails becomes an error asset.
    """
    ok = [it for it in items if it.error is None]
    chunks: list[list[_Prepared]] = []
    current: list[_Prepared] = []
    frames = 0
    for it in ok:
        current.append(it)
        frames += len(it.keyframes)
        if frames >= batch:
            chunks.append(current)
            current, frames = [], 0
    if current:
        chunks.append(current)
    for chunk in chunks:
        try:
            _embed_files(chunk, visual, text, batch)
        except Exception:  # noqa: BLE001 - find the file that fails, keep the others
            for it in chunk:
                try:
                    _embed_files([it], visual, text, batch)
                except Exception as e:  # noqa: BLE001
                    it.kf_vectors = it.seg_vectors = None
                    it.error = f"{it.path.name}: embedding failed ({type(e).__name__}: {e})"
        for it in chunk:
            it.image = None  # decoded photos are large: free them once embedded


def _embed_files(items: Sequence[_Prepared], visual, text, batch: int) -> None:
    # visual None: keyframes are deferred to the back-fill (IngestOptions.defer_keyframes)
    frames = [(it, i) for it in items for i in range(len(it.keyframes))] if visual is not None else []
    vecs: list[np.ndarray] = []
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        images = [it.image if it.image is not None else load_image(Path(it.keyframes[i][3])) for it, i in chunk]
        vecs.append(np.asarray(visual.embed_images(images), dtype=np.float32))
    allv = np.concatenate(vecs) if vecs else np.zeros((0, visual.dim if visual else 0), dtype=np.float32)
    if visual is not None and (allv.shape != (len(frames), visual.dim) or not np.all(np.isfinite(allv))):
        raise ValueError(f"the visual model returned {allv.shape} values (not all finite) for {len(frames)} images")
    segs: list[np.ndarray | None] = []
    for it in items:
        if it.segments:
            v = np.asarray(text.embed_texts([s[3] for s in it.segments]), dtype=np.float32)
            if v.shape != (len(it.segments), text.dim) or not np.all(np.isfinite(v)):
                raise ValueError(f"the text model returned {v.shape} values for {len(it.segments)} segments")
            segs.append(v)
        else:
            segs.append(None)
    pos = 0
    for it, seg in zip(items, segs, strict=True):
        n = len(it.keyframes) if visual is not None else 0
        it.kf_vectors, pos = (allv[pos : pos + n] if visual is not None else None), pos + n
        it.seg_vectors = seg


def _write(conn: psycopg.Connection, items: Sequence[_Prepared], run_id: int) -> list[int]:
    """One transaction per batch: staged and moved in it (staging.py). Returns the ids of the newly ingested
    assets."""
    assets, shots, keyframes, segments = [], [], [], []
    for n, it in enumerate(items):
        status = "error" if it.error else "ingested"
        assets.append((n, it.kind, str(it.path), it.sha, it.size, it.duration_ms, it.width, it.height,
                       Jsonb(it.tech), Jsonb(it.metadata), status, it.error, it.replaces))  # fmt: skip
        if it.error:
            continue
        shots.extend((n, *shot) for shot in it.shots)
        # no vectors (ingest --ray): staged without, they wait in keyframe_pending for the back-fill
        vectors = it.kf_vectors if it.kf_vectors is not None else [None] * len(it.keyframes)
        for (shot_index, kf_index, time_ms, img_path, w, h), vec in zip(it.keyframes, vectors, strict=True):
            vec = None if vec is None else HalfVector(vec)
            keyframes.append((n, shot_index, kf_index, time_ms, img_path, w, h, vec))
        for (seg_index, start_ms, end_ms, text_, source, lang), vec in zip(
            it.segments, it.seg_vectors if it.segments else (), strict=True
        ):
            segments.append((n, seg_index, start_ms, end_ms, text_, source, lang, HalfVector(vec)))
    with conn.transaction():
        stored = move_batch(conn, run_id, assets, shots, keyframes, segments)
    for n, it in enumerate(items):
        it.asset_id = stored.get(n)
    return [stored[n] for n in sorted(stored)]


# transcript_segment's columns as the speech-to-text back-fill (backfill.py, run by the operator) COPYs them.
SEGMENT_TABLE_COLUMNS = (("dataset_id", "int8"), ("asset_id", "int8"), *SEGMENT_FIELDS)


def copy_segments(conn: psycopg.Connection, rows: Sequence[tuple]) -> None:
    """COPY transcript segment rows (dataset_id, asset_id, segment_index, start_ms, end_ms, text, source, language,
    embedding) in the caller's transaction."""
    copy_rows(conn, "transcript_segment", SEGMENT_TABLE_COLUMNS, rows)


def dataset_subtitle_language(conn: psycopg.Connection, dataset_id: int) -> str | None:
    """The dataset's preferred subtitle languages (mediatag.set_subtitle_language), or None."""
    row = conn.execute("SELECT subtitle_language FROM mediatag.dataset WHERE id = %s", (dataset_id,)).fetchone()
    conn.commit()
    return row[0] if row else None


def _build_indexes(
    conn: psycopg.Connection, dataset: str, summary: IngestSummary, *, concurrently: bool | None = None
) -> None:
    """Missing HNSW indexes of the dataset, built CONCURRENTLY (autocommit) so other ingests are not blocked. Only
    the tables' owner (a superuser) may: another login (an editor's ingest, back-fill or `ingest --ray`) has
    mediatag.build_indexes build them in one transaction (it blocks other writes to the keyframe table while it
    builds). `concurrently` None: decided by the login."""
    if concurrently is None:
        concurrently = is_superuser(conn)
    if not concurrently:
        try:
            conn.execute("SELECT mediatag.build_indexes(%s)", (dataset,))
            conn.commit()
        except psycopg.Error as e:
            conn.rollback()
            summary.warnings.append(f"HNSW index not built ({e.diag.message_primary or e}); the next ingest retries")
        return
    statements = [r[0] for r in conn.execute("SELECT mediatag.index_statements(%s)", (dataset,))]
    conn.commit()
    if not statements:
        return
    was = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for stmt in statements:
            conn.execute(stmt)
    except psycopg.Error as e:
        # The data is committed and searchable without the index (exact scan); the next run tries again.
        summary.warnings.append(f"HNSW index not built ({e.diag.message_primary or e}); the next ingest retries")
    finally:
        conn.execute("RESET maintenance_work_mem")
        conn.autocommit = was


def _scan_faces(conn: psycopg.Connection, dataset: str, opts: IngestOptions, summary: IngestSummary) -> None:
    """Faces of the new keyframes, where the dataset has them on (or --faces turns them on now). A login without
    superuser cannot write the face tables: its scan is queued for the service's worker (service/backfill_queue)."""
    from ..faces.scan import scan_faces  # dlib loads only for datasets with faces on

    if opts.faces:
        conn.execute("SELECT mediatag.enable_faces(%s)", (dataset,))
        conn.commit()
    enabled, unscanned = conn.execute(
        "SELECT enabled, keyframes > scanned FROM mediatag.face_status(%s)", (dataset,)
    ).fetchone()
    conn.commit()
    if not enabled:
        return
    if not is_superuser(conn):
        if unscanned:
            summary.face_scan_job = queue_face_scan(conn, dataset)
        return
    found = scan_faces(conn, dataset, progress=opts.progress)
    if found.off:
        summary.warnings.append(found.off)
    summary.faces = found.faces


def ingest(
    conn: psycopg.Connection,
    dataset: str,
    paths: Sequence[str | Path],
    opts: IngestOptions | None = None,
) -> IngestSummary:
    opts = opts or IngestOptions()
    t0 = time.monotonic()
    summary = IngestSummary(dataset=dataset)
    found = discover(paths)
    summary.missing = [str(p) for p in found.missing]
    summary.unsupported = [str(p) for p in found.unsupported]
    superuser = check_login(conn)
    if not superuser or opts.require_media_roots:
        refuse_outside(conn, [p for p in paths if Path(p).expanduser().exists()])
        _drop_outside(conn, found, summary)
    exists = conn.execute("SELECT 1 FROM mediatag.dataset WHERE name = %s", (dataset,)).fetchone() is not None
    conn.commit()
    if not found.media and not exists:
        # A mistyped path must not leave an empty dataset behind.
        summary.warnings.append(f"no media files found: dataset {dataset!r} was not created")
        summary.seconds = time.monotonic() - t0
        return summary
    visual_name, text_name = _dataset_models(conn, dataset, opts)
    visual = opts.visual_encoder or get_visual_encoder(visual_name)
    text = opts.text_encoder or get_text_encoder(text_name)
    dataset_id = conn.execute(
        "SELECT mediatag.create_dataset(name => %s, visual_model => %s, visual_dim => %s, text_model => %s,"
        " text_dim => %s)",
        (dataset, visual.name, visual.dim, text.name, text.dim),
    ).fetchone()[0]
    # The run is recorded before any file is written, so a run that never finishes is visible afterwards.
    run_id = summary.ingest_run = conn.execute(
        "SELECT mediatag.start_ingest(%s, %s::text[])",
        (dataset, [str(Path(p).expanduser().absolute()) for p in paths]),
    ).fetchone()[0]
    conn.commit()
    slug = conn.execute("SELECT slug FROM mediatag.dataset WHERE id = %s", (dataset_id,)).fetchone()[0]
    out_root = _media_root(opts) / slug

    known: dict[str, tuple[int, str]] = {
        r[0]: (r[1], r[2])
        for r in conn.execute("SELECT sha256, id, status FROM mediatag.asset WHERE dataset_id = %s", (dataset_id,))
    }
    pending_before = conn.execute(
        "SELECT count(*) FROM mediatag.asset WHERE dataset_id = %s AND post_ingest_at IS NULL", (dataset_id,)
    ).fetchone()[0]
    conn.commit()
    new_assets: list[int] = []
    stt = SpeechToText(opts.asr, opts.asr_language, opts.progress)
    if opts.subtitle_lang is None:
        opts = replace(opts, subtitle_lang=dataset_subtitle_language(conn, dataset_id))  # the caller's stays as it was
    bar = tqdm(total=len(found.media), unit="file", disable=not opts.progress, desc=f"ingest {dataset}")
    batch: list[_Prepared] = []

    def flush() -> None:
        if not batch:
            return
        _embed(batch, None if opts.defer_keyframes else visual, text, opts.embed_batch)
        new_assets.extend(_write(conn, batch, run_id))
        for it in batch:
            if it.error:
                summary.errors.append((str(it.path), it.error))
            elif it.asset_id is not None:
                summary.recovered += it.replaces is not None
                summary.ingested += 1
                summary.images += it.kind == "image"
                summary.videos += it.kind == "video"
                summary.audio += it.kind == "audio"
                if it.no_transcript and it.kind != "image":
                    summary.no_transcript.append((str(it.path), it.no_transcript))
                summary.keyframes += len(it.keyframes)
                summary.shots += len(it.shots)
                summary.transcript_segments += len(it.segments)
                summary.video_seconds += (it.duration_ms or 0) / 1000
                summary.warnings.extend(it.tech.get("decode_warnings", []))
                summary.warnings.extend(it.tech.get("subtitle_warnings", []))
                summary.warnings.extend(it.tech.get("ingest_notes", []))
        batch.clear()
        if opts.on_progress:
            opts.on_progress(files_seen, len(found.media))

    files_seen = 0  # flush() reports it (tqdm's own count stays 0 when the bar is off)
    for path, kind in found.media:
        bar.update(1)
        files_seen += 1
        try:
            sha = sha256_file(path)
            size = path.stat().st_size
        except FileNotFoundError:
            summary.errors.append((str(path), f"{path.name}: file disappeared before it could be read"))
            continue
        except OSError as e:
            summary.errors.append((str(path), f"{path.name}: unreadable: {e.strerror or e}"))
            continue
        replaces = None
        if sha in known:
            asset_id, status = known[sha]
            if status != "error" or not opts.retry_errors:
                summary.skipped_known += 1
                continue
            replaces = asset_id
            summary.retried += 1
        known[sha] = (0, "seen")
        try:
            item = _prepare(path, kind, sha, size, opts, out_root, stt)
        except Exception as e:  # noqa: BLE001 — any decoder failure is this file's error, not the batch's
            if isinstance(e, MediaError):
                error = str(e)
            elif isinstance(e, FileNotFoundError):
                error = f"{path.name}: file disappeared while it was being read"
            else:
                error = f"{path.name}: {type(e).__name__}: {e}"
            item = _Prepared(path=path, kind=kind, sha=sha, size=size, metadata={}, error=error)
        item.replaces = replaces
        batch.append(item)
        if len(batch) >= opts.batch_files:
            flush()
    flush()
    bar.close()
    stt.close()
    summary.scoring_jobs = conn.execute(
        "SELECT mediatag.after_ingest(%s, %s::bigint[], %s)", (dataset, new_assets, run_id)
    ).fetchone()[0]
    conn.commit()
    summary.healed = max(0, pending_before)
    if not opts.defer_keyframes:  # deferred keyframes: the back-fill builds the index and scans faces
        _build_indexes(conn, dataset, summary, concurrently=superuser)
        _scan_faces(conn, dataset, opts, summary)
    summary.seconds = time.monotonic() - t0
    conn.execute("SELECT mediatag.finish_ingest(%s, %s)", (run_id, Jsonb(summary.as_dict())))
    conn.commit()
    return summary


def _drop_outside(conn: psycopg.Connection, found, summary: IngestSummary) -> None:
    """Files found in a named folder whose real path leads out of the media roots (a symlink) are refused one by
    one, as errors of the run; the others go on."""
    outside = set(outside_media_roots(conn, [str(p) for p, _ in found.media]))
    if not outside:
        return
    for p, _kind in found.media:
        if str(p) in outside:
            summary.errors.append((str(p), f"{p.name}: outside the media roots (a symlink leading out?), not read"))
    found.media = [(p, k) for p, k in found.media if str(p) not in outside]
