"""Enum-like arguments are domains of one definition each (sql/src/types.sql): a bad word gets one clear error
naming the type and listing the allowed words, from SQL, the SDK and the CLI alike; the SDK's stub types them as
Literal[...] and the CLI offers them as choices, all read from the catalog."""

from __future__ import annotations

import re

import psycopg
import pytest

from mediatag.catalog import load

# Each domain and its words, as the reader expects them (a change to a set shows here first).
DOMAINS = {
    "access_level": ("viewer", "editor"),
    "concept_label_origin": ("manual", "search", "continue", "import", "top"),
    "concept_label_value": ("yes", "no", "skip"),
    "export_format": ("csv", "json", "srt", "vtt", "edl", "otio", "fcpxml"),
    "embedding_kind": ("visual", "transcript"),
    "face_detector": ("hog", "cnn"),
    "ground_truth_source": ("person", "llm"),
    "label_origin": ("preview", "search", "uncertain", "evaluation", "import"),
    "metric": ("f1", "f05", "precision", "recall", "accuracy"),
    "modality": ("visual", "transcript", "both"),
    "polarity": ("positive", "negative"),
    "preview_kind": ("compare", "positives", "negatives"),
    "preview_level": ("keyframe", "shot"),
    "prompt_origin": ("user", "llm", "tag_name"),
    "search_mode": ("semantic", "keyword"),
    "speech_engine": ("auto", "pocketsphinx", "faster-whisper", "openai"),
    "transcript_preview_kind": ("positives", "negatives", "all"),
    "transcript_sort": ("score", "score_asc", "time"),
    "visibility": ("secret", "shareable"),
}
PREVIEW_KIND_ERROR = 'invalid preview kind "bogus": use compare, positives or negatives'


def _url(conninfo: str) -> str:
    """A login's conninfo (conftest.make_login) as the URL the SDK and the CLI take."""
    from psycopg.conninfo import conninfo_to_dict

    i = conninfo_to_dict(conninfo)
    return f"postgresql://{i['user']}:{i['password']}@{i['host']}:{i['port']}/{i['dbname']}"


def _enum_args(catalog) -> dict[tuple[str, str], tuple[str, ...]]:
    """(function, argument) → allowed words, for every public function's argument of a mediatag domain."""
    return {
        (f.name, a.name): a.type.values
        for name in catalog.public()
        for f in catalog.overloads(name)
        for a in f.inputs
        if a.type.sql.startswith("mediatag.")
    }


def test_every_domain_lists_its_words_and_the_catalog_reads_them(conn):
    rows = conn.execute(
        """SELECT t.typname, mediatag._allowed(t.typname) FROM pg_type t
           WHERE t.typnamespace = 'mediatag'::regnamespace AND t.typtype = 'd' ORDER BY 1"""
    ).fetchall()
    assert {name: tuple(words) for name, words in rows} == DOMAINS
    args = _enum_args(load(conn))
    assert args[("preview", "kind")] == DOMAINS["preview_kind"]
    assert args[("set_group_visibility", "visibility")] == DOMAINS["visibility"]
    assert args[("label_concept", "label")] == DOMAINS["concept_label_value"]
    assert set(args.values()) == set(DOMAINS.values())  # every domain is some public argument's type


def test_no_public_function_takes_a_closed_set_as_plain_text(conn):
    """Every argument named like one of the sets is typed with its domain (a text `kind` would check by hand)."""
    catalog = load(conn)
    loose = [
        f"{f.name}({a.name})"
        for name in catalog.public()
        for f in catalog.overloads(name)
        for a in f.inputs
        if a.name in ("visibility", "polarity", "modality", "metric", "level", "mode", "sort", "asr", "detector")
        and a.type.sql == "text"
    ]
    assert loose == []


def test_python_sets_agree_with_the_domains():
    """The few Python copies of a set (renderers and engines that also run outside SQL) hold the same words."""
    from datasette_mediatag.concepts import LABELS
    from datasette_mediatag.evaluation import METRICS as UI_METRICS

    from mediatag.media.transcription import ASR_CHOICES
    from mediatag.segment_export import FORMATS
    from mediatag_ml.metrics import METRICS

    assert set(FORMATS) == set(DOMAINS["export_format"])
    assert tuple(METRICS) == DOMAINS["metric"] and set(UI_METRICS) == set(DOMAINS["metric"])
    assert set(ASR_CHOICES) - {"off"} == set(DOMAINS["speech_engine"])  # 'off': ingest only, no job to queue
    assert tuple(LABELS) == DOMAINS["concept_label_value"]


def test_bad_word_from_sql_as_each_role(logins):
    """The domain's check runs before the function body, so every role gets the same error, listing the words,
    whether the word comes as a literal, a parameter or a text value."""
    for role in ("viewer", "editor", "admin"):
        with psycopg.connect(logins[role], autocommit=True) as c:
            for sql in (
                "SELECT * FROM mediatag.preview(tag_group => 'g', tag => 't', kind => %s)",
                "SELECT * FROM mediatag.preview(tag_group => 'g', tag => 't', kind => %s::text)",
            ):
                with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
                    c.execute(sql, ("bogus",))
                assert e.value.diag.message_primary == PREVIEW_KIND_ERROR
                assert e.value.diag.message_hint == "mediatag.preview_kind allows: compare, positives, negatives"
        # A good word passes the type and reaches the body, which checks the rest (here: the group).
        with psycopg.connect(logins["viewer"], autocommit=True) as c, pytest.raises(psycopg.Error) as e:
            c.execute("SELECT * FROM mediatag.preview(tag_group => 'no such group', tag => 't', kind => 'positives')")
        assert "preview kind" not in str(e.value) and "no such group" in str(e.value).lower()


def test_null_where_a_word_is_required(conn):
    """NULL passes a domain's CHECK; a function that needs a word says so, with the words as the HINT."""
    conn.autocommit = False
    try:
        conn.execute("SELECT mediatag.create_dataset('enum_null_check', 'm-visual', 4, 'm-text', 4)")
        with pytest.raises(psycopg.errors.NullValueNotAllowed) as e:
            conn.execute("SELECT mediatag.search_transcripts('enum_null_check', 'hello', mode => NULL)")
    finally:
        conn.rollback()
        conn.autocommit = True
    assert e.value.diag.message_primary == "search mode must not be NULL"
    assert e.value.diag.message_hint == "use semantic, keyword"


def test_bad_word_from_the_sdk(logins):
    from mediatag import Client

    client = Client(_url(logins["viewer"]))
    with pytest.raises(Exception, match=re.escape(PREVIEW_KIND_ERROR)):
        client.preview("g", "t", kind="bogus")
    with pytest.raises(Exception, match=re.escape('invalid metric "auc": use f1, f05, precision, recall or accuracy')):
        client.suggest_threshold(1, metric="auc")
    with pytest.raises(Exception, match="mediatag.visibility allows: secret, shareable"):
        client.set_group_visibility("g", "public")


def test_bad_word_from_the_cli_lists_the_choices(logins, monkeypatch, capsys):
    from mediatag.cli import main

    monkeypatch.setenv("MEDIATAG_DATABASE_URL", _url(logins["editor"]))
    with pytest.raises(SystemExit) as e:
        main(["tags", "preview", "g", "t", "--kind", "bogus"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --kind: invalid choice: 'bogus'" in err and all(w in err for w in DOMAINS["preview_kind"])
    with pytest.raises(SystemExit):
        main(["concepts", "label", "c", "maybe", "1"])
    assert "invalid choice: 'maybe'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tags", "preview", "--help"])
    shown = capsys.readouterr().out
    assert "{compare,positives,negatives}" in shown and "{keyframe,shot}" in shown


def test_stub_types_the_words_as_literals():
    from mediatag.stubgen import STUB

    stub = STUB.read_text()
    expected = {
        "kind": DOMAINS["preview_kind"],
        "level": DOMAINS["preview_level"],
        "visibility": DOMAINS["visibility"],
        "metric": DOMAINS["metric"],
        "asr": DOMAINS["speech_engine"],
        "format": DOMAINS["export_format"],
        "label": DOMAINS["concept_label_value"],
    }
    for arg, words in expected.items():
        literal = "Literal[" + ", ".join(f'"{w}"' for w in words) + "]"
        assert re.search(rf"\b{arg}: {re.escape(literal)}", stub), f"{arg} is not typed {literal} in the stub"
    assert not re.search(r"\b(polarity|modality|visibility|metric): str[,)| ]", stub)  # as an argument


def test_a_changed_set_reaches_the_catalog_with_no_other_edit(conn):
    """What an upgrade does when a set changes: the install script's _enum_domain call gives the domain its new
    CHECK; the catalog (so the SDK, stub and CLI) and the error follow."""
    conn.autocommit = False
    try:
        # The upgrade's CREATE OR REPLACE makes it an invoker function again while the script runs (roles.sql,
        # at the end, makes it a definer of the owner role, which does not own the types).
        conn.execute("ALTER FUNCTION mediatag._enum_domain(text, text[]) SECURITY INVOKER")
        conn.execute("SELECT mediatag._enum_domain('face_detector', ARRAY['hog', 'cnn', 'retina'])")
        fn = load(conn).overloads("enable_faces")[0]
        assert {a.name: a.type.values for a in fn.inputs}["detector"] == ("hog", "cnn", "retina")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="use hog, cnn or retina"):
            conn.execute("SELECT 'mtcnn'::mediatag.face_detector")
    finally:
        conn.rollback()
        conn.autocommit = True
    fn = load(conn).overloads("enable_faces")[0]
    assert {a.name: a.type.values for a in fn.inputs}["detector"] == DOMAINS["face_detector"]
