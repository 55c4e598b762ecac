"""The catalog drives the SDK, its stub and the CLI: the checked-in stub matches the database, and a SQL function
added with a comment shows up in all three with no other edit."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from mediatag.catalog import Arg, Function, SqlType
from mediatag.sql_calls import resolve, statement

THROWAWAY = """
CREATE TYPE mediatag.zz_mood AS ENUM ('calm', 'loud');
CREATE DOMAIN mediatag.zz_level AS text CHECK (VALUE IN ('low', 'high'));
CREATE FUNCTION mediatag.zz_echo(word text, times int DEFAULT 2, mood mediatag.zz_mood DEFAULT 'calm',
                                 level mediatag.zz_level DEFAULT 'low', flags boolean[] DEFAULT NULL)
RETURNS TABLE (n int, said text, mood mediatag.zz_mood, level text)
LANGUAGE sql AS $$ SELECT i, word, mood, level::text FROM generate_series(1, times) i $$;
COMMENT ON FUNCTION mediatag.zz_echo IS 'Repeats a word (a throwaway function of the catalog test).';
CREATE FUNCTION mediatag.zz_undocumented(x bigint[]) RETURNS bigint
LANGUAGE sql AS $$ SELECT sum(v) FROM unnest(x) v $$;
"""


@pytest.fixture(scope="module")
def scratch_url(db_url: str) -> Iterator[str]:
    """A database of its own with the extension and the throwaway functions (the test database stays as shipped)."""
    from mediatag.db import connect

    name = f"mt_scratch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    try:
        with connect(url, autocommit=True) as c:
            c.execute(THROWAWAY)
        yield url
    finally:
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_checked_in_stub_matches_the_catalog(conn):
    from mediatag.stubgen import STUB, stub_text

    assert stub_text(conn) == STUB.read_text(), "sdk_functions.pyi is out of date: run `make stubs`"


def test_new_function_is_a_method_with_its_comment(scratch_url):
    from mediatag import Client

    client = Client(scratch_url)
    rows = client.zz_echo("hi", times=3, mood="loud")
    assert rows == [{"n": i, "said": "hi", "mood": "loud", "level": "low"} for i in (1, 2, 3)]
    assert client.zz_echo(word="x") == [{"n": i, "said": "x", "mood": "calm", "level": "low"} for i in (1, 2)]
    assert client.zz_undocumented([1, 2, 3]) == 6  # bigint[] from a list; a scalar result comes back bare
    assert "Repeats a word" in client.zz_echo.__doc__ and "zz_echo" in dir(client)
    assert "has no comment" in client.zz_undocumented.__doc__
    with pytest.raises(TypeError, match="missing required argument"):
        client.zz_echo(times=1)
    with pytest.raises(Exception, match="invalid input value for enum"):
        client.zz_echo("x", mood="angry")


def test_new_function_is_in_the_stub(scratch_url):
    from mediatag.catalog import load
    from mediatag.db import connect
    from mediatag.stubgen import hand_written, render

    with connect(scratch_url) as c:
        stub = render(load(c), hand_written())
    assert "class ZzEchoRow(TypedDict):\n    n: int\n    said: str\n    mood: Literal['calm', 'loud']" in stub
    assert (
        "def zz_echo(self, word: str, times: int | None = ..., mood: Literal['calm', 'loud'] | None = ..., "
        "level: Literal['low', 'high'] | None = ..., flags: Sequence[bool] | None = ...) -> list[ZzEchoRow]:" in stub
    )
    assert "Repeats a word (a throwaway function of the catalog test)." in stub
    assert "def zz_undocumented(self, x: Sequence[int]) -> int:" in stub


def _parser(client, command) -> argparse.ArgumentParser:
    from mediatag.cli_sdk import add_function_commands

    p = argparse.ArgumentParser(prog="mediatag")
    add_function_commands(p.add_subparsers(dest="command", required=True), client, commands=(command,))
    return p


def test_new_function_in_the_cli_table(scratch_url, capsys):
    from mediatag import Client
    from mediatag.cli_table import Command

    client = Client(scratch_url)
    p = _parser(client, Command(("echo",), "zz_echo", "repeat a word", columns=("n", "said")))
    with pytest.raises(SystemExit):
        p.parse_args(["echo", "--help"])
    shown = capsys.readouterr().out
    assert "Repeats a word" in shown and "--times TIMES" in shown and "{calm,loud}" in shown and "{low,high}" in shown
    args = p.parse_args(["echo", "hey", "--times", "2", "--mood", "loud", "--json"])
    assert args.func(args) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out == [{"n": i, "said": "hey", "mood": "loud", "level": "low"} for i in (1, 2)]
    args = p.parse_args(["echo", "hey"])
    assert args.func(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["n", "said"] and table[2].split() == ["1", "hey"] and len(table) == 4
    with pytest.raises(SystemExit):
        p.parse_args(["echo", "hey", "--mood", "angry"])
    assert "invalid choice: 'angry'" in capsys.readouterr().err


def _fn(name: str, *args: Arg) -> Function:
    returns = SqlType("bigint", "bigint", "int8", False)
    return Function(name, "f", args, returns, False, 0, None, "", "bigint")


def test_overloads_are_told_apart_by_names_and_arrays():
    text, texts = SqlType("text", "text", "text", False), SqlType("text[]", "text[]", "text", True)
    by_lines = _fn("g", Arg("name", text, "i", None), Arg("keywords", text, "i", None))
    by_list = _fn("g", Arg("name", text, "i", None), Arg("tags", texts, "i", None), Arg("v", text, "i", "'x'"))
    assert resolve([by_lines, by_list], ("a",), {"tags": ("x", "y")})[0] is by_list
    assert resolve([by_lines, by_list], ("a", "x\ny"), {})[0] is by_lines
    assert resolve([by_lines, by_list], ("a", ["x"]), {})[0] is by_list
    with pytest.raises(TypeError, match="takes"):
        resolve([by_lines, by_list], ("a",), {"nope": 1})
    call = statement(by_list, {"name": "a", "tags": ("x", "y"), "v": None})
    assert call.sql == 'SELECT mediatag."g"("name" => CAST(:p0 AS text), "tags" => CAST(:p1 AS text[]))'
    assert call.params == {"p0": "a", "p1": ["x", "y"]}
