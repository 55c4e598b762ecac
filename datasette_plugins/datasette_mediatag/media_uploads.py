"""Editors add media to a dataset from its page: upload images and videos, or name a folder under the media roots.
Either way the work is an ingest job (mediatag.queue_ingest checks the person's rights and the paths when it is
queued; the service's worker runs it) whose progress the dataset page shows (mediatag.ingest_jobs).

Uploads are stored under the plugin's `upload_dir`, in a folder per dataset (datasets/<slug>/), with sanitised
names that carry a hash of the content (the same file uploaded twice is stored once); the folder must lie under
the database's media roots. Nothing is stored when one file is refused, and files stored for a job the database
then refuses are removed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from . import uploads
from .base import UIError, call_value, requires, url
from .datasets import dataset_change
from .params import arg
from .sessions import Session

MAX_MEDIA_REQUEST = 256 << 20  # one upload form, all files together (a folder on the server has no cap)
MAX_MEDIA_FILES = 100
KINDS = ("image", "video")


def safe_name(filename: str, data: bytes) -> str:
    """A file name that is safe in any folder: letters, digits, ".", "_" and "-" only, no leading dot, at most 80
    characters before a hash of the content and the (lower-case) extension."""
    name = Path(filename.replace("\\", "/")).name
    stem, ext = Path(name).stem, Path(name).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:80] or "file"
    ext = ext if re.fullmatch(r"\.[a-z0-9]{1,5}", ext) else ""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}{ext}"


def _check(upload: uploads.Upload) -> None:
    from mediatag.media.kinds import media_kind  # the ingester's own list of what it reads

    kind = media_kind(upload.filename)
    if kind not in KINDS:
        raise uploads.UploadError(f"{upload.filename} is not an image or video file this ingester reads")
    if not upload.data:
        raise uploads.UploadError(f"{upload.filename} is empty")
    if kind == "image":
        uploads.check_image(upload)  # decodes it: a corrupt or oversized image is refused before anything is stored


def store_media(files: list[uploads.Upload], folder: Path) -> tuple[list[str], list[Path]]:
    """Checks every file first (nothing is stored if one is bad), then writes them into `folder`; returns their
    paths, in order, and the files this call created."""
    if not files:
        raise uploads.UploadError("choose one or more image or video files")
    if len(files) > MAX_MEDIA_FILES:
        raise uploads.UploadError(f"{len(files)} files chosen; at most {MAX_MEDIA_FILES} per upload")
    for f in files:
        _check(f)
    folder.mkdir(parents=True, exist_ok=True)
    paths, created = [], []
    for f in files:
        path = folder / safe_name(f.filename, f.data)
        if not path.exists():
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(f.data)
            tmp.replace(path)
            created.append(path)
        paths.append(str(path.resolve()))
    return paths, created


async def _dataset_folder(datasette: Datasette, sess: Session, dataset: str) -> Path:
    """datasets/<slug>/ under upload_dir, once the database says it lies under the media roots."""
    slug = await sess.value("SELECT slug FROM mediatag.dataset WHERE name = %s", (dataset,))
    if slug is None:
        raise UIError(f'unknown dataset "{dataset}"', status=404)
    folder = (uploads.upload_dir(datasette) / "datasets" / slug).resolve()
    if await sess.value("SELECT count(*) FROM mediatag.paths_outside_media_roots(%s::text[])", ([str(folder)],)):
        raise UIError(
            f"uploads go to {folder}, which lies under no media root",
            status=501,
            hint="an admin adds the upload folder with `mediatag media-roots add PATH` (mediatag.add_media_root)",
        )
    return folder


@requires("editor", "add media to a dataset", needs="queue_ingest")
async def upload_media(datasette: Datasette, request: Request, sess: Session) -> Response:
    name = arg(request, "name")
    try:
        _, files = await uploads.read_form(request, MAX_MEDIA_REQUEST)
    except uploads.UploadError as e:
        raise UIError(str(e), e.status) from e
    folder = await _dataset_folder(datasette, sess, name)
    try:
        paths, created = await asyncio.to_thread(store_media, [f for f in files if f.field == "files"], folder)
    except uploads.UploadError as e:
        raise UIError(str(e), e.status) from e
    try:
        job = await call_value(sess, "queue_ingest", dataset=name, paths=paths)
    except UIError:
        for p in created:  # the database refused the job: keep nothing it will not ingest
            p.unlink(missing_ok=True)
        raise
    n = len(paths)
    datasette.add_message(request, f"Uploaded {n} file{'s' if n != 1 else ''}; ingest job {job} queued.")
    return Response.redirect(url("/mediatag/dataset", name=name))


@dataset_change("/mediatag/dataset", "editor", "add media to a dataset")
async def ingest_folder(sess: Session, dataset: str, form: dict) -> tuple[bool, str]:
    folder = (form.get("folder") or "").strip()
    if not folder:
        return False, "Enter a folder (or file) under the media roots."
    job = await call_value(sess, "queue_ingest", dataset=dataset, paths=[folder])
    return True, f"Ingest job {job} queued for {folder}."


async def ingest_ctx(sess: Session, dataset: str) -> dict:
    """What the dataset page shows of ingest: the latest jobs and, for editors, the media roots."""
    if "ingest_jobs" not in await sess.functions():
        return {}
    jobs = await sess.rows("SELECT * FROM mediatag.ingest_jobs(%s)", (dataset,))
    roots = [r["path"] for r in await sess.rows("SELECT path FROM mediatag.media_roots()")]
    return {"ingest_jobs": jobs, "media_roots": roots, "max_upload_mib": MAX_MEDIA_REQUEST >> 20}


ROUTES = [
    (r"^/mediatag/dataset/upload$", upload_media),
    (r"^/mediatag/dataset/ingest-folder$", ingest_folder),
]
