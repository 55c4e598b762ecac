"""Upgrades never drop or block a user's objects: from every release in sql/releases/, ALTER EXTENSION mediatag
UPDATE keeps a BI schema built on the extension (views over dt_* and per-dataset views, a view and functions
calling mediatag functions, a materialized view, grants on the generated views and on a mediatag function), the
objects themselves and not copies, and they still work; where a change cannot keep something, the upgrade refuses,
names it and changes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from .test_backup_upgrade import release_database, token_proxy

RELEASES = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "sql" / "releases").iterdir() if p.is_dir())


@pytest.fixture(params=RELEASES)
def old_db(request, db_url: str, service: str, service_token: str) -> Iterator[tuple[str, str, str]]:
    """(release, URL, role): a database made with a release (see release_database) and a role of the user's, both
    with fresh names (databases and roles are cluster-wide) and dropped afterwards."""
    release, name, role = request.param, f"mt_keep_{uuid.uuid4().hex[:8]}", f"mt_keep_bi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {role}")
    try:
        with token_proxy(service, service_token) as service_url:
            url = release_database(db_url, name, release, service_url)
        yield release, url, role
    finally:
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f"DROP ROLE {role}")


def _update(conn: psycopg.Connection) -> None:
    conn.execute("ALTER EXTENSION mediatag UPDATE")


def _version(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'mediatag'").fetchone()[0]


def _objects(conn: psycopg.Connection) -> list[tuple]:
    """Every relation and function outside the system schemas: oid, name, kind, definition and privileges."""
    return conn.execute("""
        SELECT c.oid, c.oid::regclass::text, c.relkind::text,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END, c.relacl::text
        FROM pg_class c WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                                     'pg_toast'::regnamespace)
        UNION ALL
        SELECT p.oid, p.oid::regprocedure::text, p.prokind::text, md5(p.prosrc), p.proacl::text
        FROM pg_proc p WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        ORDER BY 1""").fetchall()


def test_upgrade_keeps_a_bi_schema_built_on_mediatag(old_db):
    release, url, bi_role = old_db
    with psycopg.connect(url, autocommit=True) as c:
        slug = c.execute("SELECT slug FROM mediatag.tag_group").fetchone()[0]
        dt_visual, dt_video = f"mediatag_data.dt_{slug}_visual", f"mediatag_data.dt_{slug}_video"
        c.execute(f"""
            CREATE SCHEMA bi;
            CREATE VIEW bi.scores AS SELECT keyframe_id, tag, score, threshold_decision FROM {dt_visual};
            CREATE VIEW bi.series AS SELECT keyframe_id, "SeriesName" FROM mediatag_data.old_keyframes;
            CREATE VIEW bi.assets AS SELECT asset_id, path FROM mediatag_data.old_assets;
            CREATE VIEW bi.coactive AS SELECT dataset, keyframe_id FROM mediatag.coactive_table;
            CREATE VIEW bi.about AS SELECT mediatag.version() ->> 'mediatag' AS version;
            -- A SQL-standard body records what it calls, so the function depends on mediatag's; a string body
            -- does not.
            CREATE FUNCTION bi.dataset_key(name text) RETURNS text LANGUAGE sql STABLE
                BEGIN ATOMIC SELECT mediatag.slug(name) || '/' || mediatag.dataset_id(name); END;
            CREATE FUNCTION bi.hits(t text) RETURNS bigint LANGUAGE sql STABLE
                AS $$ SELECT count(*) FROM {dt_visual} WHERE tag = t AND threshold_decision $$;
            CREATE MATERIALIZED VIEW bi.per_series AS
                SELECT s."SeriesName", count(*) FILTER (WHERE v.threshold_decision) AS hits,
                       round(avg(v.score)::numeric, 6) AS mean_score
                FROM {dt_visual} v JOIN bi.series s USING (keyframe_id) GROUP BY 1;
            GRANT USAGE ON SCHEMA bi TO {bi_role};
            GRANT SELECT ON bi.scores, bi.per_series TO {bi_role};
            GRANT SELECT ON {dt_visual}, {dt_video}, mediatag_data.old_keyframes TO {bi_role};
            GRANT EXECUTE ON FUNCTION mediatag.version() TO {bi_role};
        """)
        user_objects = """SELECT c.oid, c.oid::regclass::text FROM pg_class c
                          WHERE c.relnamespace = 'bi'::regnamespace
                             OR c.oid IN (%s::regclass, %s::regclass, 'mediatag_data.old_keyframes'::regclass,
                                          'mediatag_data.old_assets'::regclass)
                          ORDER BY 1"""
        user_grants = """SELECT a.privilege_type, c.oid::regclass::text FROM pg_class c, aclexplode(c.relacl) a
                         WHERE a.grantee = %s::regrole
                         UNION ALL
                         SELECT a.privilege_type, p.oid::regprocedure::text FROM pg_proc p, aclexplode(p.proacl) a
                         WHERE a.grantee = %s::regrole ORDER BY 1, 2"""
        results = {
            "scores": "SELECT * FROM bi.scores ORDER BY 1, 2",
            "series": "SELECT * FROM bi.series ORDER BY 1",
            "assets": "SELECT * FROM bi.assets ORDER BY 1",
            "coactive": "SELECT * FROM bi.coactive ORDER BY 2",
            "dataset_key": "SELECT bi.dataset_key('old')",
            "hits": "SELECT bi.hits('dog')",
            "per_series": "SELECT * FROM bi.per_series ORDER BY 1",
        }
        objects = c.execute(user_objects, (dt_visual, dt_video)).fetchall()
        grants = c.execute(user_grants, (bi_role, bi_role)).fetchall()
        before = {k: c.execute(q).fetchall() for k, q in results.items()}
        assert len(before["scores"]) == 40 and len(before["series"]) == 40
        assert ("EXECUTE", "mediatag.version()") in grants and ("SELECT", dt_visual) in grants

        _update(c)

        assert _version(c) != release
        # The same objects (same oids), with the same grants, giving the same rows.
        assert c.execute(user_objects, (dt_visual, dt_video)).fetchall() == objects
        assert c.execute(user_grants, (bi_role, bi_role)).fetchall() == grants
        c.execute("REFRESH MATERIALIZED VIEW bi.per_series")
        assert {k: c.execute(q).fetchall() for k, q in results.items()} == before
        assert c.execute("SELECT version FROM bi.about").fetchone()[0] == _version(c)
        # The generated views were regenerated in place with this version's definitions (they filter by access).
        assert "_readable_datasets" in c.execute("SELECT pg_get_viewdef(%s::regclass)", (dt_visual,)).fetchone()[0]
        assert "_can_read_dataset" in c.execute("SELECT pg_get_viewdef('mediatag_data.old_keyframes')").fetchone()[0]
        # And they are regenerated again later (new metadata keys) without dropping what is built on them.
        c.execute("SELECT mediatag.refresh_dataset_views('old')")
        assert c.execute(user_objects, (dt_visual, dt_video)).fetchall() == objects


def test_upgrade_refuses_to_drop_what_users_built_on_a_changed_function(old_db):
    release, url, _ = old_db
    with psycopg.connect(url, autocommit=True) as c:
        # As if the release had version() return text (this version's returns jsonb: CREATE OR REPLACE cannot turn
        # one into the other) and had a function this version no longer has.
        c.execute("""
            ALTER EXTENSION mediatag DROP FUNCTION mediatag.version();
            DROP FUNCTION mediatag.version();
            CREATE FUNCTION mediatag.version() RETURNS text LANGUAGE sql AS $$ SELECT 'old' $$;
            ALTER EXTENSION mediatag ADD FUNCTION mediatag.version();
            CREATE FUNCTION mediatag.legacy_count(n int) RETURNS int LANGUAGE sql AS $$ SELECT n $$;
            ALTER EXTENSION mediatag ADD FUNCTION mediatag.legacy_count(int);
            CREATE SCHEMA bi;
            CREATE VIEW bi.about AS SELECT mediatag.version() AS version;
            CREATE MATERIALIZED VIEW bi.counted AS SELECT mediatag.legacy_count(3) AS n;
            CREATE FUNCTION bi.count_twice() RETURNS int LANGUAGE sql
                BEGIN ATOMIC SELECT 2 * mediatag.legacy_count(1); END;
            -- preview's kind and level were text and are domains now (sql/src/types.sql): new argument types.
            CREATE VIEW bi.previews AS SELECT * FROM mediatag.preview('Celebrities', 'Will Smith', kind => 'positives');
        """)
        before = _objects(c)

        with pytest.raises(errors.DependentObjectsStillExist) as refused:
            _update(c)

        diag = refused.value.diag
        assert "cannot update extension mediatag" in diag.message_primary
        lines = diag.message_detail.splitlines()
        assert any(x.startswith("mediatag.version()") and "return type" in x and "view bi.about" in x for x in lines)
        assert any(
            x.startswith("mediatag.legacy_count(n integer)")
            and "function bi.count_twice()" in x
            and "materialized view bi.counted" in x
            for x in lines
        ), lines
        assert any(
            x.startswith("mediatag.preview(tag_group text, tag text, kind text, level text,")
            and "changes its arguments" in x
            and "view bi.previews" in x
            for x in lines
        ), lines
        assert "Nothing was changed" in diag.message_hint
        assert _version(c) == release and _objects(c) == before

        # Without them, the same upgrade goes through and drops the old functions.
        c.execute("DROP SCHEMA bi CASCADE")
        _update(c)
        assert _version(c) != release
        assert c.execute("SELECT to_regprocedure('mediatag.legacy_count(int)')").fetchone()[0] is None
        assert c.execute("SELECT pg_typeof(mediatag.version())::text").fetchone()[0] == "jsonb"
        preview = "SELECT to_regprocedure('mediatag.preview(text, text, %s, %s, real, int, int)')"
        assert c.execute(preview % ("text", "text")).fetchone()[0] is None
        assert c.execute(preview % ("mediatag.preview_kind", "mediatag.preview_level")).fetchone()[0] is not None


def test_upgrade_refuses_to_change_the_columns_of_a_view_users_read(old_db):
    release, url, bi_role = old_db
    with psycopg.connect(url, autocommit=True) as c:
        # As if the release's per-dataset views had a column this version drops.
        for view in ("mediatag_data.old_keyframes", "mediatag_data.old_assets"):
            query = c.execute("SELECT pg_get_viewdef(%s::regclass)", (view,)).fetchone()[0].rstrip().rstrip(";")
            query = re.sub(r"\n\s*FROM ", ", 1 AS legacy\n FROM ", query, count=1)  # a last column
            c.execute(f"CREATE OR REPLACE VIEW {view} AS {query}")
        c.execute(f"""
            CREATE SCHEMA bi;
            CREATE VIEW bi.legacy AS SELECT keyframe_id, legacy FROM mediatag_data.old_keyframes;
            GRANT SELECT ON mediatag_data.old_assets TO {bi_role};
        """)
        before = _objects(c)

        with pytest.raises(errors.DependentObjectsStillExist) as refused:
            _update(c)

        diag = refused.value.diag
        assert diag.message_primary.startswith("view mediatag_data.old_keyframes changes its columns")
        assert "view bi.legacy" in diag.message_detail
        assert _version(c) == release and _objects(c) == before

        # A view nothing depends on is made again with its new columns, and keeps its grants.
        c.execute("DROP VIEW bi.legacy")
        _update(c)
        assert _version(c) != release
        for view in ("mediatag_data.old_keyframes", "mediatag_data.old_assets"):
            columns = c.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass", (view,)).fetchall()
            assert ("legacy",) not in columns
        granted = c.execute("SELECT has_table_privilege(%s, 'mediatag_data.old_assets', 'SELECT')", (bi_role,))
        assert granted.fetchone()[0]
