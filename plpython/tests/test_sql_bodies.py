"""The PL/Python functions of sql/src stay one call each into mediatag_ml.sql_<file>, with arguments that exist on
both sides, and the SQL those modules run obeys the rule for definer code. Reads the files; needs no database."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "sql" / "src"
PACKAGE = ROOT / "plpython" / "mediatag_ml"
PREAMBLE = 'import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")'
# What a body may pass besides the function's own arguments: PL/Python's globals and the package's folder.
PLPYTHON_GLOBALS = {"plpy", "SD"}
HEADER = re.compile(r"CREATE OR REPLACE FUNCTION mediatag\.(\w+)\(")


def _split_params(text: str) -> tuple[list[str], int]:
    """The parameters inside the parentheses that open `text` (split at top-level commas), and where they end."""
    params, depth, current = [], 1, ""
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return [*params, current], i
        if ch == "," and depth == 1:
            params, current = [*params, current], ""
        else:
            current += ch
    raise ValueError("unbalanced parentheses")


def _bodies() -> list[tuple[str, str, list[str], str]]:
    """(file stem, function, input argument names, body) of every PL/Python function in sql/src."""
    found = []
    for path in sorted(SQL.glob("*.sql")):
        text = path.read_text()
        for m in HEADER.finditer(text):
            params, end = _split_params(text[m.end() :])
            rest = text[m.end() + end :]
            header = rest[: rest.index("$$")]
            if "LANGUAGE plpython3u" not in header:
                continue
            body = rest[len(header) + 3 : rest.index("\n$$;")]
            inputs = []
            for words in (p.split() for p in params if p.strip()):
                if words[0].upper() == "OUT":
                    continue
                inputs.append(words[1] if words[0].upper() in ("IN", "INOUT") else words[0])
            found.append((path.stem, m.group(1), inputs, body))
    return found


BODIES = _bodies()


def test_the_sql_has_pl_python_functions():
    # The pattern must find them, or the checks below pass on nothing.
    assert {name for _, name, _, _ in BODIES} >= {"_fit_classifiers", "_fit_concept", "_service_post", "version"}


@pytest.mark.parametrize("stem, name, inputs, body", BODIES, ids=[f"{b[0]}.{b[1]}" for b in BODIES])
def test_each_body_is_one_call_into_its_files_module(stem, name, inputs, body):
    preamble, imports, call = body.splitlines()
    assert preamble.split("  #")[0] == PREAMBLE
    module_name = f"sql_{stem}"
    assert imports == f"from mediatag_ml import {module_name}"
    expr = ast.parse(call.removeprefix("return "), mode="eval").body
    assert isinstance(expr, ast.Call) and ast.unparse(expr.func).startswith(f"{module_name}.")
    target = getattr(importlib.import_module(f"mediatag_ml.{module_name}"), expr.func.attr)
    passed = [a.id if isinstance(a, ast.Name) else a.value for a in expr.args]
    assert not expr.keywords and set(passed) - PLPYTHON_GLOBALS - {"@PYDIR@"} <= set(inputs)
    inspect.signature(target).bind(*passed)  # as many arguments as the function takes


def test_every_sql_module_function_is_called_from_sql():
    called = {(f"sql_{stem}", body.splitlines()[-1].split(".")[1].split("(")[0]) for stem, _, _, body in BODIES}
    for path in PACKAGE.glob("sql_*.py"):
        module = importlib.import_module(f"mediatag_ml.{path.stem}")
        public = {
            n
            for n, f in inspect.getmembers(module, inspect.isfunction)
            if f.__module__ == module.__name__ and n[0] != "_"
        }
        assert public == {fn for m, fn in called if m == path.stem}, path.name


def test_the_sql_in_the_modules_touches_no_temporary_object():
    # The modules' SQL runs as the extension's owner (the functions are SECURITY DEFINER); test_definer_safety.py
    # scans the SQL bodies in pg_proc, which now hold only a call, so the same rule is applied to the modules here.
    forbidden = pytest.importorskip("tests.test_definer_safety").FORBIDDEN
    for path in PACKAGE.glob("sql_*.py"):
        assert not forbidden.search(path.read_text()), path.name
