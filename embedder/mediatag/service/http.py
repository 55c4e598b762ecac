"""Loopback HTTP API of the embedding service.

GET  /health                     → {"status": "ok", "loaded": [...], "worker": bool}
POST /embed/text  {"texts": [...], "model": name} → {"model", "dim", "vectors"}
     A visual model name embeds prompts into that model's image space; a text model name embeds transcripts.
POST /embed/image {"paths": [...], "model": name} → {"model", "dim", "vectors"}
POST /faces/detect {"paths": [...]} → {"faces": [[{"x", "y", "w", "h", "quality", "descriptor"}, ...], ...]}
     Per path, its faces largest first (dlib, as ingest finds them; docs/people.md).
POST /llm/suggest {"group", "tag", "existing", "per_list"} → {"suggestions", "source", "warning"} (docs/llm.md)
Errors come back as {"error": "..."} with status 400 (bad request), 401/403 (token, Host), 408 (the body did not
arrive in time), 413 (too large), 429 (the caller's pixel rate; with Retry-After) or 500.

Only the database server and the project's own processes should reach this: every request carries the shared
token (`Authorization: Bearer …`, generated at `mediatag serve` and handed to the database with
mediatag.set_service); the Host header must name a loopback address (a web page cannot reach it by DNS
rebinding); bodies, texts, paths and image pixels are capped (per image, per request and per caller and second:
the database names the calling role in X-Mediatag-Caller, believed only because the request carries the token);
images are read only under the configured media roots; only configured model names load.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..llm.routes import suggest_request
from ..media import MediaError, load_image
from ..media.images import pillow_pixel_limit
from ..models.registry import get_text_encoder, get_visual_encoder, is_visual_model, list_models, loaded_models

log = logging.getLogger("mediatag.service")
MAX_BODY = 32 << 20
MAX_TEXTS = 512
MAX_TEXT_CHARS = 8192
MAX_PATHS = 64
MAX_IMAGE_PIXELS = int(os.environ.get("MEDIATAG_MAX_IMAGE_PIXELS", 80_000_000))
# Decoded images of one request are held together (~3 bytes a pixel): the per-image cap times 64 paths would be
# ~16 GB, so the sum is capped too, from the files' headers before any pixel is decoded.
MAX_REQUEST_PIXELS = int(os.environ.get("MEDIATAG_MAX_REQUEST_PIXELS", 2 * MAX_IMAGE_PIXELS))
# Each caller (database role) may have this many pixels decoded a second, in bursts of one full request; 0 = no limit.
CALLER_PIXEL_RATE = float(os.environ.get("MEDIATAG_CALLER_PIXEL_RATE", 50_000_000))
# Seconds a client may take to send its body once the headers are in: a stalled one gets 408, not a held thread.
BODY_TIMEOUT = float(os.environ.get("MEDIATAG_BODY_TIMEOUT", 5))


class Refused(Exception):
    """A well-formed request over one of the service's limits: its HTTP status (413, 429) and, for 429, the
    seconds after which the same request would pass."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ServiceConfig:
    """What the service accepts. An empty token (tests of the raw handlers only) accepts no request at all."""

    token: str
    media_roots: list[Path] = field(default_factory=list)
    extra_models: set[str] = field(default_factory=set)

    def allowed_models(self) -> set[str]:
        names = {m.name for m in list_models()} | self.extra_models
        names |= {n.strip() for n in os.environ.get("MEDIATAG_ALLOWED_MODELS", "").split(",") if n.strip()}
        return names

    def check_model(self, model: object) -> str:
        if not isinstance(model, str) or not model:
            raise ValueError('"model" must name a model (see `mediatag models`)')
        if model not in self.allowed_models():
            raise ValueError(
                f"model {model[:80]!r} is not configured on this service (see `mediatag models`; "
                "MEDIATAG_ALLOWED_MODELS adds more)"
            )
        return model

    def check_path(self, raw: str) -> Path:
        path = Path(raw).resolve()
        if not any(path.is_relative_to(root.resolve()) for root in self.media_roots):
            raise ValueError(f"{raw[:200]!r} is outside the service's media roots (MEDIATAG_MEDIA_ROOTS)")
        return path


def default_media_roots() -> list[Path]:
    """MEDIATAG_MEDIA_ROOTS (separated by the OS path separator), else the keyframe folder the ingester writes."""
    from ..cluster import project_root

    configured = [Path(p) for p in os.environ.get("MEDIATAG_MEDIA_ROOTS", "").split(os.pathsep) if p]
    return configured or [Path(os.environ.get("MEDIATAG_MEDIA_DIR", project_root() / ".mediatag" / "media"))]


def _header_pixels(path: Path) -> int:
    """The pixels decoding `path` would produce, read from its header alone; MediaError over MAX_IMAGE_PIXELS."""
    from PIL import Image

    too_many = f"more than {MAX_IMAGE_PIXELS} pixels (MEDIATAG_MAX_IMAGE_PIXELS); refused from its header"
    try:
        with pillow_pixel_limit(MAX_IMAGE_PIXELS), Image.open(path) as img:
            w, h = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard fired first (its limit sits above ours, or warnings are errors): the same refusal.
        raise MediaError(path, too_many) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MediaError(path, f"not a readable image ({type(e).__name__})") from e
    if w * h > MAX_IMAGE_PIXELS:
        raise MediaError(path, f"{w}x{h} is {too_many}")
    return w * h


class _PixelBuckets:
    """A token bucket of pixels per caller: `rate` a second, holding at most `burst` (one full request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # caller → (pixels left, when counted)

    def take(self, caller: str, pixels: int, rate: float, burst: float) -> float:
        """0 after charging `pixels` to `caller`; else the seconds until they would be there (nothing charged)."""
        now = time.monotonic()
        with self._lock:
            left, then = self._buckets.get(caller, (burst, now))
            left = min(burst, left + (now - then) * rate)
            wait = max(0.0, (pixels - left) / rate)
            self._buckets[caller] = (left if wait else left - pixels, now)
            if len(self._buckets) > 4096:  # a full bucket is what a new caller gets: forget those
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] + (now - v[1]) * rate < burst}
            return wait


_caller_pixels = _PixelBuckets()


def _charge_pixels(caller: str, pixels: int) -> None:
    """Refuse (413, 429) a request whose images would decode to too many pixels, before any is decoded."""
    if pixels > MAX_REQUEST_PIXELS:
        raise Refused(
            413,
            f"the images hold {pixels} pixels together, more than the {MAX_REQUEST_PIXELS} allowed per request "
            "(MEDIATAG_MAX_REQUEST_PIXELS): send fewer or smaller images per call",
        )
    if CALLER_PIXEL_RATE > 0:
        wait = _caller_pixels.take(caller, pixels, CALLER_PIXEL_RATE, MAX_REQUEST_PIXELS)
        if wait:
            raise Refused(
                429,
                f"{caller or 'this client'} is over its rate of {CALLER_PIXEL_RATE:g} image pixels a second "
                f"(MEDIATAG_CALLER_PIXEL_RATE): try again in {math.ceil(wait)} s",
                retry_after=wait,
            )


def embed_text_request(body: dict[str, Any], config: ServiceConfig) -> dict[str, Any]:
    texts, model = body.get("texts"), config.check_model(body.get("model"))
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError('"texts" must be a list of strings')
    if len(texts) > MAX_TEXTS or any(len(t) > MAX_TEXT_CHARS for t in texts):
        raise ValueError(f"at most {MAX_TEXTS} texts of at most {MAX_TEXT_CHARS} characters per request")
    enc = get_visual_encoder(model) if is_visual_model(model) else get_text_encoder(model)
    vecs = enc.embed_texts(texts) if texts else []
    return {"model": enc.name, "dim": enc.dim, "vectors": [v.tolist() for v in vecs]}


def embed_image_request(body: dict[str, Any], config: ServiceConfig, caller: str = "") -> dict[str, Any]:
    paths, model = body.get("paths"), config.check_model(body.get("model"))
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError('"paths" must be a list of image file paths')
    if len(paths) > MAX_PATHS:
        raise ValueError(f"at most {MAX_PATHS} images per request")
    if not is_visual_model(model):
        raise ValueError(f'"model" must name a visual model, got {model!r}')
    files = [config.check_path(p) for p in paths]
    _charge_pixels(caller, sum(_header_pixels(p) for p in files))
    enc = get_visual_encoder(model)
    # The cap again while decoding: a file swapped since its header was read is still refused.
    images = [load_image(p, max_pixels=MAX_IMAGE_PIXELS) for p in files]
    vecs = enc.embed_images(images) if images else []
    return {"model": enc.name, "dim": enc.dim, "vectors": [v.tolist() for v in vecs]}


def faces_request(body: dict[str, Any], config: ServiceConfig, caller: str = "") -> dict[str, Any]:
    """The faces of image files under the media roots (mediatag.photo_faces): the same caps as /embed/image."""
    from ..faces.photos import photo_faces

    paths = body.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError('"paths" must be a list of image file paths')
    if len(paths) > MAX_PATHS:
        raise ValueError(f"at most {MAX_PATHS} images per request")
    files = [config.check_path(p) for p in paths]
    _charge_pixels(caller, sum(_header_pixels(p) for p in files))
    try:
        found = [photo_faces(p, max_pixels=MAX_IMAGE_PIXELS) for p in files]
    except (FileNotFoundError, RuntimeError) as e:
        raise ValueError(str(e)) from e
    return {
        "faces": [
            [
                {
                    "x": f.box[0],
                    "y": f.box[1],
                    "w": f.box[2],
                    "h": f.box[3],
                    "quality": f.quality,
                    "descriptor": f.descriptor.tolist(),
                }
                for f in faces
            ]  # fmt: skip
            for faces in found
        ]
    }


_LOOPBACK_NAMES = {"localhost", "localhost."}
_HOST_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?$")


def _loopback_host(host: str | None) -> bool:
    m = _HOST_RE.match(host or "")
    if not m:
        return False
    name = m.group(1).strip("[]")
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Handler(BaseHTTPRequestHandler):
    server_version = "mediatag"
    worker_alive = staticmethod(lambda: False)
    config = ServiceConfig(token="")
    timeout = 30  # seconds a client may take to send its request line and headers (BODY_TIMEOUT for the body)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Mediatag-Service", "1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _admitted(self) -> bool:
        if not _loopback_host(self.headers.get("Host")):
            self._reply(403, {"error": "the Host header must name a loopback address"})
            return False
        sent = self.headers.get("Authorization", "")
        expected = f"Bearer {self.config.token}"
        if not self.config.token or not hmac.compare_digest(sent.encode(), expected.encode()):
            self._reply(401, {"error": "missing or wrong service token"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 — the stdlib's handler naming
        if not self._admitted():
            return
        if self.path in ("/health", "/"):
            self._reply(200, {"status": "ok", "loaded": loaded_models(), "worker": self.worker_alive()})
        else:
            self._reply(404, {"error": f"no such endpoint {self.path}"})

    def _caller(self) -> str:
        """The database role the request is for (X-Mediatag-Caller, percent-encoded by the database): trusted
        only because _admitted has seen the service token, which only the database and the operator hold."""
        return unquote(self.headers.get("X-Mediatag-Caller", ""))[:200]

    def _refuse_body(self, status: int, error: str) -> None:
        # Whatever is left of the body is unread, so the connection cannot carry another request.
        self.close_connection = True
        self._reply(status, {"error": error})

    def _read_body(self) -> bytes | None:
        """The body, at most MAX_BODY bytes whatever the headers claim, within BODY_TIMEOUT seconds; None after
        replying with the error."""
        if self.headers.get("Transfer-Encoding"):
            self._refuse_body(411, "send a Content-Length, not a chunked body")
            return None
        values = self.headers.get_all("Content-Length") or []
        raw = values[0].strip(" \t") if len(values) == 1 else ""
        # isdigit() alone lets "²" through, which int() then rejects: only ASCII digits are a length.
        if not (raw.isascii() and raw.isdigit()):
            shown = f"got {values[0][:40]!r}" if len(values) == 1 else f"got {len(values)} of them"
            self._refuse_body(400, f"Content-Length must be one number in ASCII digits ({shown})")
            return None
        significant = raw.lstrip("0")
        # Compare the digits' count first: int() of thousands of digits is slow, and refused past 4,300.
        if len(significant) > len(str(MAX_BODY)) or int(significant or "0") > MAX_BODY:
            self._refuse_body(413, f"request too large: Content-Length {raw[:40]} is over {MAX_BODY} bytes")
            return None
        length = int(significant or "0")
        data = bytearray()
        deadline = time.monotonic() + BODY_TIMEOUT
        try:
            while len(data) < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(length - len(data))
                if not chunk:  # the client closed (or half-closed) its side
                    self._refuse_body(400, f"body shorter than Content-Length: got {len(data)} of {length} bytes")
                    return None
                data += chunk
        except TimeoutError:
            self._refuse_body(
                408,
                f"body not sent in time: got {len(data)} of {length} bytes in {BODY_TIMEOUT:g} s "
                "(MEDIATAG_BODY_TIMEOUT)",
            )
            return None
        finally:
            self.connection.settimeout(self.timeout)
        return bytes(data)

    def do_POST(self) -> None:  # noqa: N802
        routes: dict[str, Callable[[dict[str, Any], ServiceConfig], dict[str, Any]]] = {
            "/embed/text": embed_text_request,
            "/embed/image": lambda body, config: embed_image_request(body, config, self._caller()),
            "/faces/detect": lambda body, config: faces_request(body, config, self._caller()),
            "/llm/suggest": lambda body, _config: suggest_request(body),
        }
        if not self._admitted():
            return
        handler = routes.get(self.path)
        if handler is None:
            self._reply(404, {"error": f"no such endpoint {self.path}"})
            return
        data = self._read_body()
        if data is None:
            return
        try:
            body = json.loads(data or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            self._reply(200, handler(body, self.config))
        except Refused as e:
            retry = {"Retry-After": str(math.ceil(e.retry_after))} if e.retry_after is not None else None
            self._reply(e.status, {"error": str(e)}, retry)
        except (ValueError, KeyError, MediaError) as e:
            self._reply(400, {"error": str(e)})
        except Exception as e:  # noqa: BLE001 — the client gets the reason instead of a dropped connection
            log.exception("embedding failed")
            self._reply(500, {"error": f"{type(e).__name__}: {e}"})


def make_server(host: str, port: int, config: ServiceConfig) -> ThreadingHTTPServer:
    """A server whose handlers accept what `config` allows (each server its own handler class)."""
    handler = type("ConfiguredHandler", (Handler,), {"config": config})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def new_token() -> str:
    return secrets.token_urlsafe(32)


def register_with_database(conn: Any, url: str, token: str) -> None:
    """Point the database at this service (an admin's action: mediatag.set_service checks it)."""
    conn.execute("SELECT mediatag.set_service(%s, %s)", (url, token))
    if not getattr(conn, "autocommit", True):
        conn.commit()


def serve_in_background(
    conn: Any, host: str = "127.0.0.1", port: int = 0, media_roots: list[Path] | None = None
) -> tuple[ThreadingHTTPServer, str, str]:
    """The service on a daemon thread (tests, demo, benchmarks), registered in the database behind `conn`.

    Returns the server, its URL and its token.
    """
    token = new_token()
    roots = media_roots if media_roots is not None else default_media_roots()
    server = make_server(host, port, ServiceConfig(token=token, media_roots=roots))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True, name="mediatag-service").start()
    register_with_database(conn, url, token)
    return server, url, token
