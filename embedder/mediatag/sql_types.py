"""PostgreSQL types on the Python side: the annotation a stub writes, the value psycopg is handed, and how a
command-line word becomes that value. Keyed by base type (`catalog.SqlType.base`), never by argument name."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from .catalog import SqlType

_INTS = {"int2", "int4", "int8", "oid"}
_FLOATS = {"float4", "float8", "numeric"}
_VECTORS = {"vector", "halfvec"}  # pgvector's dense types; their text form is '[1,2,3]'
_JSON = {"json", "jsonb"}
# Results psycopg loads as these classes (arguments of these types also take a str, cast by the server).
_HINTS = {
    "bool": "bool",
    "timestamptz": "datetime",
    "timestamp": "datetime",
    "date": "date",
    "interval": "timedelta",
    "bytea": "bytes",
    "uuid": "UUID",
    **{t: "int" for t in _INTS},
    **{t: "float" for t in _FLOATS},
}
_STRINGS = {"text", "varchar", "bpchar", "name", "char", "regrole", "regclass", "citext"}


def _element_hint(t: SqlType, out: bool) -> str:
    if t.values:
        return "Literal[" + ", ".join(repr(v) for v in t.values) + "]"
    if t.base in _STRINGS:
        return "str"
    if t.base in _VECTORS:
        return "str" if out else "Sequence[float] | str"  # results: pgvector's text form unless registered
    if t.base in _JSON:
        return "Any"
    hint = _HINTS.get(t.base, "Any")
    return hint if out or hint in ("bool", "int", "float", "Any", "bytes") else f"{hint} | str"


def hint(t: SqlType, *, out: bool = False) -> str:
    """The Python annotation of an argument (`out=False`: what a caller may pass) or of a result."""
    element = _element_hint(t, out)
    if not t.array:
        return element
    return f"list[{element}]" if out else f"Sequence[{element}]"


def _scalar(t: SqlType, value: Any) -> Any:
    if value is None:
        return None
    if t.base in _INTS:
        return int(value)  # numpy integers too: psycopg adapts only Python's own
    if t.base in _FLOATS:
        return float(value)
    if t.base == "bool":
        return bool(value)
    if t.base in _STRINGS and isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def to_param(t: SqlType, value: Any) -> Any:
    """`value` as psycopg is to send it before the statement CASTs it to `t`: arrays become lists of converted
    elements, JSON other than text is serialised, a vector given as numbers becomes pgvector's text form."""
    if value is None:
        return None
    if t.base in _JSON and not t.array:
        return value if isinstance(value, str) else json.dumps(value, default=str)
    if t.base in _VECTORS and not t.array:
        return _vector_text(value)
    if t.array:
        if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
            raise TypeError(f"a {t.display} argument takes a list, not {type(value).__name__}")
        return [_vector_text(v) if t.base in _VECTORS else _scalar(t, v) for v in value]
    return _scalar(t, value)


def _vector_text(value: Any) -> str | None:
    """A vector given as numbers (a list, a numpy array) in pgvector's text form; text as it is."""
    if value is None or isinstance(value, str):
        return value
    return "[" + ",".join(repr(float(x)) for x in value) + "]"


def yes_no(word: str) -> bool:
    """A command-line boolean: yes/no, true/false, on/off, 1/0."""
    w = word.strip().lower()
    if w in ("yes", "y", "true", "t", "on", "1"):
        return True
    if w in ("no", "n", "false", "f", "off", "0"):
        return False
    raise ValueError(f"expected yes or no, got {word!r}")


def parser(t: SqlType) -> Callable[[str], Any]:
    """How a command-line word becomes a value of `t`'s element type (the server casts text it is given)."""
    if t.base in _INTS:
        return int
    if t.base in _FLOATS:
        return float
    if t.base == "bool":
        return yes_no
    return str
