"""Builds the Datasette app with this plugin registered, for `mediatag ui` and the browser tests."""

from __future__ import annotations

import sys

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .sessions import PLUGIN


def login_url_for(database_url: str) -> str:
    """The database URL without its user and password, over TCP: people log in with their own PostgreSQL login.

    A socket host (the embedded cluster's peer-authenticated socket) becomes 127.0.0.1, where the embedded cluster
    asks for scram passwords.
    """
    d = conninfo_to_dict(database_url)
    for k in ("user", "password", "passfile"):
        d.pop(k, None)
    if not d.get("host") or str(d["host"]).startswith("/"):
        d["host"] = "127.0.0.1"
    return make_conninfo(**d)


def register_plugin() -> None:
    from datasette.plugins import pm

    module = sys.modules[__package__]
    if not pm.is_registered(module) and pm.get_plugin(PLUGIN) is None:
        pm.register(module, name=PLUGIN)


def make_datasette(
    login_url: str | None,
    local_url: str | None = None,
    thumb_dir: str | None = None,
    upload_dir: str | None = None,
    query_url: str | None = None,
    allowed_hosts: list[str] | None = None,
    read_url: str | None = None,
    reel_dir: str | None = None,
):
    """A Datasette whose /mediatag/ pages talk to PostgreSQL; `local_url` lets visitors without a login act as it
    (never a superuser), `query_url` is the mediatag_query login the Query page runs as.

    `read_url` (like `login_url`, without a login) is a streaming replica: each person's calls of STABLE functions
    read from it as their own login (sessions.py); give a `query_url` on the replica too to run the Query page there.

    `upload_dir` holds uploaded example images; it must lie under the embedding service's media roots.
    `allowed_hosts` are the Host names served besides the address the connection reached (see hosts.py).
    `reel_dir` caches the reels the asset page cuts (default: beside the thumbnails' cache)."""
    from datasette.app import Datasette

    register_plugin()
    cfg = {
        "login_url": login_url,
        "local_url": local_url,
        "query_url": query_url,
        "thumb_dir": thumb_dir,
        "upload_dir": upload_dir,
        "allowed_hosts": allowed_hosts,
        "read_url": read_url,
        "reel_dir": reel_dir,
    }
    return Datasette(
        metadata={"title": "mediatag", "plugins": {PLUGIN: {k: v for k, v in cfg.items() if v}}},
        settings={"default_page_size": 50},
    )


def serve(app, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app.app(), host=host, port=port, log_level="warning")
