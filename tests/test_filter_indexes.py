"""Filter indexes: a graph of its own for the keyframes of one metadata filter, used by search() for that filter
(and filters that say more), kept current through ingests, metadata edits, deletes and a lost graph, and guarded
by role. Real photos, the offline model, real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from mediatag.db import connect

from .conftest import unique

SEARCH = (
    "SELECT keyframe_id FROM mediatag.search(dataset => %s, embedding => %s::vector, k => %s, metadata => %s::jsonb)"
)


@pytest.fixture(scope="module")
def shows(db_url, service, coco_files, media_dir) -> str:
    """16 photos in three 'series': A (6), B (6), C (4)."""
    from mediatag.ingest import IngestOptions, ingest

    name = unique("shows")
    with connect(db_url) as c:
        for series, files in (("A", coco_files[20:26]), ("B", coco_files[26:32]), ("C", coco_files[32:36])):
            ingest(c, name, files, IngestOptions(progress=False, media_dir=media_dir, metadata={"SeriesName": series}))
        c.execute("SELECT mediatag.refresh_samples(%s)", (name,))  # the probes search() checks its walks against
        c.commit()
    return name


def _query(c: psycopg.Connection, dataset: str) -> str:
    """A query vector: the dataset's first keyframe's embedding."""
    return c.execute(
        "SELECT embedding::vector::text FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s) "
        "ORDER BY id LIMIT 1",
        (dataset,),
    ).fetchone()[0]


def _exact(c: psycopg.Connection, dataset: str, q: str, metadata: str, k: int) -> list[int]:
    """The filtered top-k by an exact scan, computed without search()."""
    rows = c.execute(
        "SELECT k.id FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id "
        "WHERE k.dataset_id = mediatag.dataset_id(%s) AND a.metadata @> %s::jsonb "
        "ORDER BY k.embedding <#> %s::vector::halfvec, k.id LIMIT %s",
        (dataset, metadata, q, k),
    ).fetchall()
    return [r[0] for r in rows]


class _Walks:
    """search() on one connection, recording whether it walked a filter index (its DEBUG line)."""

    def __init__(self, c: psycopg.Connection, dataset: str) -> None:
        self.c, self.dataset, self.notices = c, dataset, []
        c.add_notice_handler(lambda d: self.notices.append(d.message_primary or ""))
        c.execute("SET client_min_messages = debug1")

    def __call__(self, q: str, metadata: str, k: int = 50) -> tuple[list[int], bool]:
        self.notices.clear()
        ids = [r[0] for r in self.c.execute(SEARCH, (self.dataset, q, k, metadata))]
        return ids, any("walking filter index" in n for n in self.notices)


def test_a_filter_index_serves_its_filter_and_narrower_ones(db_url, shows):
    with connect(db_url, autocommit=True) as c:
        fid = c.execute(
            "SELECT mediatag.create_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "B"}')
        ).fetchone()[0]
        try:
            listed = c.execute(
                "SELECT filter_index_id, metadata, keyframes, index_valid FROM mediatag.filter_indexes(%s)", (shows,)
            ).fetchall()
            assert listed == [(fid, {"SeriesName": "B"}, 6, True)]
            # Creating it again returns the same index (key order does not make another filter).
            again = c.execute("SELECT mediatag.create_filter_index(%s, %s::jsonb)", (shows, '{ "SeriesName":"B" }'))
            assert again.fetchone()[0] == fid
            walks, q = _Walks(c, shows), _query(c, shows)
            got, walked = walks(q, '{"SeriesName": "B"}')
            assert walked and got == _exact(c, shows, q, '{"SeriesName": "B"}', 50) and len(got) == 6
            got, walked = walks(q, '{"SeriesName": "B"}', k=3)
            assert walked and got == _exact(c, shows, q, '{"SeriesName": "B"}', 3)
            # Another value has no index: the generic path, the same answer an exact scan gives.
            got, walked = walks(q, '{"SeriesName": "A"}')
            assert not walked and got == _exact(c, shows, q, '{"SeriesName": "A"}', 50)
            # A filter that says more than the index walks it and checks the rest per row.
            asset = c.execute(
                "SELECT min(a.id) FROM mediatag.asset a WHERE a.dataset_id = mediatag.dataset_id(%s) "
                "AND a.metadata ->> 'SeriesName' = 'B'",
                (shows,),
            ).fetchone()[0]
            with c.transaction(force_rollback=True):
                c.execute(
                    'UPDATE mediatag.asset SET metadata = metadata || \'{"Camera": "x"}\' WHERE id = %s', (asset,)
                )
                narrow = '{"SeriesName": "B", "Camera": "x"}'
                got, walked = walks(q, narrow)
                assert walked and got == _exact(c, shows, q, narrow, 50) and len(got) == 1
            assert any(f"filter index {fid}" in n for n in walks.notices)  # the DEBUG line names the index walked
        finally:
            c.execute("SELECT mediatag.drop_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "B"}'))


def test_filter_indexes_follow_ingests_edits_and_deletes(db_url, shows, coco_files, media_dir):
    from mediatag.ingest import IngestOptions, ingest

    with connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.create_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "C"}'))
        try:

            def members() -> int:
                return c.execute(
                    "SELECT keyframes FROM mediatag.filter_indexes(%s) WHERE metadata = %s::jsonb",
                    (shows, '{"SeriesName": "C"}'),
                ).fetchone()[0]

            assert members() == 4
            ingest(
                c,
                shows,
                coco_files[36:38],
                IngestOptions(progress=False, media_dir=media_dir, metadata={"SeriesName": "C"}),
            )
            assert members() == 6
            walks, q = _Walks(c, shows), _query(c, shows)
            got, walked = walks(q, '{"SeriesName": "C"}')
            assert walked and got == _exact(c, shows, q, '{"SeriesName": "C"}', 50) and len(got) == 6

            a_asset = c.execute(
                "SELECT min(id) FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s) "
                "AND metadata ->> 'SeriesName' = 'A'",
                (shows,),
            ).fetchone()[0]
            with c.transaction(force_rollback=True):
                # An asset edited into the series joins it; one edited out leaves it.
                c.execute('UPDATE mediatag.asset SET metadata = \'{"SeriesName": "C"}\' WHERE id = %s', (a_asset,))
                assert members() == 7
                got, walked = walks(q, '{"SeriesName": "C"}')
                assert walked and got == _exact(c, shows, q, '{"SeriesName": "C"}', 50) and len(got) == 7
                c.execute('UPDATE mediatag.asset SET metadata = \'{"SeriesName": "A"}\' WHERE id = %s', (a_asset,))
                assert members() == 6
            with c.transaction(force_rollback=True):
                # While an asset of the dataset awaits its post-ingest step its keyframes may be missing from the
                # index: search does not use it then (and still answers right).
                c.execute("UPDATE mediatag.asset SET post_ingest_at = NULL WHERE id = %s", (a_asset,))
                got, walked = walks(q, '{"SeriesName": "C"}')
                assert not walked and got == _exact(c, shows, q, '{"SeriesName": "C"}', 50)
            with c.transaction(force_rollback=True):
                # A re-embedded keyframe moves in the index's graph too.
                kf = got[-1]
                c.execute("UPDATE mediatag.keyframe SET embedding = %s::vector::halfvec WHERE id = %s", (q, kf))
                top, walked = walks(q, '{"SeriesName": "C"}', k=1)  # q is a series-A photo's: no C photo ties
                assert walked and top == [kf]
                assert c.execute(
                    "SELECT embedding = %s::vector::halfvec FROM mediatag.filter_index_row WHERE keyframe_id = %s",
                    (q, kf),
                ).fetchone() == (True,)
            with c.transaction(force_rollback=True):
                c.execute(
                    "DELETE FROM mediatag.asset WHERE id = (SELECT asset_id FROM mediatag.keyframe WHERE id = %s)",
                    (got[0],),
                )
                assert members() == 5
        finally:
            c.execute("SELECT mediatag.drop_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "C"}'))


def test_a_lost_graph_is_rebuilt_and_search_stays_right_meanwhile(db_url, shows):
    with connect(db_url, autocommit=True) as c:
        fid = c.execute(
            "SELECT mediatag.create_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "A"}')
        ).fetchone()[0]
        try:
            c.execute(f"DROP INDEX mediatag.filter_hnsw_fi{fid}")  # what a restore from pg_dump leaves
            assert c.execute(
                "SELECT index_valid FROM mediatag.filter_indexes(%s) WHERE filter_index_id = %s", (shows, fid)
            ).fetchone() == (False,)
            walks, q = _Walks(c, shows), _query(c, shows)
            got, walked = walks(q, '{"SeriesName": "A"}')
            assert not walked and got == _exact(c, shows, q, '{"SeriesName": "A"}', 50)
            statements = [r[0] for r in c.execute("SELECT mediatag.index_statements(%s)", (shows,))]
            rebuild = [s for s in statements if "filter_index_row" in s]
            assert len(rebuild) == 1 and rebuild[0].startswith("CREATE INDEX CONCURRENTLY")
            assert f"filter_hnsw_fi{fid}" in rebuild[0] and f"WHERE filter_index_id = {fid}" in rebuild[0]
            c.execute("SELECT mediatag.build_indexes(%s)", (shows,))
            got, walked = walks(q, '{"SeriesName": "A"}')
            assert walked and got == _exact(c, shows, q, '{"SeriesName": "A"}', 50)
            assert not any(
                "filter_index_row" in r[0] for r in c.execute("SELECT mediatag.index_statements(%s)", (shows,))
            )
        finally:
            assert c.execute(
                "SELECT mediatag.drop_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "A"}')
            ).fetchone()[0]
        assert c.execute("SELECT to_regclass(%s)", (f"mediatag.filter_hnsw_fi{fid}",)).fetchone() == (None,)
        assert not c.execute(
            "SELECT mediatag.drop_filter_index(%s, %s::jsonb)", (shows, '{"SeriesName": "A"}')
        ).fetchone()[0]


@pytest.mark.parametrize(
    "metadata, message",
    [
        ('["A"]', "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ('"SeriesName"', "non-empty JSON object"),
        (None, "non-empty JSON object"),
    ],
)
def test_bad_filter_index_metadata(conn, shows, metadata, message):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        conn.execute("SELECT mediatag.create_filter_index(%s, %s::jsonb)", (shows, metadata))


def test_unknown_dataset(conn):
    with pytest.raises(psycopg.errors.NoDataFound, match='unknown dataset "no_such_dataset"'):
        conn.execute("SELECT mediatag.create_filter_index('no_such_dataset', '{\"a\": 1}')")


@pytest.mark.parametrize("role", ["viewer", "query"])
def test_only_editors_and_admins_create_or_drop_filter_indexes(logins, shows, role):
    refused = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
    for statement in (
        'SELECT mediatag.create_filter_index(%s, \'{"SeriesName": "A"}\')',
        'SELECT mediatag.drop_filter_index(%s, \'{"SeriesName": "A"}\')',
    ):
        with psycopg.connect(logins[role]) as c, pytest.raises(refused):
            c.execute(statement, (shows,))
    with psycopg.connect(logins[role]) as c, pytest.raises(refused):
        c.execute("DELETE FROM mediatag.filter_index_row")


def test_an_editor_creates_one_and_a_viewer_sees_it(logins, shows):
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        fid = c.execute('SELECT mediatag.create_filter_index(%s, \'{"SeriesName": "B"}\')', (shows,)).fetchone()[0]
        who = c.execute("SELECT created_by FROM mediatag.filter_index WHERE id = %s", (fid,)).fetchone()[0]
        assert who.startswith("mt_test_editor")
    try:
        with psycopg.connect(logins["viewer"]) as c:
            rows = c.execute("SELECT filter_index_id, keyframes FROM mediatag.filter_indexes(%s)", (shows,)).fetchall()
            assert rows == [(fid, 6)]
            q = _query(c, shows)
            assert len(c.execute(SEARCH, (shows, q, 50, '{"SeriesName": "B"}')).fetchall()) == 6
    finally:
        with psycopg.connect(logins["admin"], autocommit=True) as c:
            assert c.execute('SELECT mediatag.drop_filter_index(%s, \'{"SeriesName": "B"}\')', (shows,)).fetchone()[0]


def test_text_queries_through_a_filter_index_walk_toward_its_probes(db_url, shows):
    """A text query through a filter index walks toward the best of the sample keyframes that belong to it, as an
    unfiltered one does over the whole dataset; the answer is still the exact filtered top list. (k => 2: 3x2
    candidates are all 6 members, a full first walk, which is when the probe walks follow.)"""
    meta = '{"SeriesName": "B"}'
    with connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.create_filter_index(%s, %s::jsonb)", (shows, meta))
        try:
            walks = _Walks(c, shows)
            members = {
                r[0]
                for r in c.execute(
                    "SELECT p.keyframe_id FROM mediatag._search_probes(mediatag.dataset_id(%s), "
                    "(SELECT embedding FROM mediatag.keyframe LIMIT 1), "
                    "(SELECT filter_index_id FROM mediatag.filter_indexes(%s))) p",
                    (shows, shows),
                )
            }
            series = {
                r[0]
                for r in c.execute(
                    "SELECT k.id FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id "
                    "WHERE k.dataset_id = mediatag.dataset_id(%s) AND a.metadata @> %s::jsonb",
                    (shows, meta),
                )
            }
            assert members and members <= series  # the probes of the index are its members only
            walks.notices.clear()
            got = [
                r[0]
                for r in c.execute(
                    "SELECT keyframe_id FROM mediatag.search(dataset => %s, query => 'a dog', k => 2, "
                    "metadata => %s::jsonb)",
                    (shows, meta),
                )
            ]
            assert any("walking filter index" in n for n in walks.notices)
            assert any("walking again toward" in n for n in walks.notices)
            q = c.execute(
                "SELECT mediatag.embed_text('a dog', visual_model)::text FROM mediatag.dataset WHERE name = %s",
                (shows,),
            )
            assert got == _exact(c, shows, q.fetchone()[0], meta, 2)
        finally:
            c.execute("SELECT mediatag.drop_filter_index(%s, %s::jsonb)", (shows, meta))


def test_dropping_the_dataset_drops_its_filter_indexes(db_url, service, coco_files, media_dir):
    from mediatag.ingest import IngestOptions, ingest

    name = unique("dropped")
    with connect(db_url, autocommit=True) as c:
        ingest(c, name, coco_files[38:40], IngestOptions(progress=False, media_dir=media_dir, metadata={"S": "x"}))
        fid = c.execute('SELECT mediatag.create_filter_index(%s, \'{"S": "x"}\')', (name,)).fetchone()[0]
        assert c.execute("SELECT to_regclass(%s)", (f"mediatag.filter_hnsw_fi{fid}",)).fetchone()[0] is not None
        c.execute("SELECT mediatag.drop_dataset(%s)", (name,))
        assert c.execute("SELECT to_regclass(%s)", (f"mediatag.filter_hnsw_fi{fid}",)).fetchone() == (None,)
        assert c.execute(
            "SELECT count(*) FROM mediatag.filter_index_row WHERE filter_index_id = %s", (fid,)
        ).fetchone() == (0,)
