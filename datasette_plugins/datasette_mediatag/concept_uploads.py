"""Concepts from files: labels from a CSV (mediatag.import_concept_labels_csv) or example images
(mediatag.add_concept_examples), for a new concept (created in the same transaction, so a refused file leaves no
empty concept behind) or an existing one. Reading and checking the files is uploads.py's job."""

from __future__ import annotations

import asyncio
from typing import Any

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from . import uploads
from .base import SQLError, UIError, call_all, render, requires, url
from .concepts import concept_ctx, concepts_ctx
from .sessions import Session

# kind -> the function that reads the upload
FUNCTIONS = {"csv": "import_concept_labels_csv", "images": "add_concept_examples"}


async def _concept_upload(datasette: Datasette, request: Request, sess: Session, kind: str) -> Response:
    """Labels from a CSV (kind "csv") or example images (kind "images"), for a new concept (the form's dataset,
    name, description) or an existing one (field `concept`)."""
    fn = FUNCTIONS[kind]
    fields: dict[str, str] = {}
    existing = None
    try:
        fields, files = await uploads.read_form(request)
        existing = (fields.get("concept") or "").strip() or None
        name = existing or (fields.get("name") or "").strip()
        if not name:
            raise uploads.UploadError("enter the concept's name")
        args: dict[str, Any]
        if kind == "csv":
            csv_file = next((f for f in files if f.field == "csv"), None)
            args = {"concept": name, "csv_text": uploads.csv_text(csv_file)}
        else:
            folder = uploads.upload_dir(datasette)
            paths = await asyncio.to_thread(uploads.store_images, [f for f in files if f.field == "images"], folder)
            args = {"concept": name, "paths": paths}
        calls = [(fn, args)]
        if existing is None:
            create = {
                "dataset": fields.get("dataset") or "",
                "name": name,
                "description": fields.get("description") or "",
            }
            calls.insert(0, ("create_concept", create))
        out = (await call_all(sess, calls, atomic=True))[-1]
    except uploads.UploadError as e:
        return await _upload_failed(datasette, request, sess, kind, existing, fields, UIError(str(e), e.status))
    except SQLError as e:
        return await _upload_failed(datasette, request, sess, kind, existing, fields, e)
    if kind == "csv":
        counts: dict[str, int] = {}
        for r in out:
            counts[r["label"]] = counts.get(r["label"], 0) + r["keyframes"]
        done = ", ".join(f"{n} {lab}" for lab, n in sorted(counts.items()))
        msg = f"Imported {len(out)} rows of {csv_file.filename}: {done} (keyframes labeled)."
    else:
        n = len(paths)
        version = next(iter(out[0].values()))
        msg = f"Added {n} example image{'s' if n != 1 else ''}; the concept is at version {version}."
    datasette.add_message(request, msg, datasette.INFO)
    return Response.redirect(url("/mediatag/concept", name=name))


async def _upload_failed(
    datasette: Datasette,
    request: Request,
    sess: Session,
    kind: str,
    existing: str | None,
    fields: dict[str, str],
    error: UIError,
) -> Response:
    """The page the form was on, with the error by the form and what was typed kept."""
    if existing:
        ctx = await concept_ctx(sess, existing, can_edit=True)  # only editors reach the upload forms
        template = "mediatag_concept.html"
    else:
        ctx = await concepts_ctx(sess)
        ctx["form"] = {k: fields.get(k) for k in ("dataset", "name", "description")}
        template = "mediatag_concepts.html"
    ctx |= {"upload_error": str(error), "upload_hint": error.hint, "upload_kind": kind}
    return await render(datasette, request, template, ctx, status=error.status)


@requires("editor", "create or label concepts", needs=FUNCTIONS["csv"])
async def concept_import(datasette: Datasette, request: Request, sess: Session) -> Response:
    return await _concept_upload(datasette, request, sess, "csv")


@requires("editor", "create or label concepts", needs=FUNCTIONS["images"])
async def concept_examples(datasette: Datasette, request: Request, sess: Session) -> Response:
    return await _concept_upload(datasette, request, sess, "images")


ROUTES = [
    (r"^/mediatag/concepts/import$", concept_import),
    (r"^/mediatag/concepts/examples$", concept_examples),
]
