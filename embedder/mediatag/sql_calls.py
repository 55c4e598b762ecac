"""One call of a catalogued SQL function: which overload the arguments name, the statement (named notation, each
argument CAST to its declared type) and the result in the shape the catalog gives it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import SCHEMA, Function
from .sql_types import to_param


@dataclass(frozen=True)
class Call:
    function: Function
    sql: str  # with :p0, :p1 … placeholders (SQLAlchemy's text())
    params: dict[str, Any]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _named(fn: Function, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Positional and keyword arguments by SQL name for `fn`, or None when they do not fit its inputs."""
    inputs = fn.inputs
    if len(args) > len(inputs):
        return None
    named = {a.name: v for a, v in zip(inputs, args, strict=False)}
    by_py = {a.pyname: a.name for a in inputs}
    for k, v in kwargs.items():
        if k not in by_py or by_py[k] in named:
            return None
        named[by_py[k]] = v
    return named


def _fits(fn: Function, named: Mapping[str, Any]) -> bool:
    """Whether a list (or a non-list) stands where `fn` declares an array (or not): tells overloads apart."""
    types = {a.name: a.type for a in fn.inputs}
    return all(
        v is None or types[k].array == (isinstance(v, list | tuple | set) or hasattr(v, "__array__"))
        for k, v in named.items()
    )


def resolve(overloads: Sequence[Function], args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Function, dict]:
    """The overload these arguments call and the arguments by SQL name; TypeError as Python gives for a bad call."""
    fitting = [(f, n) for f in overloads if (n := _named(f, args, kwargs)) is not None]
    if len(fitting) > 1:
        fitting = [(f, n) for f, n in fitting if _fits(f, n)] or fitting
    if len(fitting) > 1:  # e.g. search(dataset) is the main search, not search(dataset, face) missing its face
        fitting = [(f, n) for f, n in fitting if not _missing(f, n)] or fitting
    if not fitting:
        names = " | ".join(", ".join(a.pyname for a in f.inputs) for f in overloads)
        raise TypeError(f"{overloads[0].name}() takes ({names}); got {len(args)} positional and {sorted(kwargs)}")
    fn, named = fitting[0]
    if missing := _missing(fn, named):
        raise TypeError(f"{fn.name}() missing required argument(s): {', '.join(missing)}")
    return fn, named


def _missing(fn: Function, named: Mapping[str, Any]) -> list[str]:
    return [a.pyname for a in fn.inputs if a.default is None and a.name not in named]


def statement(fn: Function, named: Mapping[str, Any]) -> Call:
    """The statement calling `fn` with `named` arguments. None leaves a defaulted argument to its SQL default
    (and is NULL for a required one); procedures get NULL for their OUT arguments, as CALL requires."""
    parts, params = [], {}
    for a in fn.args:
        value = named.get(a.name)
        if a.mode == "o" and fn.kind == "p":
            parts.append(f"{_quote(a.name)} => NULL")
        elif a.mode in "ibv" and (value is not None or a.default is None):
            key = f"p{len(params)}"
            params[key] = to_param(a.type, value)
            parts.append(f"{_quote(a.name)} => CAST(:{key} AS {a.type.sql})")
    target = f"{SCHEMA}.{_quote(fn.name)}({', '.join(parts)})"
    if fn.shape == "call":
        sql = f"CALL {target}"
    elif fn.shape == "value":
        sql = f"SELECT {target}"
    else:
        sql = f"SELECT * FROM {target}"
    return Call(fn, sql, params)


def shaped(fn: Function, rows: list[dict[str, Any]]) -> Any:
    """Result rows (as dicts) in `fn`'s shape: all rows, one row, a column's values, one value or a procedure's
    OUT value(s)."""
    shape = fn.shape
    if shape == "rows":
        return rows
    if shape == "values":
        return [next(iter(r.values())) for r in rows]
    if shape == "value" and fn.returns is not None and fn.returns.base == "void":
        return None
    first = rows[0] if rows else None
    if shape == "row":
        return first
    if first is None:
        return None
    return next(iter(first.values())) if len(first) == 1 else first
