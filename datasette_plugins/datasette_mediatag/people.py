"""People (issue 27): a dataset's People page (its people as face grids, the faces in no person yet), a person's page
(their faces and every appearance on a timeline per video), face search ("find this person"), the face crops these
pages show, and the editors' changes: name, merge, split, remove a face, confirm a face, forget (after a confirm step).

Everything goes through mediatag.people(), faces(), appearances(), search(dataset, face => …) and the functions that
change people, as the person's own login: the crops of a dataset they may not see are refused by face_crop() itself.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import SQLError, UIError, call, call_all, call_one, call_value, get_or_post, render, requires, url
from .faceboxes import person_label
from .params import arg, id_arg, int_arg
from .sessions import Session, allowed

PEOPLE_PAGE, PERSON_PAGE, SEARCH_PAGE = "/mediatag/people", "/mediatag/person", "/mediatag/faces/search"
TAG_PAGE, GROUP_PAGE, CONCEPT_PAGE = "/mediatag/tag", "/mediatag/group", "/mediatag/concept"
PEOPLE_PER_PAGE = 24
CROPS_PER_PERSON = 8  # on the People page; the person's page shows them all
UNASSIGNED_SHOWN = 48
MAX_TIMELINES = 50  # videos drawn on a person's page (the rest are counted)
SEARCH_K = 48
MERGE_CHOICES = 100  # people in a "Merge into" menu; with more, a number with suggestions (_mediatag_faces.html)


async def _person(sess: Session, dataset: str, person: int) -> dict:
    """The person's row of people(dataset); a person of another dataset, or none, is a 404."""
    row = next((p for p in await call(sess, "people", dataset=dataset) if p["person_id"] == person), None)
    if row is None:
        raise UIError(f'dataset "{dataset}" has no person {person}', status=404)
    return {**row, "label": person_label(row["person_id"], row["name"])}


def _labelled(people: list[dict]) -> list[dict]:
    return [{**p, "label": person_label(p["person_id"], p["name"])} for p in people]


@requires("viewer", "see people", needs="people")
async def people_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    dataset = arg(request, "dataset")
    # face_status' dataset lookup is the access check: a dataset unknown or hidden from this login is an error.
    status = await call_one(sess, "face_status", dataset=dataset)
    everyone = _labelled(await call(sess, "people", dataset=dataset))
    page = max(int_arg(request, "page", 1) or 1, 1)
    shown = everyone[(page - 1) * PEOPLE_PER_PAGE : page * PEOPLE_PER_PAGE]
    # Each person's best crops, on one connection.
    calls = [("faces", {"dataset": dataset, "person": p["person_id"]}) for p in shown]
    calls.append(("faces", {"dataset": dataset, "unassigned": True}))
    *per_person, unassigned = await call_all(sess, calls)
    for p, faces in zip(shown, per_person, strict=True):
        p["crops"] = sorted(faces, key=lambda f: -f["quality"])[:CROPS_PER_PERSON]
    ctx = {
        "dataset": dataset,
        "status": status,
        "people": shown,
        "everyone": everyone,
        "unassigned": unassigned[:UNASSIGNED_SHOWN],
        "page": page,
        "pages": max(1, -(-len(everyone) // PEOPLE_PER_PAGE)),
        "merge_choices": MERGE_CHOICES,
        "mt_dataset": dataset,
    }
    return await render(datasette, request, "mediatag_people.html", ctx)


def _timelines(appearances: list[dict], videos: dict[int, dict]) -> list[dict]:
    """One timeline per video: the ranges the person is on screen, as percentages of the video's duration."""
    out: dict[int, dict] = {}
    for a in appearances:
        v = videos.get(a["asset_id"])
        if v is None:
            continue
        duration = max(v["duration_ms"] or 0, a["end_ms"], 1)
        line = out.setdefault(
            a["asset_id"], {"asset_id": a["asset_id"], "file": v["path"].split("/")[-1], "duration_ms": duration}
        )
        left, width = 100 * a["start_ms"] / duration, 100 * (a["end_ms"] - a["start_ms"]) / duration
        line.setdefault("ranges", []).append({**a, "left": left, "width": width})
    return list(out.values())


async def person_tag_choices(sess: Session, dataset: str) -> list[str]:
    """The groups a person tag (person_uses.py) may join from this dataset's person page: those trained on it (an
    editor edits a group from its training dataset)."""
    return [g["name"] for g in await call(sess, "list_tag_groups", dataset=dataset) if g["training_dataset"] == dataset]


def made(request: Request) -> dict | None:
    """What the last make_* on this page made (from the redirect's query), for the page's link to it."""
    q = request.args
    if q.get("made") == "tag" and q.get("tag_group") and q.get("tag"):
        group, tag = q["tag_group"], q["tag"]
        return {"what": "tag", "label": f"{group}: {tag}", "href": url(TAG_PAGE, group=group, tag=tag),
                "group_href": url(GROUP_PAGE, name=group)}  # fmt: skip
    if q.get("made") == "concept" and q.get("concept"):
        return {"what": "concept", "label": q["concept"], "href": url(CONCEPT_PAGE, name=q["concept"])}
    return None


@requires("viewer", "see people", needs="appearances")
async def person_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    dataset, person = arg(request, "dataset"), id_arg(request)
    me = await _person(sess, dataset, person)
    faces, appearances, everyone = await call_all(
        sess,
        [
            ("faces", {"dataset": dataset, "person": person}),
            ("appearances", {"dataset": dataset, "person": person}),
            ("people", {"dataset": dataset}),
        ],
    )
    # Videos are the assets whose faces have a video time; photos show as their keyframes.
    video_ids = list(dict.fromkeys(f["asset_id"] for f in faces if f["video_time_ms"] is not None))
    details = await call_all(sess, [("asset_detail", {"asset": a}) for a in video_ids[:MAX_TIMELINES]])
    videos = {d[0]["asset_detail"]["asset_id"]: d[0]["asset_detail"] for d in details}
    photos = list({f["asset_id"]: f for f in faces if f["video_time_ms"] is None}.values())
    # Editors make a person tag or concept here (person_uses.py): the groups it may join, and what it just made.
    editor = allowed(request.actor, "mediatag-edit")
    ctx = {
        "dataset": dataset,
        "person": me,
        "faces": faces,
        "timelines": _timelines(appearances, videos),
        "more_videos": max(len(video_ids) - MAX_TIMELINES, 0),
        "photos": photos,
        "others": [p for p in _labelled(everyone) if p["person_id"] != person],
        "merge_choices": MERGE_CHOICES,
        "mt_dataset": dataset,
        "tag_groups": await person_tag_choices(sess, dataset) if editor else [],
        "made": made(request),
    }
    return await render(datasette, request, "mediatag_person.html", ctx)


@requires("viewer", "search faces", needs="search")
async def face_search_page(datasette: Datasette, request: Request, sess: Session) -> Response:
    """The faces of the dataset nearest one face: that person across the library. With `person`, the person the
    search is for: editors confirm the hits that are them."""
    dataset, face = arg(request, "dataset"), id_arg(request, "face")
    person_id = int_arg(request, "person")
    person = await _person(sess, dataset, person_id) if person_id is not None else None
    hits = await call(sess, "search", dataset=dataset, face=face, k=SEARCH_K)
    for h in hits:
        h["label"] = person_label(h["person_id"], h["person_name"])
    ctx = {"dataset": dataset, "face": face, "person": person, "hits": hits, "k": SEARCH_K, "mt_dataset": dataset}
    return await render(datasette, request, "mediatag_face_search.html", ctx)


@requires("viewer", "see faces")
async def face_crop(datasette: Datasette, request: Request, sess: Session) -> Response:
    """A face's aligned crop (JPEG); face_crop() refuses faces of datasets the person may not see."""
    try:
        data = await call_value(sess, "face_crop", face=int(request.url_vars["face"]))
    except SQLError as e:
        if e.status == 403:
            raise
        raise UIError(str(e), status=404, hint=e.hint) from e  # unknown, or of a dataset they may not see
    return Response(bytes(data), content_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})


# Its own caching headers (private: face_crop checked the person's access first).
face_crop._datasette_static = True  # type: ignore[attr-defined]


# ---- changes ----------------------------------------------------------------------------------------------------


def _field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[-1].strip()


def _whole(form: dict[str, list[str]], name: str) -> int:
    v = _field(form, name)
    if not v.isdigit():
        raise UIError(f"field {name!r} must be a whole number, got {v!r}" if v else f"missing field {name!r}")
    return int(v)


def _wholes(form: dict[str, list[str]], name: str, what: str) -> list[int]:
    vs = [v for v in form.get(name) or [] if v.strip()]
    if not vs:
        raise UIError(f"pick {what} first")
    if not all(v.strip().isdigit() for v in vs):
        raise UIError(f"field {name!r} must hold whole numbers")
    return [int(v) for v in vs]


def _back(form: dict[str, list[str]], dataset: str, person: int | None) -> str:
    """Where a change returns: the page it came from, rebuilt from the form's ids (never a URL the form names)."""
    back = _field(form, "back")
    if back == "person" and person is not None:
        return url(PERSON_PAGE, dataset=dataset, id=person)
    if back == "search":
        return url(SEARCH_PAGE, dataset=dataset, face=_whole(form, "search_face"), person=person)
    return url(PEOPLE_PAGE, dataset=dataset)


async def _forget(
    datasette: Datasette, request: Request, sess: Session, dataset: str, person: int, form: dict[str, list[str]]
) -> Response | tuple[str, str]:
    """Forgetting deletes faces and descriptors for good: without confirm=yes, the page that says so and asks."""
    me = await _person(sess, dataset, person)
    if _field(form, "confirm") != "yes":
        ctx = {"dataset": dataset, "person": me, "back": _field(form, "back"), "mt_dataset": dataset}
        return await render(datasette, request, "mediatag_person_forget.html", ctx)
    n = await call_value(sess, "forget_person", person=person)
    return url(PEOPLE_PAGE, dataset=dataset), f"Forgot {me['label']}: {n} face{'' if n == 1 else 's'} deleted."


async def _change(
    datasette: Datasette, request: Request, sess: Session, dataset: str, action: str, form: dict[str, list[str]]
) -> Response | tuple[str, str]:
    """Does `action`; returns the page to go back to and what it did (or a page to show instead)."""
    person = _whole(form, "person")
    if action == "forget":
        return await _forget(datasette, request, sess, dataset, person, form)
    label = (await _person(sess, dataset, person))["label"]
    if action == "name":
        name = _field(form, "name")
        await call(sess, "name_person", person=person, name=name or None)
        return _back(form, dataset, person), f'Named {label} "{name}".' if name else f"Cleared the name of {label}."
    if action == "merge":
        into = _whole(form, "into")
        n = await call_value(sess, "merge_people", person=person, into_person=into)
        target = (await _person(sess, dataset, into))["label"]
        return _back(form, dataset, into), f"Merged {label} into {target}: {n} face{'' if n == 1 else 's'} moved."
    if action == "split":
        faces = _wholes(form, "face", "the faces to move")
        new = await call_value(sess, "split_person", person=person, faces=faces, name=_field(form, "name") or None)
        moved = (await _person(sess, dataset, new))["label"]
        return _back(form, dataset, person), f"Moved {len(faces)} face(s) of {label} (with their tracks) to {moved}."
    if action in ("remove", "confirm"):
        face = _whole(form, "face")
        await call(sess, "label_face", face=face, person=person, correct=action == "confirm")
        if action == "confirm":
            return _back(form, dataset, person), f"Face {face} is {label} now."
        return _back(form, dataset, person), f"Removed face {face} from {label}; clustering will not put it back."
    raise UIError(f"unknown action {action!r}: use name, merge, split, remove, confirm or forget")


@requires("editor", "change people")
async def change_people(datasette: Datasette, request: Request, sess: Session) -> Response:
    # Read once, keeping repeated fields (the faces picked to split off).
    form = parse_qs((await request.post_body()).decode("utf-8"), keep_blank_values=True)
    dataset = _field(form, "dataset")
    if not dataset:
        raise UIError("missing field 'dataset'")
    done = await _change(datasette, request, sess, dataset, _field(form, "action"), form)
    if isinstance(done, Response):
        return done
    page, message = done
    datasette.add_message(request, message, datasette.INFO)
    return Response.redirect(page)


ROUTES = [
    (r"^/mediatag/people$", get_or_post(people_page, change_people)),
    (r"^/mediatag/person$", person_page),
    (r"^/mediatag/faces/search$", face_search_page),
    (r"^/mediatag/face/(?P<face>\d+)\.jpg$", face_crop),
]
