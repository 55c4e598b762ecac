"""Every public mediatag.* function has a comment in the catalog (issue 23), in the form sql/src/comments.sql
describes: a first line saying what it does and for whom, then one line per argument, "name: meaning", so a new
function without one (or with an argument its comment does not name) fails here."""

from __future__ import annotations

import re

import psycopg

# An argument line: the argument's name (as pg_proc.proargnames holds it, without quotes), a colon, its meaning.
ARG_LINE = re.compile(r"^([a-z_][a-z0-9_]*): \S")


def _public_routines(db_url: str) -> list[tuple[str, list[str], int, str | None]]:
    """(signature, input argument names, number of input arguments, comment) of every function and procedure in
    schema mediatag whose name does not start with "_"."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            """SELECT format('%s mediatag.%s(%s)', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                             p.proname, pg_get_function_identity_arguments(p.oid)),
                      ARRAY(SELECT p.proargnames[i] FROM generate_subscripts(p.proargnames, 1) i
                            WHERE coalesce(p.proargmodes[i], 'i') IN ('i', 'b', 'v') ORDER BY i),
                      p.pronargs, obj_description(p.oid, 'pg_proc')
               FROM pg_proc p
               WHERE p.pronamespace = 'mediatag'::regnamespace AND p.proname !~ '^_'
               ORDER BY 1"""
        ).fetchall()


def _problems(signature: str, args: list[str], comment: str | None, nargs: int | None = None) -> list[str]:
    if nargs is not None and len(args) != nargs:
        return [f"{signature}: give every argument a name (the SDK and the CLI call functions by argument name)"]
    if comment is None or not comment.strip():
        return [f"{signature}: no COMMENT ON (add one to sql/src/comments.sql)"]
    lines = comment.splitlines()
    out = []
    if not lines[0].strip() or ARG_LINE.match(lines[0]):
        out.append(f"{signature}: the first line must say what it does and for whom")
    named = [m.group(1) for m in map(ARG_LINE.match, lines[1:]) if m]
    for a in args:
        if not a:
            out.append(f"{signature}: an argument without a name")
        elif a not in named:
            out.append(f'{signature}: no argument line "{a}: ..."')
    for n in named:
        if n not in args:
            out.append(f'{signature}: the argument line "{n}: ..." names no argument')
    return out


def test_every_public_function_has_a_comment_naming_its_arguments(db_url):
    routines = _public_routines(db_url)
    assert len(routines) > 50  # the catalog was read, not an empty schema
    problems = [p for sig, args, nargs, comment in routines for p in _problems(sig, args, comment, nargs)]
    assert not problems, "\n".join(problems)


def test_the_check_finds_what_is_missing():
    assert _problems("FUNCTION mediatag.f(x integer)", ["x"], None)
    assert _problems("FUNCTION mediatag.f(x integer)", ["x"], "Does f. Viewers.")
    assert _problems("FUNCTION mediatag.f(x integer)", ["x"], "Does f. Viewers.\ny: a stale name\nx: the x")
    assert _problems("FUNCTION mediatag.f(x integer)", ["x"], "x: the x")
    assert not _problems("FUNCTION mediatag.f(x integer)", ["x"], "Does f. Viewers.\nx: the x (default 1)\nReturns: y.")
    assert not _problems("FUNCTION mediatag.g()", [], "Does g. Viewers.\nReturns: y.")
    assert _problems("FUNCTION mediatag.h(integer)", [], "Does h. Viewers.\nReturns: y.", nargs=1)
