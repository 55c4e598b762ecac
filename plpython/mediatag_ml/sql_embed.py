"""The PL/Python body of sql/src/embed.sql: the one way the server reaches out, a JSON POST to the embedding
service (mediatag._service_post).

Standard library only, like sql_ui: every session that embeds a search query comes here, and importing numpy and
scipy (what the ML modules need) would add seconds to its first query.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .plpy_support import Plpy

# Where the service is, its token and who calls (mediatag.set_service() sets the first two).
SETTINGS_SQL = "SELECT mediatag.service_url() AS u, mediatag._service_token() AS t, mediatag._caller() AS who"
# The most a reply may hold (the service's replies are vectors: far smaller).
MAX_REPLY = 64 << 20
# What is kept of an error reply's body and of its "error" message.
MAX_ERROR_BODY = 4096
MAX_ERROR_MESSAGE = 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the service does not send one, and following it could reach any other server."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    """Only the http(s) handlers: no file://, ftp:// or data: opener exists in this process, and no proxy from the
    server's environment is used."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        _NoRedirect(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        opener.add_handler(handler)
    return opener


def service_post(plpy: Plpy, path: str, body: str, timeout_s: int) -> str:
    """mediatag._service_post: POST the JSON `body` to the service's `path` and return its JSON reply as text.
    Errors name the service's own short message and never echo what another server answered."""
    row = plpy.execute(SETTINGS_SQL)[0]
    url, token = row["u"], row["t"]
    if not url.startswith(("http://", "https://")):
        plpy.error(
            "mediatag embedding service URL must be http(s)", hint="an admin sets it with mediatag.set_service()"
        )
    # The calling login, for the service's per-caller pixel rate (it believes this because the token comes with it);
    # percent-encoded, as a role name may hold characters no header can.
    headers = {"Content-Type": "application/json", "X-Mediatag-Caller": urllib.parse.quote(row["who"], safe="")}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url + path, data=body.encode(), headers=headers)
    try:
        with _opener().open(req, timeout=timeout_s) as resp:
            out = resp.read(MAX_REPLY)
        json.loads(out)
        return out.decode()
    except urllib.error.HTTPError as e:
        # Our service says what was wrong in a short JSON "error"; anything else stays out of the message.
        detail = f"HTTP {e.code}"
        if e.headers.get("X-Mediatag-Service") == "1":
            try:
                detail = str(json.loads(e.read(MAX_ERROR_BODY)).get("error", detail))[:MAX_ERROR_MESSAGE]
            except ValueError:
                pass
        # Over the service's size or rate limits (413, 429: its message names the limit) is program_limit_exceeded.
        limit = {"sqlstate": "54000"} if e.code in (413, 429) else {}
        plpy.error(f"mediatag embedding service at {url} refused {path}: {detail}", **limit)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        plpy.error(
            f"mediatag embedding service is not running at {url} ({type(getattr(e, 'reason', e)).__name__})",
            hint="start it with `mediatag serve` (an admin points the database at it with mediatag.set_service())",
        )
    except ValueError:
        plpy.error(f"mediatag embedding service at {url} sent a reply that is not JSON")
