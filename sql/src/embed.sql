-- Text → vector through the embedding service (`mediatag serve`) on loopback HTTP. The models live in that
-- one process; Postgres never loads torch. The service's URL and token are admin settings (access.sql); the
-- server never follows redirects, opens nothing but http(s), and does not echo what another server answered.

-- POST a JSON body to the service and return its JSON reply: the one way the server reaches out.
CREATE OR REPLACE FUNCTION mediatag._service_post(path text, body jsonb, timeout_s int DEFAULT 120) RETURNS jsonb
LANGUAGE plpython3u AS $$
import sys; "@PYDIR@" in sys.path or sys.path.insert(0, "@PYDIR@")  # this extension version's package
from mediatag_ml import sql_embed
return sql_embed.service_post(plpy, path, body, timeout_s)
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
