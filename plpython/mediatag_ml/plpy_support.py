"""What the sql_* modules (the bodies of the extension's PL/Python functions) share: the part of PL/Python's `plpy`
they use, plans prepared once per session, and session caches that notice when their source changed.

PL/Python hands every function `plpy` and a per-function dict `SD` that lives as long as the backend (and is
emptied when the function is replaced); the SQL bodies pass both in, so these modules need no PL/Python at import
time and tests pass a fake `plpy` and a plain dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, Protocol, TypeVar

Row = Mapping[str, Any]
T = TypeVar("T")


class Plpy(Protocol):
    """The calls of PL/Python's `plpy` module that mediatag makes."""

    def prepare(self, query: str, argtypes: Sequence[str] = ..., /) -> Any: ...

    def execute(self, query: Any, args: Sequence[Any] = ..., /) -> Sequence[Row]: ...

    def error(self, message: str, /, **kwargs: Any) -> NoReturn: ...


# A query to prepare: its SQL text and the types of $1, $2, ...
Statement = tuple[str, Sequence[str]]


def prepared(plpy: Plpy, sd: dict, key: str, statements: Mapping[str, Statement]) -> dict[str, Any]:
    """The statements prepared as plans, kept in SD[key]: planned once per session, not on every call."""
    plans = sd.get(key)
    if plans is None:
        plans = sd[key] = {name: plpy.prepare(sql, types) for name, (sql, types) in statements.items()}
    return plans


def run(plpy: Plpy, sql: str, types: Sequence[str], args: Sequence[Any]) -> Sequence[Row]:
    """Execute a query with arguments once ($1, $2, ... of the given types)."""
    return plpy.execute(plpy.prepare(sql, types), args)


def cached(cache: dict, item: Any, version: Any, load: Callable[[], T]) -> T:
    """cache[item]'s value while it was loaded at `version`, else load() again: a dataset's sample is read once
    per session and re-read only after the sample itself changed (the caller's cheap version query says so)."""
    hit = cache.get(item)
    if hit is None or hit[0] != version:
        hit = cache[item] = (version, load())
    return hit[1]
