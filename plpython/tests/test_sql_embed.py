"""mediatag_ml.sql_embed: the body of mediatag._service_post, against a real HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_plpy import FakePlpy, PlpyError

from mediatag_ml import sql_embed

# path → (status, headers, body) the server answers with.
REPLIES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/embed/text": (200, {}, b'{"vectors": [[1, 2]]}'),
    "/moved": (302, {"Location": "/elsewhere"}, b""),
    "/elsewhere": (200, {}, b'{"secret": true}'),
    "/too-big": (413, {"X-Mediatag-Service": "1"}, b'{"error": "at most 40 MP per request"}'),
    "/long": (400, {"X-Mediatag-Service": "1"}, json.dumps({"error": "x" * 1000}).encode()),
    "/busy": (429, {"X-Mediatag-Service": "1"}, b"not json"),
    "/other": (500, {}, b'{"error": "what another server says"}'),
    "/garbage": (200, {}, b"<html>"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        status, headers, reply = REPLIES[self.path]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _plpy(url: str, token: str | None = "s3cret", who: str = "alice") -> FakePlpy:
    return FakePlpy({"mediatag.service_url()": [{"u": url, "t": token, "who": who}]})


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _post(server: ThreadingHTTPServer, path: str, **settings: str | None) -> str:
    server.requests.clear()  # type: ignore[attr-defined]
    return sql_embed.service_post(_plpy(_url(server), **settings), path, '{"texts": ["dog"]}', 5)


def test_posts_the_json_body_with_token_and_caller_and_returns_the_reply(server):
    assert json.loads(_post(server, "/embed/text", who="Ann Lee/ä")) == {"vectors": [[1, 2]]}
    ((path, headers, body),) = server.requests
    assert path == "/embed/text" and json.loads(body) == {"texts": ["dog"]}
    assert headers["Content-Type"] == "application/json" and headers["Authorization"] == "Bearer s3cret"
    assert headers["X-Mediatag-Caller"] == "Ann%20Lee%2F%C3%A4"  # any role name fits in a header


def test_no_token_sends_no_authorization(server):
    _post(server, "/embed/text", token=None)
    assert "Authorization" not in server.requests[0][1]


def test_a_redirect_is_not_followed(server):
    with pytest.raises(PlpyError, match="refused /moved: HTTP 302$"):
        _post(server, "/moved")
    assert [r[0] for r in server.requests] == ["/moved"]


def test_the_services_own_error_is_shown_and_limits_are_program_limit_exceeded(server):
    with pytest.raises(PlpyError, match="refused /too-big: at most 40 MP per request$") as e:
        _post(server, "/too-big")
    assert e.value.sqlstate == "54000"
    with pytest.raises(PlpyError, match="refused /busy: HTTP 429$") as e:  # its body was not JSON
        _post(server, "/busy")
    assert e.value.sqlstate == "54000"


def test_the_services_message_is_cut_short(server):
    with pytest.raises(PlpyError, match=f"refused /long: {'x' * sql_embed.MAX_ERROR_MESSAGE}$") as e:
        _post(server, "/long")
    assert e.value.sqlstate is None


def test_another_servers_words_stay_out_of_the_message(server):
    with pytest.raises(PlpyError, match="refused /other: HTTP 500$") as e:
        _post(server, "/other")
    assert e.value.sqlstate is None


def test_a_reply_that_is_not_json_is_an_error(server):
    with pytest.raises(PlpyError, match="sent a reply that is not JSON"):
        _post(server, "/garbage")


def test_a_service_that_is_not_running_says_how_to_start_it():
    with socket.socket() as s:  # a loopback port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PlpyError, match=rf"not running at http://127.0.0.1:{port} \(ConnectionRefusedError\)") as e:
        sql_embed.service_post(_plpy(f"http://127.0.0.1:{port}"), "/embed/text", "{}", 5)
    assert "mediatag serve" in e.value.hint


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", ""])
def test_only_http_urls(url):
    with pytest.raises(PlpyError, match=r"URL must be http\(s\)") as e:
        sql_embed.service_post(_plpy(url), "/embed/text", "{}", 5)
    assert "set_service" in e.value.hint


def test_embedding_a_query_imports_no_numpy():
    # A session whose only PL/Python is embedding search text must not spend seconds importing numpy and scipy.
    code = "import sys, mediatag_ml.sql_embed, mediatag_ml.sql_ui; print(sorted({'numpy', 'scipy'} & set(sys.modules)))"
    plpython = str(Path(sql_embed.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], cwd=plpython, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
