"""Refuse a request whose `Host` header names no address this UI serves.

A web page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then read the UI as the same
origin; its requests still say `Host: that-site`. So a request is served only when its Host is the address the
connection reached (ASGI `server`: host and port; for a loopback address also `localhost`, `127.0.0.1` and
`[::1]`), or an entry of the plugin setting `allowed_hosts` (`mediatag ui --allowed-host`, env
`MEDIATAG_UI_ALLOWED_HOSTS`): the names a proxy in front of the UI passes on, `name` (any port) or `name:port`.
Everything else gets 400 with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

# A name or IPv4 address, or an IPv6 address in brackets; then an optional port.
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.\-]+?)\.?(?::([0-9]{1,5}))?$")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def parse(host: str) -> tuple[str, int | None] | None:
    """`host[:port]` in lower case without a trailing dot, or None when it is no host name at all."""
    m = _HOST.match(host.strip().lower())
    return (m.group(1), int(m.group(2)) if m.group(2) else None) if m else None


def _bracketed(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.strip("[]")).is_loopback
    except ValueError:
        return addr == "localhost"


def served(server: tuple[str, int | None] | None, extra: Iterable[str]) -> list[tuple[str, int | None]]:
    """Every (host, port) this UI answers to: `port` None in an extra entry means any port."""
    out = [p for p in (parse(e) for e in extra) if p]
    if server and server[1]:
        addr = _bracketed(server[0].lower())
        names = LOOPBACK_NAMES if _is_loopback(addr) else (addr,)
        out += [(n, server[1]) for n in names]
    return out


def allowed(host: str | None, scope: dict, extra: Iterable[str]) -> bool:
    p = parse(host or "")
    if p is None:
        return False
    # A browser leaves the scheme's default port out of Host.
    name, port = p[0], p[1] or (443 if scope.get("scheme") in ("https", "wss") else 80)
    return any(name == n and (want is None or port == want) for n, want in served(scope.get("server"), extra))


def wrap(app, extra: list[str]):
    async def checked(scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await app(scope, receive, send)  # lifespan: no request
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if allowed(host, scope, extra):
            return await app(scope, receive, send)
        served_list = ", ".join(f"{n}:{p}" if p else n for n, p in served(scope.get("server"), extra)) or "none"
        body = (
            f"Host {host!r} is not an address this mediatag UI serves (it serves {served_list}). Behind a proxy or "
            "under another name, add it with `mediatag ui --allowed-host NAME` or MEDIATAG_UI_ALLOWED_HOSTS.\n"
        )
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await send({"type": "http.response.start", "status": 400, "headers": [[b"content-type", b"text/plain"]]})
        await send({"type": "http.response.body", "body": body.encode()})

    return checked
