"""How `mediatag.Client` calls SQL functions: by name (`call`, `rows`) and through the methods sdk_functions.py
builds from the catalog, each with the function's comment and SQL signature as its docstring."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from .catalog import Catalog, Function
from .sql_calls import Call, resolve, shaped, statement


def docstring(overloads: Sequence[Function]) -> str:
    """The function's comment (or a note that it has none), then its SQL signature(s)."""
    comment = overloads[0].comment or next((f.comment for f in overloads if f.comment), None)
    head = comment.strip() if comment else f"Calls the SQL function {overloads[0].name} (it has no comment)."
    return head + "\n\n" + "\n".join(f"SQL: {f.sql}" for f in overloads)


def _signature(fn: Function) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("self", kind)]
    # None stands for "the SQL default" (see sql_calls.statement); the docstring shows what that default is.
    params += [inspect.Parameter(a.pyname, kind, **({} if a.default is None else {"default": None})) for a in fn.inputs]
    return inspect.Signature(params)


def sql_method(overloads: tuple[Function, ...]) -> Callable[..., Any]:
    """The method calling SQL function `overloads[0].name`: it picks the overload its arguments name."""

    def method(self: CatalogCalls, *args: Any, **kwargs: Any) -> Any:
        fn, named = resolve(overloads, args, kwargs)
        return self.execute(statement(fn, named))

    method.__name__ = method.__qualname__ = overloads[0].name
    method.__doc__ = docstring(overloads)
    if len(overloads) == 1:
        method.__signature__ = _signature(overloads[0])  # type: ignore[attr-defined]
    return method


class CatalogCalls:
    """Calls by function name and the statements every SQL-function method runs; expects `catalog`, `engine` and
    `read_engine` set by the Client's constructor.

    With a read engine (MEDIATAG_READ_URL, a streaming replica), a function declared STABLE or IMMUTABLE in pg_proc
    (`Function.reads_only`: search, previews, overviews, listings) runs there, every other call on the primary.
    Reads see this client's own writes: after a write the primary's WAL position is noted, and a read goes to the
    replica only once the replica has replayed up to it (else to the primary)."""

    catalog: Catalog
    engine: Engine
    read_engine: Engine | None = None
    _written_lsn: str | None = None

    def fetch(self, call: Call) -> list[dict[str, Any]]:
        """Run one statement; its rows as dicts. A procedure runs outside a transaction block: CALL may commit."""
        if call.function.reads_only and self.read_engine is not None:
            rows = self._fetch_on_replica(call)
            if rows is not None:
                return rows
        if call.function.kind == "p":
            cm = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        else:
            cm = self.engine.begin()
        with cm as conn:
            result = conn.execute(text(call.sql), call.params)
            rows = [dict(r._mapping) for r in result] if result.returns_rows else []
        if not call.function.reads_only:
            self._wrote()
        return rows

    def _fetch_on_replica(self, call: Call) -> list[dict[str, Any]] | None:
        """The rows from the replica; None when it has not yet replayed this client's last write."""
        assert self.read_engine is not None
        with self.read_engine.begin() as conn:
            if self._written_lsn is not None:
                caught_up = conn.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": self._written_lsn}
                ).scalar()
                if not caught_up:
                    return None
                self._written_lsn = None
            result = conn.execute(text(call.sql), call.params)
            return [dict(r._mapping) for r in result] if result.returns_rows else []

    def _wrote(self) -> None:
        """Note the primary's WAL position after something that may have written, for `_fetch_on_replica`."""
        if self.read_engine is not None:
            with self.engine.connect() as conn:
                self._written_lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar()

    def execute(self, call: Call) -> Any:
        return shaped(call.function, self.fetch(call))

    def call(self, fn: str, **params: Any) -> Any:
        """Call SQL function `fn` (public or not) with named arguments; the result in its catalog shape. None
        leaves an argument to its SQL default."""
        return self.execute(statement(*resolve(self.catalog.overloads(fn), (), params)))

    def rows(self, fn: str, **params: Any) -> list[dict[str, Any]]:
        """Call SQL function `fn`; every row it returns, as dicts."""
        return self.fetch(statement(*resolve(self.catalog.overloads(fn), (), params)))
