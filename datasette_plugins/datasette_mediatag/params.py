"""Reading a request's parameters: query-string arguments and JSON bodies, checked, with the UI's messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from datasette.utils.asgi import Request
from psycopg.types.json import Jsonb

from .base import UIError


def arg(request: Request, name: str, required: bool = True) -> str | None:
    v = request.args.get(name)
    if v is None or v.strip() == "":
        if required:
            raise UIError(f"missing parameter {name!r}")
        return None
    return v


def text(name: str) -> Callable[[Request], str | None]:
    """A reader of required argument `name`, for base.rows_api."""
    return lambda request: arg(request, name)


def whole(name: str, default: int) -> Callable[[Request], int | None]:
    """A reader of whole-number argument `name`, `default` when not given, for base.rows_api."""
    return lambda request: int_arg(request, name, default)


def int_arg(request: Request, name: str, default: int | None = None) -> int | None:
    v = request.args.get(name)
    if v in (None, ""):
        return default
    try:
        return int(v)
    except ValueError as e:
        raise UIError(f"parameter {name!r} must be a whole number, got {v!r}") from e


def id_arg(request: Request, name: str = "id") -> int:
    """A required whole-number argument (an asset's or an evaluation's id)."""
    v = int_arg(request, name)
    if v is None:
        raise UIError(f"missing parameter {name!r}")
    return v


def float_arg(request: Request, name: str) -> float | None:
    """A threshold: a number from 0 to 1, or None when not given."""
    v = request.args.get(name)
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except ValueError as e:
        raise UIError(f"parameter {name!r} must be a number, got {v!r}") from e
    if not 0 <= x <= 1:
        raise UIError(f"parameter {name!r} must be between 0 and 1, got {x}")
    return x


async def json_body(request: Request) -> dict:
    body = await request.post_body()
    try:
        data = json.loads(body or b"{}")
    except json.JSONDecodeError as e:
        raise UIError(f"request body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise UIError("request body must be a JSON object")
    return data


def need(data: dict, key: str, kind: type | tuple[type, ...] = str) -> Any:
    v = data.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise UIError(f"missing field {key!r}")
    if not isinstance(v, kind):
        raise UIError(f"field {key!r} has the wrong type")
    return v


def ids(data: dict, key: str = "keyframes") -> list[int]:
    v = data.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise UIError(f"field {key!r} must be a non-empty list of keyframe ids")
    return v


def json_text(text: str, message: str) -> Jsonb:
    """Typed JSON (a form's metadata) as a jsonb argument; text that is not JSON gets `message` and the parser's
    words. The database says what else is wrong with it (not an object, empty)."""
    try:
        return Jsonb(json.loads(text))
    except json.JSONDecodeError as e:
        raise UIError(f"{message}: {e}") from e
