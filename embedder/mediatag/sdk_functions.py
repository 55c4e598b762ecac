"""`mediatag.Client`'s methods for the SQL functions: one per public `mediatag.*` function, built from the catalog
the client reads when it connects (names, arguments, declared types, defaults, result shape, comment).

Built at connect time rather than written out by a generator: the methods are those of the database the client
talks to, so they cannot drift from it, and a new SQL function needs no Python edit. Editors and type checkers
read `sdk_functions.pyi` instead of this file: the same methods, typed, written from a fresh install's catalog by
`make stubs` (mediatag.stubgen); tests/test_sdk_catalog.py regenerates it and fails when the two differ.
"""

from __future__ import annotations

from typing import Any

from .sdk_calls import sql_method


class SqlFunctions:
    """A method per public SQL function; needs the Client's `catalog` and `execute` (sdk_calls.CatalogCalls)."""

    def __getattr__(self, name: str) -> Any:
        # Reached only for names no class defines, so hand-written methods take precedence.
        catalog = self.__dict__.get("catalog")
        if catalog is None or name not in set(catalog.public()):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        bound = sql_method(catalog.overloads(name)).__get__(self)
        self.__dict__[name] = bound  # built once per client
        return bound

    def __dir__(self) -> list[str]:
        catalog = self.__dict__.get("catalog")
        return sorted({*super().__dir__(), *(catalog.public() if catalog else ())})
