"""Roles and secret groups, tried as the people who hold them: one login per role over TCP with a password.

What each role may read and do, that no role writes a base table, that a secret group (its prompts, labels,
weights and scores) stays invisible outside its training dataset, and that functions cannot be hijacked through
search_path or a writable schema.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from .conftest import make_login, unique


def _login(db_url: str, role: str) -> str:
    """A fresh login for one person with `role`."""
    return make_login(db_url, f"mt_{role}_{uuid.uuid4().hex[:6]}", role)


# The Query role's sessions are read-only as well, which refuses a write before privileges are looked at.
REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)


def _denied(url: str, statement: str, params: tuple = ()) -> None:
    with psycopg.connect(url) as c:
        with pytest.raises(REFUSED):
            c.execute(statement, params)


BASE_WRITES = [
    "UPDATE mediatag.tag_group SET visibility = 'shareable'",
    "UPDATE mediatag.classifier SET bias = 99",
    "DELETE FROM mediatag.visual_label",
    "INSERT INTO mediatag.job (kind) VALUES ('score_group')",
    "UPDATE mediatag.dataset SET name = 'x'",
    "INSERT INTO mediatag.setting (name, value) VALUES ('service_url', 'http://evil')",
    "TRUNCATE mediatag.keyframe CASCADE",
]


@pytest.mark.parametrize("role", ["viewer", "editor", "admin", "query"])
def test_no_role_writes_base_tables(logins, role, coco_dataset):
    for statement in BASE_WRITES:
        _denied(logins[role], statement)


@pytest.mark.parametrize("role", ["viewer", "editor", "admin", "query"])
def test_internal_functions_and_the_token_are_out_of_reach(logins, role):
    _denied(logins[role], "SELECT mediatag._service_token()")
    _denied(logins[role], "SELECT mediatag._enqueue_job('score_group', '{}')")
    _denied(logins[role], "SELECT mediatag._build_partition('x', 1, 'SELECT 1', '{}')")
    _denied(logins[role], "SELECT * FROM mediatag.setting")
    # Every keyframe's span (segments.sql) has no policy: read only by definer code, never by a login.
    _denied(logins[role], "SELECT * FROM mediatag.keyframe_span")


def test_viewer_reads_but_cannot_change(logins, client, coco_dataset):
    group = unique("ViewOnly")
    client.create_tag_group(coco_dataset, group, "dog")
    with psycopg.connect(logins["viewer"]) as c:
        names = [r[0] for r in c.execute("SELECT name FROM mediatag.dataset")]
        assert coco_dataset in names
        assert c.execute("SELECT count(*) FROM mediatag.preview(%s, 'dog', n => 4)", (group,)).fetchone()[0] > 0
        kf = c.execute(
            "SELECT min(k.id) FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id "
            "WHERE d.name = %s",
            (coco_dataset,),
        ).fetchone()[0]
    for statement, params in [
        ("SELECT mediatag.label_keyframes(%s, 'dog', ARRAY[%s]::bigint[], true)", (group, kf)),
        ("SELECT mediatag.add_prompt(%s, 'dog', 'a puppy')", (group,)),
        ("SELECT mediatag.publish_tag_group(%s)", (group,)),
        ("SELECT mediatag.set_threshold(%s, 'dog', 0.3)", (group,)),
        ("SELECT mediatag.create_tag_group(%s, 'Mine', ARRAY['cat'])", (coco_dataset,)),
        ("CALL mediatag.run_jobs()", ()),
    ]:
        _denied(logins["viewer"], statement, params)


def test_editor_edits_through_functions(logins, coco_dataset):
    group = unique("EditorMade")
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        c.execute(
            "SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog'])", (coco_dataset, group)
        )
        c.execute("SELECT mediatag.add_prompt(%s, 'dog', 'a puppy on grass')", (group,))
        who = c.execute("SELECT created_by FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone()[0]
        assert who.startswith("mt_test_editor")  # the person, not the owner role the function ran as
        _denied(logins["editor"], "SELECT mediatag.drop_dataset(%s)", (coco_dataset,))
        _denied(logins["editor"], "SELECT mediatag.grant_dataset_access(%s, 'mediatag_viewer')", (coco_dataset,))


def test_query_role_reads_views_only_with_a_timeout(logins, client, coco_dataset):
    group = unique("QueryRead")
    client.create_tag_group(coco_dataset, group, "dog")
    client.publish_tag_group(group)
    client.run_jobs()
    slug = client.query("SELECT slug FROM mediatag.tag_group WHERE name = :n", n=group)[0]["slug"]
    ds_slug = client.query("SELECT slug FROM mediatag.dataset WHERE name = :n", n=coco_dataset)[0]["slug"]
    with psycopg.connect(logins["query"]) as c:
        assert c.execute("SHOW statement_timeout").fetchone()[0] == "30s"
        assert c.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        n = c.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual").fetchone()[0]
        assert n > 0
        assert c.execute(f"SELECT count(*) FROM mediatag_data.{ds_slug}_keyframes").fetchone()[0] == 48
    for table in (
        "mediatag.tag_prompt",
        "mediatag.classifier",
        "mediatag.visual_label",
        "mediatag.keyframe",
        f"mediatag_data.dt_{slug}_visual_scores",
    ):
        _denied(logins["query"], f"SELECT * FROM {table} LIMIT 1")
    _denied(logins["query"], "SELECT mediatag.preview(%s, 'dog')", (group,))


def test_secret_group_is_invisible_outside_its_dataset(db_url, client, coco_files, media_dir):
    from mediatag.db import connect
    from mediatag.ingest import IngestOptions, ingest

    home, other = unique("home"), unique("other")
    with connect(db_url) as c:
        ingest(c, home, coco_files[:6], IngestOptions(progress=False, media_dir=media_dir))
        ingest(c, other, coco_files[6:10], IngestOptions(progress=False, media_dir=media_dir))
    alice, bob = _login(db_url, "editor"), _login(db_url, "editor")
    alice_name, bob_name = conninfo_to_dict(alice)["user"], conninfo_to_dict(bob)["user"]
    admin = psycopg.connect(db_url, autocommit=True)
    admin.execute("SELECT mediatag.grant_dataset_access(%s, %s, 'editor')", (home, alice_name))
    admin.execute("SELECT mediatag.grant_dataset_access(%s, %s, 'editor')", (other, bob_name))

    secret = unique("Secret plans")
    with psycopg.connect(alice, autocommit=True) as a:
        a.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog'])", (home, secret))
        a.execute("SELECT mediatag.add_prompt(%s, 'dog', 'codename bluebird')", (secret,))
        kf = a.execute(
            "SELECT min(k.id) FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id "
            "WHERE d.name = %s",
            (home,),
        ).fetchone()[0]
        a.execute("SELECT mediatag.label_keyframes(%s, 'dog', ARRAY[%s]::bigint[], true)", (secret, kf))
        a.execute("SELECT mediatag.publish_tag_group(%s)", (secret,))
    admin.execute("CALL mediatag.run_jobs()")
    slug = admin.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (secret,)).fetchone()[0]

    with psycopg.connect(alice) as a:
        assert a.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual").fetchone()[0] == 6
        assert a.execute("SELECT count(*) FROM mediatag.tag_prompt WHERE text = 'codename bluebird'").fetchone()[0] == 2
    with psycopg.connect(bob) as b:
        # Not in the base tables, not in the scores, not through any function: it does not exist for bob.
        assert b.execute("SELECT count(*) FROM mediatag.tag_group WHERE name = %s", (secret,)).fetchone()[0] == 0
        assert b.execute("SELECT count(*) FROM mediatag.tag_prompt WHERE text = 'codename bluebird'").fetchone()[0] == 0
        assert b.execute("SELECT count(*) FROM mediatag.visual_label WHERE keyframe_id = %s", (kf,)).fetchone()[0] == 0
        weights = b.execute(
            "SELECT count(*) FROM mediatag.classifier c JOIN mediatag.tag t ON t.id = c.tag_id "
            "JOIN mediatag.tag_group g ON g.id = t.group_id WHERE g.name = %s",
            (secret,),
        )
        assert weights.fetchone()[0] == 0
        assert b.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual").fetchone()[0] == 0
        assert (
            b.execute(
                "SELECT count(*) FROM mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id "
                "WHERE d.name = %s",
                (home,),
            ).fetchone()[0]
            == 0
        )
        assert secret not in [r[0] for r in b.execute("SELECT name FROM mediatag.list_tag_groups()")]
        with pytest.raises(psycopg.errors.NoDataFound, match="unknown tag group"):
            b.execute("SELECT * FROM mediatag.preview(%s, 'dog')", (secret,))
        b.rollback()
        with pytest.raises(psycopg.errors.NoDataFound, match="unknown dataset"):
            b.execute("SELECT mediatag.dataset_id(%s)", (home,))
        b.rollback()
        with pytest.raises(psycopg.errors.NoDataFound):
            b.execute("SELECT mediatag.apply_tag_group(%s, %s)", (secret, other))
    # The admin sees everything.
    assert admin.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual").fetchone()[0] == 6
    admin.close()


def test_functions_cannot_be_hijacked(db_url, logins):
    with psycopg.connect(db_url) as c:
        bad = c.execute(
            """SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'mediatag'::regnamespace
               AND p.prokind = 'f' AND p.provolatile <> 'i'
               AND NOT (p.prosecdef AND pg_get_userbyid(p.proowner) = 'mediatag_owner'
                        AND 'search_path=pg_catalog, mediatag, public, pg_temp' = ANY (p.proconfig))"""
        ).fetchall()
        assert bad == []
        owners = c.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'mediatag'::regnamespace AND relkind IN ('r', 'v')"
        ).fetchall()
        assert owners == [("mediatag_owner",)]
    for role in ("editor", "admin"):
        # A function planted where an admin's search_path (README: mediatag_data, mediatag, public) would find it.
        _denied(logins[role], "CREATE FUNCTION mediatag_data.lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'")
        _denied(logins[role], "CREATE TABLE mediatag_data.planted (x int)")
        _denied(logins[role], "CREATE FUNCTION mediatag.lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'")
        _denied(logins[role], "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'")
    # A caller's own temporary objects and search_path change nothing inside a function.
    with psycopg.connect(logins["editor"]) as c:
        c.execute("CREATE TEMP TABLE dataset (id bigint, name text)")
        c.execute("INSERT INTO pg_temp.dataset VALUES (-1, 'planted')")
        c.execute("SET search_path = pg_temp, public")
        names = [r[0] for r in c.execute("SELECT name FROM mediatag.dataset_summary()")]
        assert "planted" not in names and names
