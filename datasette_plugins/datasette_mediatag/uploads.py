"""File uploads: multipart forms read with a size cap, CSV text decoded, example images checked and stored.

Datasette's asgi-csrf has already checked the form's csrftoken (it must come before the file fields) when a
handler gets here. Images are stored under the plugin's `upload_dir`, which must lie under the embedding
service's media roots: the database asks the service to read and embed them (mediatag.add_concept_examples).
Files are named by their content's hash, so uploading the same image twice stores it once. Media added to a
dataset go under `upload_dir` too (media_uploads.py), which must then lie under the database's media roots.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from python_multipart import FormParser
from python_multipart.exceptions import FormParserError

MAX_REQUEST = 32 << 20  # one form post, all files together
MAX_CSV = 4 << 20
MAX_IMAGE = 16 << 20
MAX_IMAGES = 32  # the embedding service takes at most 64 paths per request
MAX_PIXELS = 80_000_000
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def upload_dir(datasette) -> Path:
    """The plugin's `upload_dir` (`mediatag ui --upload-dir`); 501 when uploads are not configured."""
    from .sessions import PLUGIN

    cfg = datasette.plugin_config(PLUGIN) or {}
    if not cfg.get("upload_dir"):
        raise UploadError(
            "uploads are not configured (plugin setting upload_dir: a folder under the embedding service's and the"
            " database's media roots; `mediatag ui --upload-dir`)",
            501,
        )
    return Path(cfg["upload_dir"])


class UploadError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    field: str
    filename: str
    data: bytes


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


async def read_form(request, max_bytes: int = MAX_REQUEST) -> tuple[dict[str, str], list[Upload]]:
    """The fields and files of a multipart/form-data POST; refuses a body over `max_bytes` without reading on."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
        raise UploadError("this form sends files: it must be posted as multipart/form-data")
    boundary = ctype.split("boundary=", 1)[1].split(";", 1)[0].strip().strip('"')
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise UploadError(f"the upload is {_mib(int(length))}; at most {_mib(max_bytes)} per form", 413)
    fields: dict[str, str] = {}
    files: list[Upload] = []

    def on_field(f) -> None:
        fields[f.field_name.decode("utf-8", "replace")] = (f.value or b"").decode("utf-8", "replace")

    def on_file(f) -> None:
        f.file_object.seek(0)
        data = f.file_object.read()
        if f.file_name:  # an empty file input sends a part with no file name
            name = f.file_name.decode("utf-8", "replace")
            files.append(Upload(f.field_name.decode("utf-8", "replace"), Path(name).name, data))

    parser = FormParser("multipart/form-data", on_field, on_file, boundary=boundary.encode("latin-1"))
    seen, more = 0, True
    try:
        while more:
            message = await request.receive()
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > max_bytes:
                raise UploadError(f"the upload is over {_mib(max_bytes)}; at most {_mib(max_bytes)} per form", 413)
            parser.write(chunk)
            more = message.get("more_body", False)
        parser.finalize()
    except FormParserError as e:
        raise UploadError(f"the form could not be read: {e}") from e
    return fields, files


def csv_text(upload: Upload | None) -> str:
    """The CSV's text (UTF-8, a byte-order mark allowed); a binary or oversized file is a clear error."""
    if upload is None or not upload.data.strip():
        raise UploadError("choose a CSV file with one row per item: file name or asset id, then yes / no")
    if len(upload.data) > MAX_CSV:
        raise UploadError(f"{upload.filename} is {_mib(len(upload.data))}; a labels CSV may be {_mib(MAX_CSV)}", 413)
    try:
        text = upload.data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UploadError(f"{upload.filename} is not a UTF-8 text file (a CSV was expected): {e.reason}") from e
    if "\x00" in text:
        raise UploadError(f"{upload.filename} is a binary file, not a CSV")
    return text


def check_image(upload: Upload) -> str:
    """The file extension of an upload that decodes as an image; otherwise an error naming the file."""
    from PIL import Image, UnidentifiedImageError

    if len(upload.data) > MAX_IMAGE:
        raise UploadError(f"{upload.filename} is {_mib(len(upload.data))}; an image may be {_mib(MAX_IMAGE)}", 413)
    try:
        with Image.open(io.BytesIO(upload.data)) as img:
            fmt, (w, h) = img.format, img.size
            if w * h > MAX_PIXELS:
                raise UploadError(f"{upload.filename} is {w}x{h}: more than {MAX_PIXELS} pixels")
            img.load()  # a truncated or corrupt file fails here, not later in the embedding service
    except UploadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UploadError(
            f"{upload.filename} is not a readable image ({type(e).__name__}); upload JPEG, PNG or WebP files"
        ) from e
    if fmt not in IMAGE_FORMATS:
        raise UploadError(f"{upload.filename} is a {fmt} image; upload {', '.join(IMAGE_FORMATS)} files")
    return IMAGE_FORMATS[fmt]


def store_images(uploads: list[Upload], upload_dir: Path) -> list[str]:
    """Checks every image first (nothing is stored if one is bad), then writes them; their paths, in order."""
    if not uploads:
        raise UploadError("choose one or more image files")
    if len(uploads) > MAX_IMAGES:
        raise UploadError(f"{len(uploads)} images chosen; at most {MAX_IMAGES} per upload")
    exts = [check_image(u) for u in uploads]
    upload_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for u, ext in zip(uploads, exts, strict=True):
        path = upload_dir / (hashlib.sha256(u.data).hexdigest()[:32] + ext)
        if not path.exists():
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(u.data)
            tmp.replace(path)
        paths.append(str(path.resolve()))
    return paths
