"""The SQL functions of schema `mediatag` as PostgreSQL's catalog describes them (pg_proc, pg_type, comments).

This is the one definition the SDK's methods, their typed stub and the CLI's function commands are built from:
a function's name, argument names, declared types (with an enum's or a CHECK-ed domain's allowed values),
defaults, result shape and `COMMENT ON FUNCTION` text. Nothing here knows a particular function.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

SCHEMA = "mediatag"

# A domain's CHECK as pg_get_constraintdef prints it, whose ARRAY's literals are the allowed values: mediatag's
# own, CHECK (mediatag._one_of('modality'::text, VALUE, ARRAY['visual'::text, ...])) (sql/src/types.sql),
# or a plain CHECK (VALUE IN ('a', 'b')), printed CHECK ((VALUE = ANY (ARRAY['a'::text, 'b'::text]))).
_IN_LIST = re.compile(r"^CHECK \((?:\(VALUE = ANY \(|\w+\._one_of\('(?:[^']|'')*'::text, VALUE, )ARRAY\[(.*)\]\)\)\)?$")
_LITERAL = re.compile(r"'((?:[^']|'')*)'")

# Which calls may run on a read-only replica (MEDIATAG_READ_URL): functions declared STABLE or IMMUTABLE, which
# PostgreSQL lets change nothing. Never a procedure (CALL may commit). The SDK and the UI both route by this.
READS_ONLY = "(p.prokind = 'f' AND p.provolatile IN ('s', 'i'))"

_FUNCTIONS = f"""
SELECT p.oid, p.proname, p.prokind, {READS_ONLY} AS reads_only, p.proretset, p.prorows, p.prorettype,
       coalesce(p.proallargtypes, p.proargtypes::oid[]) AS types,
       p.proargmodes::text[] AS modes, p.proargnames AS names,
       ARRAY(SELECT pg_get_function_arg_default(p.oid, i)
             FROM generate_series(1, cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))) i) AS defaults,
       obj_description(p.oid, 'pg_proc') AS comment,
       pg_get_function_arguments(p.oid) AS signature, pg_get_function_result(p.oid) AS result
FROM pg_proc p
WHERE p.pronamespace = %s::regnamespace AND p.prokind IN ('f', 'p')
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""

# Each type as a CAST writes it (qualified outside pg_catalog, so any search_path reads it), with what decides its
# Python side: the element's base type after a domain, whether it is an array, and an enum's or a domain's values.
_TYPES = """
SELECT t.oid,
       CASE WHEN en.nspname = 'pg_catalog' THEN format_type(el.oid, NULL)
            ELSE quote_ident(en.nspname) || '.' || quote_ident(el.typname) END AS qualified,
       CASE WHEN en.nspname = 'pg_catalog' THEN format_type(el.oid, NULL) ELSE el.typname::text END AS display,
       el.oid <> t.oid AS is_array, b.typname AS base, b.typtype = 'c' OR b.oid = 'record'::regtype AS composite,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = el.oid ORDER BY e.enumsortorder) AS labels,
       ARRAY(SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
             WHERE c.contypid = el.oid AND c.contype = 'c') AS checks
FROM pg_type t
JOIN pg_type el ON el.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN t.typelem ELSE t.oid END
JOIN pg_namespace en ON en.oid = el.typnamespace
JOIN pg_type b ON b.oid = CASE WHEN el.typtype = 'd' THEN el.typbasetype ELSE el.oid END
WHERE t.oid = ANY(%s::oid[])
"""


@dataclass(frozen=True)
class SqlType:
    sql: str  # as a CAST writes it: 'bigint[]', 'public.vector', 'mediatag.visibility'
    display: str  # as people read it: 'bigint[]', 'vector', 'visibility'
    base: str  # the element's base type name after domains: 'int8', 'text', 'jsonb', 'vector'
    array: bool
    composite: bool = False  # a row type or record: the function returns columns
    values: tuple[str, ...] = ()  # an enum's labels, or the values a domain's CHECK (VALUE IN (...)) allows


@dataclass(frozen=True)
class Arg:
    name: str
    type: SqlType
    mode: str  # pg_proc.proargmodes: i(n), o(ut), b(oth: inout), v(ariadic), t(able column)
    default: str | None  # the DEFAULT expression as SQL text; None when the argument is required

    @property
    def pyname(self) -> str:
        """The Python parameter name: a SQL name that is a Python keyword gets a trailing underscore."""
        return self.name + "_" if keyword.iskeyword(self.name) else self.name

    @property
    def shown_default(self) -> str | None:
        """The default as people read it: 'compare'::text becomes 'compare', NULL::integer NULL."""
        return re.sub(r"::[\w .\"\[\]]+$", "", self.default) if self.default is not None else None


@dataclass(frozen=True)
class Function:
    name: str
    kind: str  # 'f' function, 'p' procedure (CALL)
    args: tuple[Arg, ...]  # every argument in declaration order, output columns included
    returns: SqlType | None  # None for a procedure
    returns_set: bool
    rows: float  # pg_proc.prorows: the planner's row estimate for a set-returning function; ROWS 1 means one row
    comment: str | None
    signature: str  # pg_get_function_arguments: 'tag_group text, tag text, kind text DEFAULT ...'
    result: str  # pg_get_function_result: 'TABLE(side text, ...)', 'bigint'
    reads_only: bool = False  # declared STABLE or IMMUTABLE (READS_ONLY): may run on a read replica

    @property
    def inputs(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.mode in "ibv")

    @property
    def columns(self) -> tuple[Arg, ...]:
        """What a call gives back by name: TABLE columns and OUT (or INOUT) arguments."""
        return tuple(a for a in self.args if a.mode in "obt")

    @property
    def shape(self) -> str:
        """How a call's result comes back: 'call' (a procedure: its OUT values), 'rows' (list of dicts), 'row'
        (one dict), 'values' (list of scalars) or 'value' (one scalar; None for void). A set-returning function
        declared `ROWS 1` (suggest_threshold, ...) gives one row: its row, or None when it returns none."""
        if self.kind == "p":
            return "call"
        if self.columns or (self.returns is not None and self.returns.composite):
            return "row" if not self.returns_set or self.rows == 1 else "rows"
        return "values" if self.returns_set else "value"

    @property
    def summary(self) -> str | None:
        """The first line of the comment."""
        return self.comment.strip().splitlines()[0] if self.comment and self.comment.strip() else None

    def described(self) -> dict[str, str]:
        """Each argument's line of the comment, by name. Comments list them as "name: meaning", a longer one going
        on in lines indented by two spaces (sql/src/comments.sql)."""
        names, out, current = {a.name for a in self.args}, {}, None
        for line in (self.comment or "").splitlines()[1:]:
            if line.startswith("  ") and current:
                out[current] += " " + line.strip()
                continue
            name, sep, text = line.partition(": ")
            current = name if sep and name in names else None
            if current:
                out[current] = text.strip()
        return out

    @property
    def sql(self) -> str:
        return f"{SCHEMA}.{self.name}({self.signature})" + (f" RETURNS {self.result}" if self.kind == "f" else "")


@dataclass(frozen=True)
class Catalog:
    functions: dict[str, tuple[Function, ...]]  # by name; overloads in a stable order

    def public(self) -> Iterator[str]:
        """Names of the public API: every function not starting with '_' whose inputs all have names (SQL cannot
        take an unnamed argument by name, and named notation is what lets defaults be left out)."""
        for name, fns in self.functions.items():
            if not name.startswith("_") and all(a.name for f in fns for a in f.inputs):
                yield name

    def overloads(self, name: str) -> tuple[Function, ...]:
        try:
            return self.functions[name]
        except KeyError:
            raise AttributeError(f"there is no SQL function {SCHEMA}.{name}") from None


def _domain_values(checks: list[str]) -> tuple[str, ...]:
    for check in checks:
        m = _IN_LIST.match(check)
        if m:
            return tuple(v.replace("''", "'") for v in _LITERAL.findall(m.group(1)))
    return ()


def _types(conn: psycopg.Connection, oids: set[int]) -> dict[int, SqlType]:
    out = {}
    for oid, qualified, display, is_array, base, composite, labels, checks in conn.execute(_TYPES, (sorted(oids),)):
        suffix = "[]" if is_array else ""
        values = tuple(labels) or _domain_values(checks)
        out[oid] = SqlType(qualified + suffix, display + suffix, base, is_array, composite, values)
    return out


def load(conn: psycopg.Connection, schema: str = SCHEMA) -> Catalog:
    """Read every function and procedure of `schema` (public or not: `Client.call` reaches both)."""
    rows = conn.execute(_FUNCTIONS, (schema,)).fetchall()
    types = _types(conn, {t for r in rows for t in (r[6], *r[7])})
    functions: dict[str, list[Function]] = {}
    for row in rows:
        _oid, name, kind, reads_only, retset, nrows, rettype, argtypes, modes, names, defaults, comment = row[:12]
        signature, result = row[12:]
        modes = modes or ["i"] * len(argtypes)
        names = names or [""] * len(argtypes)
        args = tuple(Arg(n, types[t], m, d) for t, m, n, d in zip(argtypes, modes, names, defaults, strict=True))
        returns = types[rettype] if kind == "f" else None
        fn = Function(name, kind, args, returns, retset, nrows, comment, signature, result, reads_only)
        functions.setdefault(name, []).append(fn)
    return Catalog({k: tuple(v) for k, v in functions.items()})
