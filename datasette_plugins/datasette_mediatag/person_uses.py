"""A person tag and a person concept made from a person's page (issue 27): an editor adds the person as a tag of a
tag group (a new group, or one trained on this dataset, adding the tag where it lacks it) or as a concept (a new
one, or one of this dataset), and the tag or concept scores keyframes by their best face from then on.

Each is one transaction of the SQL functions a script would call (create_tag_group / add_tags, add_face_examples;
create_concept, add_concept_faces): a refused or failed step leaves no empty group or concept behind. The person's
page comes back with what was made and a link to it (people.made).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import UIError, by_name, call, call_all, requires, url
from .people import PERSON_PAGE, _field, _person, _whole
from .sessions import Session


async def _form(request: Request) -> tuple[dict[str, list[str]], str, int]:
    form = parse_qs((await request.post_body()).decode("utf-8"), keep_blank_values=True)
    dataset = _field(form, "dataset")
    if not dataset:
        raise UIError("missing field 'dataset'")
    return form, dataset, _whole(form, "person")


def _name(form: dict[str, list[str]], field: str, person: dict, what: str) -> str:
    """The tag's or concept's name: the one typed, else the person's name. An unnamed cluster's "Person 17" is no
    name for a tag or concept someone reads in a year."""
    name = _field(form, field) or person["name"]
    if not name:
        hint = "it defaults to the person's name"
        raise UIError(f"type a name for the {what}, or name {person['label']} first", hint=hint)
    return name


@requires("editor", "make a person tag")
async def make_person_tag(datasette: Datasette, request: Request, sess: Session) -> Response:
    form, dataset, person = await _form(request)
    me = await _person(sess, dataset, person)
    group = _field(form, "tag_group")
    if not group:
        raise UIError("pick or type the tag group the person joins", hint="a new name makes a new group")
    tag = _name(form, "tag", me, "tag")
    existing = by_name(await call(sess, "list_tag_groups"), group)
    if existing is None:
        first = ("create_tag_group", {"dataset": dataset, "name": group, "tags": [tag]})
        done = f'New tag group "{group}"'
    else:
        group = existing["name"]
        tags = {t["tag"].lower(): t["tag"] for t in await call(sess, "group_overview", tag_group=group)}
        first = None if tag.lower() in tags else ("add_tags", {"tag_group": group, "tags": [tag], "dataset": dataset})
        tag = tags.get(tag.lower(), tag)
        done = f'Tag group "{group}"'
    steps = ([first] if first else []) + [
        ("add_face_examples", {"tag_group": group, "tag": tag, "person": person, "dataset": dataset})
    ]
    n = (await call_all(sess, steps, atomic=True))[-1][0]["add_face_examples"]
    message = f'{done}: tag "{tag}" is {me["label"]} now, from {n} face example{"" if n == 1 else "s"}.'
    datasette.add_message(request, message, datasette.INFO)
    return Response.redirect(url(PERSON_PAGE, dataset=dataset, id=person, made="tag", tag_group=group, tag=tag))


@requires("editor", "make a person concept")
async def make_person_concept(datasette: Datasette, request: Request, sess: Session) -> Response:
    form, dataset, person = await _form(request)
    me = await _person(sess, dataset, person)
    concept = _name(form, "concept", me, "concept")
    existing = by_name(await call(sess, "list_concepts", dataset=dataset), concept)
    steps = [] if existing else [("create_concept", {"dataset": dataset, "name": concept, "description": ""})]
    concept = existing["name"] if existing else concept
    steps.append(("add_concept_faces", {"concept": concept, "person": person}))
    version = (await call_all(sess, steps, atomic=True))[-1][0]["add_concept_faces"]
    what = "Concept" if existing else "New concept"
    message = f'{what} "{concept}" is {me["label"]} now (version {version}, scored by each keyframe\'s best face).'
    datasette.add_message(request, message, datasette.INFO)
    return Response.redirect(url(PERSON_PAGE, dataset=dataset, id=person, made="concept", concept=concept))


ROUTES = [
    (r"^/mediatag/person/tag$", make_person_tag),
    (r"^/mediatag/person/concept$", make_person_concept),
]
