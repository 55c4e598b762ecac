"""A stand-in embedding service for benchmarks on synthetic vectors: it speaks the service's real protocol
(POST /embed/text) and returns deterministic unit vectors in the synthetic space, so SQL training and scoring
run exactly as in production without a model. Benchmarks only; tests use the real service."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def text_vector(text: str, dim: int, basis: np.ndarray | None = None) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(basis.shape[0] if basis is not None else dim)
    if basis is not None:
        v = v @ basis
    return (v / np.linalg.norm(v)).astype(np.float32)


def start(dim_by_model: dict[str, int], basis_by_model: dict[str, np.ndarray] | None = None) -> tuple[str, callable]:
    bases = basis_by_model or {}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = body["model"]
            vecs = [text_vector(t, dim_by_model[model], bases.get(model)).tolist() for t in body["texts"]]
            data = json.dumps({"model": model, "dim": dim_by_model[model], "vectors": vecs}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server.shutdown
