"""`mediatag faces scan DATASET` (and ingest --faces): finds the faces of every keyframe not scanned yet.

Resumable: a batch of keyframes' faces and their face_scan rows are committed together, so a killed run redoes
only the batch in flight. Two scans of one dataset at once (ingest's and the worker's back-fill job) never store a
keyframe's faces twice: a batch claims its keyframes by inserting their face_scan rows first. After the scan, new
faces are linked into tracks and clustered into people, and groups with person tags applied to the dataset are
queued for scoring again (their scores depend on the faces).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from pgvector import Vector
from tqdm import tqdm

from ..media import MediaError, load_image
from .cluster import ClusterSummary, cluster_people
from .detect import detect_faces
from .models import faces_unavailable
from .tracks import link_tracks


@dataclass(slots=True)
class FaceScanSummary:
    dataset: str
    keyframes: int = 0
    faces: int = 0
    unreadable: int = 0
    people: ClusterSummary = field(default_factory=ClusterSummary)
    seconds: float = 0.0
    off: str | None = None  # why nothing was scanned

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__slots__ if k != "people"}
        out["people"] = {k: getattr(self.people, k) for k in self.people.__slots__}
        return out

    def render(self) -> str:
        if self.off:
            return f"dataset {self.dataset}: {self.off}"
        rate = self.keyframes / self.seconds if self.seconds else 0.0
        p = self.people
        lines = [
            f"dataset {self.dataset}: {self.faces} faces on {self.keyframes} keyframes in {self.seconds:.1f}s"
            f" ({rate:.1f} keyframes/s)",
            f"  people: {p.new_people} new, {p.assigned} faces joined known people, {p.waiting} faces in no person yet",
        ]
        if self.unreadable:
            lines.append(f"  keyframe images not readable (skipped, marked scanned): {self.unreadable}")
        return "\n".join(lines)


def scan_faces(
    conn: psycopg.Connection,
    dataset: str,
    *,
    progress: bool = True,
    batch: int = 16,
    limit: int | None = None,
    on_batch: Callable[[FaceScanSummary, int], None] | None = None,
) -> FaceScanSummary:
    """Scans the dataset's keyframes not scanned yet (at most `limit`); `on_batch(summary, total)` after each
    committed batch (the back-fill job records its progress there)."""
    started = time.monotonic()
    summary = FaceScanSummary(dataset=dataset)
    dataset_id, enabled, detector = conn.execute(
        "SELECT mediatag.dataset_id(%s), s.enabled, s.detector FROM mediatag.face_status(%s) s", (dataset, dataset)
    ).fetchone()
    conn.commit()
    if not enabled:
        summary.off = f"faces are off for this dataset (turn them on: SELECT mediatag.enable_faces('{dataset}'))"
        return summary
    summary.off = faces_unavailable()
    if summary.off:
        return summary
    todo = conn.execute(
        "SELECT count(*) FROM mediatag.keyframe k WHERE k.dataset_id = %s"
        " AND NOT EXISTS (SELECT 1 FROM mediatag.face_scan s WHERE s.keyframe_id = k.id)",
        (dataset_id,),
    ).fetchone()[0]
    conn.commit()
    total = min(todo, limit) if limit is not None else todo
    with tqdm(total=total, unit="keyframe", disable=not progress, desc=f"faces {dataset}") as bar:
        while summary.keyframes < total:
            n = min(batch, total - summary.keyframes)
            targets = conn.execute("SELECT * FROM mediatag._face_targets(%s, %s)", (dataset_id, n)).fetchall()
            if not targets:
                break
            _scan_batch(conn, dataset_id, targets, detector == "cnn", summary)
            bar.update(len(targets))
            if on_batch is not None:
                on_batch(summary, total)
    with conn.transaction():
        link_tracks(conn, dataset_id)
        summary.people = cluster_people(conn, dataset_id)
        if summary.faces:
            conn.execute("SELECT mediatag._queue_face_rescoring(%s)", (dataset_id,))
        conn.execute("SELECT mediatag._close_face_scan_jobs(%s)", (dataset_id,))
    conn.commit()
    summary.seconds = time.monotonic() - started
    return summary


def _scan_batch(conn: psycopg.Connection, dataset_id: int, targets: list, cnn: bool, summary: FaceScanSummary) -> None:
    """One transaction: the keyframes claimed (their face_scan rows; a keyframe another scan holds is left to it,
    which waits here until that scan commits), their faces found and stored."""
    with conn.transaction(), conn.cursor() as cur:
        claimed = {
            r[0]
            for r in cur.execute(
                "INSERT INTO mediatag.face_scan (keyframe_id, dataset_id, faces)"
                " SELECT k, %s, 0 FROM unnest(%s::bigint[]) k ON CONFLICT DO NOTHING RETURNING keyframe_id",
                (dataset_id, [t[0] for t in targets]),
            ).fetchall()
        }
        face_rows, scan_rows = [], []
        for keyframe_id, asset_id, _shot_id, _time_ms, image_path in targets:
            if keyframe_id not in claimed:
                continue
            try:
                faces = detect_faces(load_image(image_path), cnn=cnn)
            except MediaError:
                # The keyframe image is gone or broken: marked scanned with no faces; re-ingesting the file rescans it.
                faces = []
                summary.unreadable += 1
            for i, f in enumerate(faces):
                x, y, w, h = f.box
                face_rows.append(
                    (dataset_id, keyframe_id, asset_id, i, x, y, w, h, f.confidence, f.quality, f.crop_jpeg,
                     Vector(f.descriptor))
                )  # fmt: skip
            scan_rows.append((len(faces), keyframe_id))
        cur.executemany(
            "INSERT INTO mediatag.face (dataset_id, keyframe_id, asset_id, face_index, x, y, w, h, confidence, quality,"
            " crop, descriptor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            face_rows,
        )
        cur.executemany("UPDATE mediatag.face_scan SET faces = %s WHERE keyframe_id = %s", scan_rows)
    summary.keyframes += len(targets)
    summary.faces += len(face_rows)
