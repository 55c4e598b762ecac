"""The curated schema for BI tools, mediatag_bi, read as a BI tool reads it: a mediatag_query login over TCP.

Every view there names its dataset and group, carries the scored version, scored_at and the UI's keyframe image;
catalog views list datasets, groups and tags; every view and column has a comment; the schema lists nothing the
role cannot read; a restricted dataset's rows stay hidden; an upgrade makes the curated views too."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
import sqlalchemy
from psycopg.conninfo import conninfo_to_dict

from .conftest import make_login, unique

LEVELS = ("visual", "shot", "video", "transcript", "hits")


def _columns(c: psycopg.Connection, view: str) -> list[str]:
    return [
        r[0]
        for r in c.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            (view,),
        )
    ]


@pytest.fixture(scope="module")
def group(db_url: str, coco_dataset: str, video_dataset: str) -> dict[str, str]:
    """A shareable group of two tags trained on the photos, applied to the video and scored on both."""
    name = unique("BI Pets")
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(
            "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog', 'cat'])",
            (coco_dataset, name),
        )
        c.execute("SELECT mediatag.publish_tag_group(%s, visibility => 'shareable')", (name,))
        c.execute("SELECT mediatag.apply_tag_group(%s, %s)", (name, video_dataset))
        c.execute("CALL mediatag.run_jobs()")
        slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (name,)).fetchone()[0]
        scored_at = dict(
            c.execute(
                "SELECT d.name, a.scored_at FROM mediatag.group_application a "
                "JOIN mediatag.dataset d ON d.id = a.dataset_id JOIN mediatag.tag_group g ON g.id = a.group_id "
                "WHERE g.name = %s AND a.status = 'scored' AND a.scored_version = 1",
                (name,),
            ).fetchall()
        )
    assert set(scored_at) == {coco_dataset, video_dataset}
    return {"name": name, "slug": slug, "scored_at": scored_at}


def test_score_views_name_the_dataset_group_version_and_time(logins, group, coco_dataset, video_dataset):
    slug = group["slug"]
    with psycopg.connect(logins["query"]) as q:
        for level in LEVELS:
            curated, plain = (
                _columns(q, f"mediatag_bi.dt_{slug}_{level}"),
                _columns(q, f"mediatag_data.dt_{slug}_{level}"),
            )
            # The same columns as mediatag_data's view, in its order, after the names; then the time (and image).
            assert curated[:2] == ["dataset", "tag_group"] and curated[2 : 2 + len(plain)] == plain, level
            assert "scored_at" in curated[2 + len(plain) :], level
        rows = q.execute(
            f"SELECT dataset, tag_group, tag, version, scored_at, keyframe_id, keyframe_url "
            f"FROM mediatag_bi.dt_{slug}_visual"
        ).fetchall()
        # The same rows as mediatag_data's view (whose columns stay as they were).
        assert len(rows) == q.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual").fetchone()[0] > 0
        assert {r[0] for r in rows} == {coco_dataset, video_dataset}
        assert {r[1] for r in rows} == {group["name"]} and {r[2] for r in rows} == {"dog", "cat"}
        assert {r[3] for r in rows} == {1}
        assert all(r[4] == group["scored_at"][r[0]] for r in rows)
        assert all(r[6] == f"/mediatag/thumb/{r[5]}/320.jpg" for r in rows)
        # Shots exist only in the video, under its name.
        shots = q.execute(f"SELECT DISTINCT dataset, tag_group, version FROM mediatag_bi.dt_{slug}_shot").fetchall()
        assert shots == [(video_dataset, group["name"], 1)]
        above = q.execute(
            f"SELECT count(*) FROM mediatag_bi.dt_{slug}_visual WHERE threshold_decision AND dataset = %s",
            (coco_dataset,),
        ).fetchone()[0]
        hits = q.execute(
            f"SELECT count(*), count(DISTINCT tag_group) FROM mediatag_bi.dt_{slug}_hits WHERE dataset = %s",
            (coco_dataset,),
        ).fetchone()
        assert hits == (above, 1 if above else 0)


def test_catalog_views_list_datasets_groups_and_tags(logins, group, coco_dataset, video_dataset, db_url):
    with psycopg.connect(logins["query"]) as q:
        groups = q.execute(
            "SELECT dataset, role, visibility, latest_version, applied_version, scored_version, update_available, "
            "status, scored_at, view_prefix FROM mediatag_bi.tag_groups WHERE tag_group = %s ORDER BY role DESC",
            (group["name"],),
        ).fetchall()
        assert groups == [
            (coco_dataset, "training", "shareable", 1, 1, 1, False, "scored", group["scored_at"][coco_dataset],
             f"dt_{group['slug']}"),
            (video_dataset, "applied", "shareable", 1, 1, 1, False, "scored", group["scored_at"][video_dataset],
             f"dt_{group['slug']}"),
        ]  # fmt: skip
        tags = q.execute(
            "SELECT dataset, tag, position, threshold, version FROM mediatag_bi.tags WHERE tag_group = %s "
            "ORDER BY dataset = %s DESC, position",
            (group["name"], coco_dataset),
        ).fetchall()
        assert [(t[0], t[1], t[2], t[4]) for t in tags] == [
            (coco_dataset, "dog", 1, 1),
            (coco_dataset, "cat", 2, 1),
            (video_dataset, "dog", 1, 1),
            (video_dataset, "cat", 2, 1),
        ]
        datasets = dict(q.execute("SELECT dataset, keyframes_view FROM mediatag_bi.datasets").fetchall())
    # The threshold is the live one of that dataset (a saved per-dataset one, else the tag's own).
    with psycopg.connect(db_url, autocommit=True) as c:
        live = c.execute(
            "SELECT coalesce(dt.threshold, t.threshold) FROM mediatag.tag t "
            "JOIN mediatag.tag_group g ON g.id = t.group_id LEFT JOIN mediatag.tag_dataset_threshold dt "
            "ON dt.tag_id = t.id AND dt.dataset_id = mediatag.dataset_id(%s) WHERE g.name = %s AND t.name = 'dog'",
            (coco_dataset, group["name"]),
        ).fetchone()[0]
        slug = c.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (coco_dataset,)).fetchone()[0]
    assert tags[0][3] == pytest.approx(live)
    assert datasets[coco_dataset] == f"{slug}_keyframes"


def test_dataset_views_have_ingested_at_and_the_ui_image(logins, coco_dataset, video_dataset, db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        slug = c.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (coco_dataset,)).fetchone()[0]
        video_slug = c.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (video_dataset,)).fetchone()[0]
        ingested = dict(
            c.execute(
                "SELECT id, created_at FROM mediatag.asset WHERE dataset_id = mediatag.dataset_id(%s)", (coco_dataset,)
            ).fetchall()
        )
    with psycopg.connect(logins["query"]) as q:
        kf = q.execute(
            f"SELECT dataset, keyframe_id, asset_id, ingested_at, keyframe_url FROM mediatag_bi.{slug}_keyframes"
        ).fetchall()
        assert len(kf) == 48 and {r[0] for r in kf} == {coco_dataset}
        assert all(r[3] == ingested[r[2]] and r[4] == f"/mediatag/thumb/{r[1]}/320.jpg" for r in kf)
        assets = q.execute(
            f"SELECT asset_id, ingested_at, first_keyframe_id, keyframe_url FROM mediatag_bi.{slug}_assets"
        ).fetchall()
        assert len(assets) == 48
        assert all(r[1] == ingested[r[0]] and r[3] == f"/mediatag/thumb/{r[2]}/320.jpg" for r in assets)
        # Metadata keys stay columns, after the fixed ones, as in mediatag_data's view.
        row = q.execute(f'SELECT "SeriesName", "EpisodeName" FROM mediatag_bi.{video_slug}_keyframes LIMIT 1')
        assert row.fetchone() == ("Test Series", "Pilot")
        assert set(_columns(q, f"mediatag_data.{video_slug}_keyframes")) <= set(
            _columns(q, f"mediatag_bi.{video_slug}_keyframes")
        )
    # An admin sets the address browsers reach the UI by; only http(s), only admins.
    with psycopg.connect(logins["admin"], autocommit=True) as a:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            a.execute("SELECT mediatag.set_ui_url('javascript:alert(1)')")
        a.execute("SELECT mediatag.set_ui_url('https://tags.example.org/ui/')")
    try:
        with psycopg.connect(logins["query"]) as q:
            url, kf_id = q.execute(
                f"SELECT keyframe_url, keyframe_id FROM mediatag_bi.{slug}_keyframes LIMIT 1"
            ).fetchone()
            assert url == f"https://tags.example.org/ui/mediatag/thumb/{kf_id}/320.jpg"
        with psycopg.connect(logins["editor"]) as e, pytest.raises(psycopg.errors.InsufficientPrivilege):
            e.execute("SELECT mediatag.set_ui_url('https://elsewhere.example.org')")
    finally:
        with psycopg.connect(logins["admin"], autocommit=True) as a:
            a.execute("SELECT mediatag.set_ui_url(NULL)")


def test_every_view_and_column_has_a_comment(logins, group, coco_dataset, video_dataset, db_url):
    with psycopg.connect(db_url) as c:
        slugs = dict(c.execute("SELECT name, slug FROM mediatag.dataset WHERE name IN (%s, %s)",
                               (coco_dataset, video_dataset)).fetchall())  # fmt: skip
    expected = {"datasets", "tag_groups", "tags"} | {f"dt_{group['slug']}_{lvl}" for lvl in LEVELS}
    expected |= {f"{s}_{kind}" for s in slugs.values() for kind in ("keyframes", "assets")}
    with psycopg.connect(logins["query"]) as q:
        views = dict(
            q.execute(
                "SELECT relname, obj_description(oid, 'pg_class') FROM pg_class "
                "WHERE relnamespace = 'mediatag_bi'::regnamespace"
            ).fetchall()
        )
        assert expected <= set(views)
        assert [v for v, about in views.items() if not about] == []
        missing = q.execute(
            "SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relnamespace = 'mediatag_bi'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped "
            "AND coalesce(col_description(c.oid, a.attnum), '') = ''"
        ).fetchall()
        assert missing == []
        # A metadata key's column says which key it is.
        series = q.execute(
            "SELECT col_description(attrelid, attnum) FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname = 'SeriesName'",
            (f"mediatag_bi.{slugs[video_dataset]}_keyframes",),
        ).fetchone()[0]
        assert "metadata key SeriesName" in series
        # Every login reads the catalog: no group or dataset name goes into a comment.
        text = " ".join(
            r[0]
            for r in q.execute(
                "SELECT d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
                "WHERE c.relnamespace = 'mediatag_bi'::regnamespace"
            )
        )
        assert group["name"] not in text and coco_dataset not in text


def test_the_schema_lists_only_what_the_query_role_reads(logins, group):
    with psycopg.connect(logins["query"]) as q:
        listed = q.execute(
            "SELECT relname, relkind::text, has_table_privilege(oid, 'SELECT') FROM pg_class "
            "WHERE relnamespace = 'mediatag_bi'::regnamespace"
        ).fetchall()
        assert f"dt_{group['slug']}_visual" in {r[0] for r in listed}
        assert [r for r in listed if r[1] != "v" or not r[2]] == []
        # mediatag_data, by contrast, lists the score tables behind its views.
        hidden = q.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'mediatag_data'::regnamespace "
            "AND NOT has_table_privilege(oid, 'SELECT')"
        ).fetchone()[0]
        assert hidden > 0
    # What a BI tool's SQLAlchemy inspector lists (Superset, Metabase and Grafana read the same catalog), and every
    # one of them answers a query.
    engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(logins["query"]))
    try:
        inspector = sqlalchemy.inspect(engine)
        names = inspector.get_table_names(schema="mediatag_bi") + inspector.get_view_names(schema="mediatag_bi")
        assert inspector.get_table_names(schema="mediatag_bi") == []
        with engine.connect() as conn:
            for name in names:
                conn.execute(sqlalchemy.text(f'SELECT * FROM mediatag_bi."{name}" LIMIT 1')).fetchall()
    finally:
        engine.dispose()


def test_a_restricted_dataset_stays_hidden(db_url, logins, service, coco_files, media_dir):
    from mediatag.db import connect
    from mediatag.ingest import IngestOptions, ingest

    name, group = unique("bi_restricted"), unique("BI Hidden")
    with connect(db_url) as c:
        ingest(c, name, coco_files[:4], IngestOptions(progress=False, media_dir=media_dir))
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog'])", (name, group))
        c.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
        c.execute("CALL mediatag.run_jobs()")
        # Open to editors only: the Query login is not one.
        c.execute("SELECT mediatag.grant_dataset_access(%s, 'mediatag_editor')", (name,))
        slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone()[0]
        ds = c.execute("SELECT slug FROM mediatag.dataset WHERE name = %s", (name,)).fetchone()[0]
        views = [f"dt_{slug}_visual", f"dt_{slug}_video", f"dt_{slug}_hits", f"{ds}_keyframes", f"{ds}_assets"]
        counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM mediatag_bi.{v})" for v in views)
        counts += ", (SELECT count(*) FROM mediatag_bi.datasets WHERE dataset = %s)"
        counts += ", (SELECT count(*) FROM mediatag_bi.tag_groups WHERE tag_group = %s)"
        counts += ", (SELECT count(*) FROM mediatag_bi.tags WHERE tag_group = %s)"
        # Those who may read it see its rows (the operator is a superuser, so an admin).
        seen = c.execute(counts, (name, group, group)).fetchone()
        assert seen[:2] + seen[3:] == (4, 4, 4, 4, 1, 1, 1)
    with psycopg.connect(logins["query"]) as q:
        assert q.execute(counts, (name, group, group)).fetchone() == (0,) * 8
    with psycopg.connect(logins["editor"]) as e:
        assert e.execute(counts, (name, group, group)).fetchone() == seen


def test_an_upgrade_makes_the_curated_views(db_url, service, service_token):
    from .test_backup_upgrade import release_database, token_proxy

    release, name = "0.1.0", f"mt_bi_{uuid.uuid4().hex[:8]}"
    try:
        with token_proxy(service, service_token) as service_url:
            url = release_database(db_url, name, release, service_url)
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("ALTER EXTENSION mediatag UPDATE")
            slug = c.execute("SELECT slug FROM mediatag.tag_group").fetchone()[0]
            members = dict(
                c.execute(
                    "SELECT c.relname, EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') "
                    "FROM pg_class c WHERE c.relnamespace = 'mediatag_bi'::regnamespace"
                ).fetchall()
            )
        # Generated views are the database's (pg_dump carries them), the catalog views the extension's.
        assert members == {
            **{f"dt_{slug}_{lvl}": False for lvl in LEVELS},
            "old_keyframes": False,
            "old_assets": False,
            "datasets": True,
            "tag_groups": True,
            "tags": True,
        }
        query = make_login(url, f"mt_bi_q_{uuid.uuid4().hex[:6]}", "query")
        try:
            with psycopg.connect(query) as q:
                rows = q.execute(f"SELECT DISTINCT dataset, tag_group, version FROM mediatag_bi.dt_{slug}_visual")
                assert rows.fetchall() == [("old", "Old tags", 1)]
                assert q.execute("SELECT count(*) FROM mediatag_bi.old_keyframes").fetchone()[0] == 40
                about = q.execute("SELECT obj_description('mediatag_bi.old_assets'::regclass)").fetchone()[0]
                assert re.match(r"The assets", about)
        finally:
            with psycopg.connect(url, autocommit=True) as c:
                user = conninfo_to_dict(query)["user"]
                c.execute(f'DROP OWNED BY "{user}"')
                c.execute(f'DROP ROLE "{user}"')
    finally:
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_dropping_a_group_keeps_what_users_built_on_its_curated_views(db_url, coco_dataset):
    name = unique("BI Dropped")
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(
            "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog'])", (coco_dataset, name)
        )
        c.execute("SELECT mediatag.publish_tag_group(%s)", (name,))
        c.execute("CALL mediatag.run_jobs()")
        slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (name,)).fetchone()[0]
        mine = f"public.mine_{slug}"
        c.execute(f"CREATE VIEW {mine} AS SELECT tag, score FROM mediatag_bi.dt_{slug}_hits")
        try:
            with pytest.raises(psycopg.errors.DependentObjectsStillExist):
                c.execute("SELECT mediatag.drop_tag_group(%s)", (name,))
            assert c.execute("SELECT to_regclass(%s)", (mine,)).fetchone()[0] is not None
        finally:
            c.execute(f"DROP VIEW {mine}")
        c.execute("SELECT mediatag.drop_tag_group(%s)", (name,))
        left = c.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s", (f"dt_{slug}%",)).fetchone()[0]
        assert left == 0
