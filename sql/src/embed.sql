-- Text → vector through the embedding service (`mediatag serve`) on loopback HTTP. The models live in that
-- one process; Postgres never loads torch. The service's URL and token are admin settings (access.sql); the
-- server never follows redirects, opens nothing but http(s), and does not echo what another server answered.

-- POST a JSON body to the service and return its JSON reply: the one way the server reaches out.
CREATE OR REPLACE FUNCTION mediatag._service_post(path text, body jsonb, timeout_s int DEFAULT 120) RETURNS jsonb
LANGUAGE plpython3u AS $$
import json
import urllib.error
import urllib.parse
import urllib.request

row = plpy.execute("SELECT mediatag.service_url() AS u, mediatag._service_token() AS t, mediatag._caller() AS who")[0]
url, token = row["u"], row["t"]
if not url.startswith(("http://", "https://")):
    plpy.error("mediatag embedding service URL must be http(s)", hint="an admin sets it with mediatag.set_service()")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# Only the http(s) handlers: no file://, ftp:// or data: opener exists in this process, and no proxy from the
# server's environment is used.
opener = urllib.request.OpenerDirector()
for h in (urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(), NoRedirect(),
          urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler()):
    opener.add_handler(h)
# The calling login, for the service's per-caller pixel rate (it believes this because the token comes with it);
# percent-encoded, as a role name may hold characters no header can.
headers = {"Content-Type": "application/json", "X-Mediatag-Caller": urllib.parse.quote(row["who"], safe="")}
if token:
    headers["Authorization"] = "Bearer " + token
req = urllib.request.Request(url + path, data=body.encode(), headers=headers)
try:
    with opener.open(req, timeout=timeout_s) as resp:
        out = resp.read(64 << 20)
    json.loads(out)
    return out.decode()
except urllib.error.HTTPError as e:
    # Our service says what was wrong in a short JSON "error"; anything else stays out of the message.
    detail = f"HTTP {e.code}"
    if e.headers.get("X-Mediatag-Service") == "1":
        try:
            detail = str(json.loads(e.read(4096)).get("error", detail))[:300]
        except ValueError:
            pass
    # Over the service's size or rate limits (413, 429: its message names the limit) is program_limit_exceeded.
    limit = {"sqlstate": "54000"} if e.code in (413, 429) else {}
    plpy.error(f"mediatag embedding service at {url} refused {path}: {detail}", **limit)
except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
    plpy.error(f"mediatag embedding service is not running at {url} ({type(getattr(e, 'reason', e)).__name__})",
               hint="start it with `mediatag serve` (an admin points the database at it with mediatag.set_service())")
except ValueError:
    plpy.error(f"mediatag embedding service at {url} sent a reply that is not JSON")
$$;

CREATE OR REPLACE FUNCTION mediatag.embed_texts(texts text[], model text) RETURNS SETOF vector
LANGUAGE sql AS $$
    SELECT v::text::vector
    FROM jsonb_array_elements(mediatag._service_post('/embed/text', jsonb_build_object(
             'texts', to_jsonb(coalesce(texts, '{}'::text[])), 'model', model)) -> 'vectors') WITH ORDINALITY AS x(v, i)
    ORDER BY i
$$;

CREATE OR REPLACE FUNCTION mediatag.embed_text(text text, model text) RETURNS vector
LANGUAGE sql AS $$
    SELECT v FROM mediatag.embed_texts(ARRAY[text], model) AS v
$$;
