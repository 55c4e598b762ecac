"""CSRF for multipart (file upload) forms.

Datasette's asgi-csrf 0.11 checks a multipart form's `csrftoken` field with a python-multipart API that
python-multipart 0.0.26 removed (simonw/asgi-csrf#38; 0.0.26 fixed CVE-2026-40347, so the old one is no way out):
every multipart POST crashes in it. This ASGI wrapper, outside asgi-csrf, does the part that broke: it reads a
multipart body up to its `csrftoken` field (refusing a file that comes before it, as asgi-csrf does), checks it
against the browser's signed `ds_csrftoken` cookie itself, and hands it on in the `x-csrftoken` header, where
asgi-csrf checks it again as for any fetch() call (a token that failed there would send asgi-csrf on to its
broken multipart parser, so nothing but a good token reaches it).
What was read is replayed to the app, so the view reads the whole body as sent. Only /mediatag/ paths are
touched; a request that already has the header passes as it is.
"""

from __future__ import annotations

import secrets
from http.cookies import CookieError, SimpleCookie

from python_multipart.multipart import MultipartParser, parse_options_header

HEADER = b"x-csrftoken"
FIELD = b"csrftoken"
COOKIE = "ds_csrftoken"  # Datasette's name for asgi-csrf's cookie
NAMESPACE = "csrftoken"  # asgi-csrf's signing namespace


class _Found(Exception):
    pass


class _FileFirst(Exception):
    pass


async def _forbid(send, message: str) -> None:
    await send({"type": "http.response.start", "status": 403, "headers": [[b"content-type", b"text/plain"]]})
    await send({"type": "http.response.body", "body": message.encode()})


def _token_finder(boundary: bytes) -> MultipartParser:
    part = {"name": None, "file": False, "field": b"", "value": b"", "data": b""}

    def header_field(data, start, end):
        part["field"] += data[start:end]

    def header_value(data, start, end):
        part["value"] += data[start:end]

    def header_end():
        if part["field"].lower() == b"content-disposition":
            _, opts = parse_options_header(part["value"])
            part["name"], part["file"] = opts.get(b"name"), b"filename" in opts
        part["field"], part["value"] = b"", b""

    def headers_finished():
        if part["file"]:
            raise _FileFirst

    def part_data(data, start, end):
        if part["name"] == FIELD:
            part["data"] += data[start:end]

    def part_end():
        if part["name"] == FIELD:
            raise _Found(part["data"].decode("latin-1"))
        part.update(name=None, file=False, data=b"")

    return MultipartParser(
        boundary,
        {
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": part_data,
            "on_part_end": part_end,
        },
    )


def _cookie(headers: dict) -> str | None:
    try:
        jar = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
    except CookieError:
        return None
    return jar[COOKIE].value if COOKIE in jar else None


def _good_token(datasette, token: str, cookie: str | None) -> bool:
    if not cookie or not secrets.compare_digest(token.encode(), cookie.encode()):
        return False
    try:
        datasette.unsign(cookie, NAMESPACE)
    except Exception:  # itsdangerous.BadSignature: a forged or stale cookie
        return False
    return True


def wrap(app, datasette):
    async def wrapped(scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or not scope["path"].startswith("/mediatag/"):
            return await app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"")
        if not ctype.startswith(b"multipart/form-data") or HEADER in headers:
            return await app(scope, receive, send)
        _, opts = parse_options_header(ctype)
        boundary = opts.get(b"boundary")
        if not boundary:
            return await _forbid(send, "multipart form without a boundary")
        parser, seen, token = _token_finder(boundary), [], None
        try:
            more = True
            while more:
                message = await receive()
                seen.append(message)
                parser.write(message.get("body", b""))
                more = message.get("more_body", False)
        except _Found as found:
            token = found.args[0]
        except _FileFirst:
            return await _forbid(send, "CSRF check failed: the form's csrftoken must come before its files")
        except Exception as e:  # a malformed body
            return await _forbid(send, f"CSRF check failed: the form could not be read ({type(e).__name__})")
        if token is None:
            return await _forbid(send, "CSRF check failed: the form has no csrftoken field")
        if not _good_token(datasette, token, _cookie(headers)):
            return await _forbid(send, "CSRF check failed: the form's csrftoken does not match this browser's")

        async def replay():
            return seen.pop(0) if seen else await receive()

        scope = {**scope, "headers": [*scope.get("headers", []), (HEADER, token.encode("latin-1"))]}
        return await app(scope, replay, send)

    return wrapped
