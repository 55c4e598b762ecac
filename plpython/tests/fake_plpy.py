"""A stand-in for PL/Python's `plpy`, so the sql_* modules (the bodies of the extension's PL/Python functions) run
in pytest: it answers each query with canned rows chosen by a fragment of its SQL, and records what was prepared
and executed. Plus the halfvec blobs those queries return."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

Rows = list[dict[str, Any]]
# Canned rows, or a function of the query's arguments that returns them.
Answer = Rows | Callable[[list[Any]], Rows]


class PlpyError(Exception):
    """What plpy.error raises (plpy.Error in PostgreSQL): the message, with hint / sqlstate when given."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message)
        self.hint: str | None = kwargs.get("hint")
        self.sqlstate: str | None = kwargs.get("sqlstate")


@dataclass(frozen=True)
class Plan:
    query: str
    types: tuple[str, ...]


class FakePlpy:
    def __init__(self, answers: Mapping[str, Answer]) -> None:
        """answers: SQL fragment → rows; every executed query must contain exactly one of the fragments, so a test
        fails on a query it did not expect."""
        self.answers = dict(answers)
        self.prepared: list[Plan] = []
        self.executed: list[tuple[str, list[Any]]] = []

    def prepare(self, query: str, argtypes: Sequence[str] = ()) -> Plan:
        # As PostgreSQL would refuse it: a $n without a type (or a type for no $n) is a mistake in the module.
        used = max((int(n) for n in re.findall(r"\$(\d+)", query)), default=0)
        assert used == len(argtypes), f"{len(argtypes)} types for ${used} in {query!r}"
        plan = Plan(query, tuple(argtypes))
        self.prepared.append(plan)
        return plan

    def execute(self, query: Plan | str, args: Sequence[Any] = ()) -> Rows:
        sql = query.query if isinstance(query, Plan) else query
        if isinstance(query, Plan):
            assert len(args) == len(query.types), f"{len(args)} arguments for {query.types} in {sql!r}"
        matches = [fragment for fragment in self.answers if fragment in sql]
        assert len(matches) == 1, f"answers {matches} match {sql!r}"
        self.executed.append((sql, list(args)))
        answer = self.answers[matches[0]]
        return answer(list(args)) if callable(answer) else answer

    def error(self, message: str, **kwargs: Any) -> NoReturn:
        raise PlpyError(message, **kwargs)

    def calls(self, fragment: str) -> list[list[Any]]:
        """The arguments of every executed query whose SQL contains `fragment`, in order."""
        return [args for sql, args in self.executed if fragment in sql]


def halfvec_send(v: np.ndarray) -> bytes:
    """One vector as PostgreSQL's halfvec_send() writes it: 2-byte dim, 2 unused bytes, big-endian float16s."""
    return struct.pack(">hh", len(v), 0) + np.asarray(v, dtype=">f2").tobytes()


def halfvec_blob(X: np.ndarray) -> bytes:
    """Rows of X as the concatenated halfvec_send() records a string_agg(halfvec_send(...)) query returns."""
    return b"".join(halfvec_send(row) for row in X)
