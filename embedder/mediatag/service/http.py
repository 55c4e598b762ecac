"""Loopback HTTP API of the embedding service.

GET  /health                     → {"status": "ok", "loaded": [...], "worker": bool}
POST /embed/text  {"texts": [...], "model": name} → {"model", "dim", "vectors"}
     A visual model name embeds prompts into that model's image space; a text model name embeds transcripts.
POST /embed/image {"paths": [...], "model": name} → {"model", "dim", "vectors"}
POST /llm/suggest {"group", "tag", "existing", "per_list"} → {"suggestions", "source", "warning"} (docs/llm.md)
Errors come back as {"error": "..."} with status 400 (bad request) or 500.
"""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..llm.routes import suggest_request
from ..media import MediaError, load_image
from ..models.registry import get_text_encoder, get_visual_encoder, is_visual_model, loaded_models

log = logging.getLogger("mediatag.service")
MAX_BODY = 32 << 20


def embed_text_request(body: dict[str, Any]) -> dict[str, Any]:
    texts, model = body.get("texts"), body.get("model")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError('"texts" must be a list of strings')
    if not isinstance(model, str) or not model:
        raise ValueError('"model" must name a model (see `mediatag models`)')
    enc = get_visual_encoder(model) if is_visual_model(model) else get_text_encoder(model)
    vecs = enc.embed_texts(texts) if texts else []
    return {"model": enc.name, "dim": enc.dim, "vectors": [v.tolist() for v in vecs]}


def embed_image_request(body: dict[str, Any]) -> dict[str, Any]:
    paths, model = body.get("paths"), body.get("model")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError('"paths" must be a list of image file paths')
    if not isinstance(model, str) or not is_visual_model(model):
        raise ValueError(f'"model" must name a visual model, got {model!r}')
    enc = get_visual_encoder(model)
    images = [load_image(Path(p)) for p in paths]
    vecs = enc.embed_images(images) if images else []
    return {"model": enc.name, "dim": enc.dim, "vectors": [v.tolist() for v in vecs]}


class Handler(BaseHTTPRequestHandler):
    server_version = "mediatag"
    worker_alive = staticmethod(lambda: False)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 — the stdlib's handler naming
        if self.path in ("/health", "/"):
            self._reply(200, {"status": "ok", "loaded": loaded_models(), "worker": self.worker_alive()})
        else:
            self._reply(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        routes = {"/embed/text": embed_text_request, "/embed/image": embed_image_request,
                  "/llm/suggest": suggest_request}
        handler = routes.get(self.path)
        if handler is None:
            self._reply(404, {"error": f"no such endpoint {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": "request too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            self._reply(200, handler(body))
        except (ValueError, KeyError, MediaError) as e:
            self._reply(400, {"error": str(e)})
        except Exception as e:  # noqa: BLE001 — the client gets the reason instead of a dropped connection
            log.exception("embedding failed")
            self._reply(500, {"error": f"{type(e).__name__}: {e}"})


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
