-- Text → vector through the embedding service (`mediatag serve`) on loopback HTTP. The models live in that
-- one process; Postgres never loads torch.

CREATE OR REPLACE FUNCTION mediatag.service_url() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('mediatag.service_url', true), ''), 'http://127.0.0.1:8765')
$$;

CREATE OR REPLACE FUNCTION mediatag.embed_texts(texts text[], model text) RETURNS SETOF vector
LANGUAGE plpython3u AS $$
import json
import urllib.error
import urllib.request

url = plpy.execute("SELECT mediatag.service_url() AS u")[0]["u"]
body = json.dumps({"texts": list(texts or []), "model": model}).encode()
req = urllib.request.Request(url + "/embed/text", data=body, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=120) as resp:
        out = json.loads(resp.read())
except urllib.error.HTTPError as e:
    detail = e.read().decode(errors="replace")
    try:
        detail = json.loads(detail).get("error", detail)
    except ValueError:
        pass
    plpy.error(f"mediatag embedding service at {url} refused the request: {detail}")
except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
    plpy.error(f"mediatag embedding service is not running at {url} ({getattr(e, 'reason', e)})",
               hint="start it with `mediatag serve` (or set mediatag.service_url to where it runs)")
return ["[" + ",".join(repr(float(x)) for x in v) + "]" for v in out["vectors"]]
$$;

CREATE OR REPLACE FUNCTION mediatag.embed_text(text text, model text) RETURNS vector
LANGUAGE sql AS $$
    SELECT v FROM mediatag.embed_texts(ARRAY[text], model) AS v
$$;
