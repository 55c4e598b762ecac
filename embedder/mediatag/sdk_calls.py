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
    """Calls by function name and the statements every SQL-function method runs; expects `catalog` and `engine`
    set by the Client's constructor."""

    catalog: Catalog
    engine: Engine

    def fetch(self, call: Call) -> list[dict[str, Any]]:
        """Run one statement; its rows as dicts. A procedure runs outside a transaction block: CALL may commit."""
        if call.function.kind == "p":
            cm = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        else:
            cm = self.engine.begin()
        with cm as conn:
            result = conn.execute(text(call.sql), call.params)
            return [dict(r._mapping) for r in result] if result.returns_rows else []

    def execute(self, call: Call) -> Any:
        return shaped(call.function, self.fetch(call))

    def call(self, fn: str, **params: Any) -> Any:
        """Call SQL function `fn` (public or not) with named arguments; the result in its catalog shape. None
        leaves an argument to its SQL default."""
        return self.execute(statement(*resolve(self.catalog.overloads(fn), (), params)))

    def rows(self, fn: str, **params: Any) -> list[dict[str, Any]]:
        """Call SQL function `fn`; every row it returns, as dicts."""
        return self.fetch(statement(*resolve(self.catalog.overloads(fn), (), params)))
