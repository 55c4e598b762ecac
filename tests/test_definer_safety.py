"""SECURITY DEFINER functions never run a caller's code as the owner (issue 22).

Every data function runs as `mediatag_owner`. A caller can create temporary tables (with triggers) and `pg_temp`
functions; a definer function that touched one of those would run the caller's trigger as the owner. So: no
definer body names a temp table or `pg_temp` (a lint over `pg_proc`), and a viewer and an editor who plant every
name the extension's code uses (temp tables with triggers on every event, `pg_temp` functions shadowing every
mediatag function) see none of it run while they go through the workflows.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from .conftest import keyframes_by_file, unique

# What a definer function must never contain: creating or naming temporary objects.
FORBIDDEN = re.compile(r"\btemp(orary)?\s+table\b|\bpg_temp\b|\bcreate\s+(global\s+|local\s+)?temp", re.I)

# Scratch names earlier releases used (kept here so a regression to any of them is planted too).
OLD_SCRATCH = ["_mediatag_tsearch", "_mediatag_uncertain", "_mediatag_candidates", "_mediatag_import",
               "_mediatag_eval_scored"]  # fmt: skip


def test_no_definer_function_uses_temporary_objects(db_url):
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            """SELECT p.oid::regprocedure::text, p.prosrc FROM pg_proc p
               WHERE p.pronamespace = 'mediatag'::regnamespace AND p.prosecdef"""
        ).fetchall()
    assert len(rows) > 50  # the API is definer code: the scan must have read it
    offenders = [name for name, src in rows if FORBIDDEN.search(src)]
    assert offenders == [], f"SECURITY DEFINER functions touching temporary objects: {offenders}"


def test_lint_catches_a_temp_table():
    # The pattern above must see the forms Postgres accepts, or the lint proves nothing.
    for body in ("CREATE TEMP TABLE x (a int)", "create temporary table x as select 1",
                 "INSERT INTO pg_temp.x VALUES (1)", "CREATE LOCAL TEMP TABLE x ()"):  # fmt: skip
        assert FORBIDDEN.search(body), body
    assert not FORBIDDEN.search("SELECT template FROM mediatag.prompt_template")


def test_search_path_of_definer_functions_has_no_writable_schema(db_url):
    """The definer search_path is pg_catalog, mediatag, public, pg_temp: no mediatag role (nor PUBLIC) may create
    objects in the first three, or a planted function could win overload resolution inside the owner's code."""
    with psycopg.connect(db_url) as c:
        writable = c.execute(
            """SELECT r.rolname, n.nspname FROM pg_roles r CROSS JOIN pg_namespace n
               WHERE n.nspname IN ('pg_catalog', 'mediatag', 'public')
                 AND r.rolname IN ('mediatag_viewer', 'mediatag_editor', 'mediatag_admin', 'mediatag_query')
                 AND has_schema_privilege(r.oid, n.oid, 'CREATE')"""
        ).fetchall()
    assert writable == []


def _plant(c: psycopg.Connection) -> int:
    """Temp tables named like every mediatag table and old scratch table, each with triggers on every event, and a
    `pg_temp` twin of every mediatag function; all of them record the role they ran as. Returns how many."""
    c.execute(
        """CREATE FUNCTION pg_temp.spy() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               PERFORM set_config('planted.ran_as',
                                  current_setting('planted.ran_as', true) || ' ' || current_user, false);
               RETURN NULL;
           END $$"""
    )
    tables = [r[0] for r in c.execute("SELECT relname FROM pg_class WHERE relnamespace = 'mediatag'::regnamespace "
                                      "AND relkind IN ('r', 'p', 'v')")]  # fmt: skip
    planted = 0
    for name in sorted(set(tables + OLD_SCRATCH)):
        c.execute(f'CREATE TEMP TABLE "{name}" (id bigint, keyframe_id bigint, score real, x text)')
        for event in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            c.execute(f'CREATE TRIGGER spy_{event.lower()} BEFORE {event} ON pg_temp."{name}" '
                      "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.spy()")  # fmt: skip
        planted += 1
    functions = c.execute(
        """SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid)
           FROM pg_proc p WHERE p.pronamespace = 'mediatag'::regnamespace AND p.prokind = 'f'
             AND pg_get_function_result(p.oid) NOT LIKE 'TABLE%' AND pg_get_function_result(p.oid) NOT LIKE 'SETOF%'
             AND pg_get_function_result(p.oid) <> 'trigger'
             AND pg_get_function_identity_arguments(p.oid) NOT LIKE '%OUT %'"""
    ).fetchall()
    for name, args, result in functions:
        # Same name and argument types, so only schema resolution could tell them apart.
        types = ", ".join(re.sub(r'^("[^"]+"|\w+) ', "", a.strip()) for a in args.split(",")) if args else ""
        ret = "RETURN;" if result == "void" else "RETURN NULL;"
        c.execute(
            f'CREATE FUNCTION pg_temp."{name}"({types}) RETURNS {result} LANGUAGE plpgsql AS $$ BEGIN '
            "PERFORM set_config('planted.ran_as', current_setting('planted.ran_as', true) || ' fn:' || current_user, "
            f"false); {ret} END $$"
        )
        planted += 1
    # The plants work: the caller's own write to one runs the spy (as the caller).
    c.execute("SELECT set_config('planted.ran_as', '', false)")
    c.execute('TRUNCATE pg_temp."_mediatag_tsearch"')
    assert _ran_as(c) == c.execute("SELECT current_user").fetchone()[0]
    c.execute("SELECT set_config('planted.ran_as', '', false)")
    c.execute("SET search_path = pg_temp, mediatag, public")  # the caller's own path puts the plants first
    return planted


def _ran_as(c: psycopg.Connection) -> str:
    return c.execute("SELECT current_setting('planted.ran_as', true)").fetchone()[0].strip()


@pytest.fixture
def planted_editor(logins):
    with psycopg.connect(logins["editor"], autocommit=True) as c:
        assert _plant(c) > 100
        yield c


def test_planted_objects_never_run_as_the_owner_editor(planted_editor, logins, db_url, coco_dataset, video_dataset):
    c = planted_editor
    group = unique("Planted")
    c.execute("SELECT mediatag.create_tag_group(dataset => %s, name => %s, tags => ARRAY['dog', 'cat'])",
              (coco_dataset, group))  # fmt: skip
    c.execute("SELECT * FROM mediatag.preview(%s, 'dog')", (group,)).fetchall()
    uncertain = c.execute("SELECT keyframe_id FROM mediatag.uncertain_keyframes(%s, 'dog', 6)", (group,)).fetchall()
    assert uncertain
    c.execute("SELECT mediatag.label_keyframes(%s, 'dog', %s, true)", (group, [uncertain[0][0]]))
    c.execute("SELECT mediatag.publish_tag_group(%s)", (group,))
    c.execute("CALL mediatag.run_jobs()")
    e = c.execute("SELECT mediatag.start_evaluation(%s, 'dog', size => 20)", (group,)).fetchone()[0]
    assert c.execute("SELECT count(*) FROM mediatag.evaluation_items(%s)", (e,)).fetchone()[0] == 20
    hits = c.execute("SELECT * FROM mediatag.search_transcripts(%s, 'fractals', mode => 'keyword')",
                     (video_dataset,)).fetchall()  # fmt: skip
    assert hits
    c.execute("SELECT * FROM mediatag.search_transcripts(%s, 'a red screen')", (video_dataset,)).fetchall()
    concept = unique("planted_concept")
    c.execute("SELECT mediatag.create_concept(%s, %s)", (coco_dataset, concept))
    with psycopg.connect(db_url) as su:
        files = keyframes_by_file(su, coco_dataset)
    name, kf = sorted(files.items())[0]
    imported = c.execute(
        "SELECT * FROM mediatag.import_concept_labels(%s, %s, %s)", (concept, [name, f"keyframe:{kf}"], ["yes", "no"])
    ).fetchall()
    assert [r[2] for r in imported] == [1, 1]
    assert c.execute("SELECT count(*) FROM mediatag.continue_labeling(%s, 5)", (concept,)).fetchone()[0] == 5
    c.execute("SELECT * FROM mediatag.search(%s, query => 'a dog', k => 5)", (coco_dataset,)).fetchall()
    assert _ran_as(c) == ""


def test_planted_objects_never_run_as_the_owner_viewer(logins, coco_dataset, video_dataset, client):
    group = unique("PlantedView")
    client.create_tag_group(coco_dataset, group, "dog")
    with psycopg.connect(logins["viewer"], autocommit=True) as c:
        _plant(c)
        c.execute("SELECT * FROM mediatag.preview(%s, 'dog')", (group,)).fetchall()
        assert c.execute("SELECT count(*) FROM mediatag.uncertain_keyframes(%s, 'dog', 4)", (group,)).fetchone()[0]
        c.execute("SELECT * FROM mediatag.search_transcripts(%s, 'fractals', mode => 'keyword')", (video_dataset,))
        c.execute("SELECT * FROM mediatag.dataset_summary()").fetchall()
        c.execute("SELECT * FROM mediatag.search(%s, query => 'a cat', k => 5)", (coco_dataset,)).fetchall()
        assert _ran_as(c) == ""
