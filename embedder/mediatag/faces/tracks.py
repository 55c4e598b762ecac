"""Face tracks: within one shot, detections of the same person on successive keyframes are one track, so a person
talking for 40 seconds counts once per shot and one good crop represents them."""

from __future__ import annotations

import numpy as np
import psycopg

# Tighter than the same-person distance (0.6): within a shot a wrong link would glue two people together for good.
TRACK_DISTANCE = 0.5


def link_tracks(conn: psycopg.Connection, dataset_id: int) -> int:
    """Gives every face without a track one: the track of the nearest face on an earlier keyframe of its shot
    (when nearer than TRACK_DISTANCE and that track has no face on this keyframe yet), else a track of its own.
    Returns how many faces got a track."""
    rows = conn.execute(
        """SELECT f.id, k.shot_id, k.id, f.track_id, f.descriptor::real[]
           FROM mediatag.face f JOIN mediatag.keyframe k ON k.id = f.keyframe_id
           WHERE f.dataset_id = %s
             AND (f.track_id IS NULL OR k.shot_id IN (SELECT k2.shot_id FROM mediatag.face f2
                  JOIN mediatag.keyframe k2 ON k2.id = f2.keyframe_id WHERE f2.dataset_id = %s AND f2.track_id IS NULL))
           ORDER BY k.shot_id, k.time_ms, k.id, f.id""",
        (dataset_id, dataset_id),
    ).fetchall()
    updates: list[tuple[int, int]] = []
    shot_tracks: dict[int, list[tuple[int, np.ndarray, int]]] = {}  # shot → (track, last descriptor, keyframe)
    for face_id, shot_id, keyframe_id, track_id, desc in rows:
        vec = np.asarray(desc, dtype=np.float32)
        if shot_id is None:  # an image: each face is its own track
            if track_id is None:
                updates.append((face_id, face_id))
            continue
        tracks = shot_tracks.setdefault(shot_id, [])
        if track_id is None:
            taken = {t for t, _, k in tracks if k == keyframe_id}
            best, best_d = None, TRACK_DISTANCE
            for i, (t, last, k) in enumerate(tracks):
                d = float(np.linalg.norm(last - vec))
                if k != keyframe_id and t not in taken and d < best_d:
                    best, best_d = i, d
            track_id = tracks[best][0] if best is not None else face_id
            updates.append((face_id, track_id))
        for i, (t, _, _) in enumerate(tracks):
            if t == track_id:
                tracks[i] = (t, vec, keyframe_id)
                break
        else:
            tracks.append((track_id, vec, keyframe_id))
    with conn.cursor() as cur:
        cur.executemany("UPDATE mediatag.face SET track_id = %s WHERE id = %s", [(t, f) for f, t in updates])
    return len(updates)
