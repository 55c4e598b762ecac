"""A local server on loopback speaking the OpenAI transcription protocol (POST /v1/audio/transcriptions,
multipart with a WAV `file` and `model`), for the endpoint engine's tests. Each request gets the next Reply of the
test's script (the last one repeats); the default answer is verbose_json with one segment per request, naming
the request's number and the audio's length, so a test can check what was sent and where it landed."""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: the default verbose_json answer
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    model: str
    audio_seconds: float
    authorization: str | None


class ASRServer:
    def __init__(self) -> None:
        self.script: list[Reply] = [Reply()]
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                msg = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw
                )
                parts = {
                    p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                    for p in msg.iter_parts()
                }
                with wave.open(io.BytesIO(parts["file"])) as w:
                    seconds = w.getnframes() / w.getframerate()
                n = len(server.requests)
                server.requests.append(Seen(parts["model"].decode(), seconds, self.headers.get("Authorization")))
                reply = server.script[min(n, len(server.script) - 1)]
                time.sleep(reply.delay)
                body = (
                    reply.body
                    if reply.body is not None
                    else {
                        "text": f"request {n}",
                        "language": "english",
                        "segments": [{"start": 0.1, "end": round(seconds - 0.1, 2), "text": f" request {n} heard"}],
                    }
                )
                data = (json.dumps(body) if not isinstance(body, str) else body).encode()
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ASRServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
