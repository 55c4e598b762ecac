"""Who is on screen in a real video (issue 27): a 6 s clip made by ffmpeg from LFW photos of two people, one photo a
second (Colin Powell, Colin Powell, Serena Williams x 3, Colin Powell), ingested with faces on beside three photos of
each (so both are clustered into people); appearances(dataset, person => ...) gives each person's time ranges in
the video: shots of one person back to back merge, a gap of another person splits."""

from __future__ import annotations

import psycopg
import pytest

from .conftest import unique
from .facephotos import MISSING, ingest_faces, lfw_photos, person_of_files, slideshow

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

COLIN, SERENA = "Colin_Powell", "Serena_Williams"
TOLERANCE_MS = 200  # shot cuts land on a frame the detector finds near each photo change (25 fps)


def test_appearances_give_each_persons_time_ranges_in_a_video(db_url: str, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("appear")
    photos = lfw_photos([COLIN, SERENA], 3)
    more = lfw_photos([COLIN, SERENA], 3, skip=4)  # photos not among the others
    order = [more[COLIN][0], more[COLIN][1], more[SERENA][0], more[SERENA][1], more[SERENA][2], more[COLIN][2]]
    video = slideshow(tmp / "two_people.webm", order, seconds=1)
    name = unique("appear")
    ingest_faces(db_url, name, [p for files in photos.values() for p in files] + [video], tmp)
    with psycopg.connect(db_url, autocommit=True) as c:
        ids = person_of_files(c, name, {p.name: who for who, files in photos.items() for p in files})
        assert set(ids) == {COLIN, SERENA} and ids[COLIN] != ids[SERENA], ids
        video_id = c.execute(
            "SELECT id FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) AND kind = 'video'", (name,)
        ).fetchone()[0]

        def ranges(who: str) -> list[tuple[int, int]]:
            return [
                (s, e)
                for aid, s, e in c.execute(
                    "SELECT asset_id, start_ms, end_ms FROM mediatag.appearances(%s, person => %s)", (name, ids[who])
                )
                if aid == video_id
            ]

        colin, serena = ranges(COLIN), ranges(SERENA)
    # Colin: 0-2 s (two shots back to back, merged) and 5-6 s; Serena: 2-5 s (three shots merged).
    for got, want in ((colin, [(0, 2000), (5000, 6000)]), (serena, [(2000, 5000)])):
        assert len(got) == len(want), (colin, serena)
        for (s, e), (ws, we) in zip(got, want, strict=True):
            assert abs(s - ws) <= TOLERANCE_MS and abs(e - we) <= TOLERANCE_MS, (colin, serena)
    # Nobody else is on screen in the video.
    with psycopg.connect(db_url, autocommit=True) as c:
        others = c.execute(
            "SELECT person_id FROM mediatag.appearances(%s) WHERE asset_id = %s AND person_id <> ALL (%s)",
            (name, video_id, list(ids.values())),
        ).fetchall()
    assert others == [], others
