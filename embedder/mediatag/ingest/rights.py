"""Who may ingest what, asked of the database before any file is read: the login needs mediatag_editor (write
access to the dataset is checked by create_dataset / start_ingest), and every file must lie under the media roots
an admin set (mediatag.add_media_root) unless the login is a superuser (the operator)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import psycopg


class IngestRefused(PermissionError):
    """The login may not ingest these files: the message says why, `hint` what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def is_superuser(conn: psycopg.Connection) -> bool:
    """Whether the login is a superuser (the operator): it writes the extension's tables itself, ingests from
    anywhere, builds indexes CONCURRENTLY and runs speech to text and face scans in-process; any other login goes
    through the SECURITY DEFINER functions and, for those back-fills, the service's worker."""
    row = conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user").fetchone()
    conn.commit()
    return bool(row and row[0])


def check_login(conn: psycopg.Connection) -> bool:
    """Raises IngestRefused unless the login may ingest at all; returns whether it is a superuser."""
    login, editor = conn.execute(
        "SELECT session_user::text, pg_has_role(session_user, 'mediatag_editor', 'MEMBER')"
    ).fetchone()
    conn.commit()
    if not editor:
        raise IngestRefused(
            f"login {login} may not ingest: adding media needs the mediatag_editor role (viewers and Query logins"
            " only read)",
            f"an admin grants it with `mediatag users add {login} --role editor`",
        )
    return is_superuser(conn)


def outside_media_roots(conn: psycopg.Connection, paths: Sequence[str | Path]) -> list[str]:
    """Those of `paths` under no media root (relative, with "..", or leading out through a symlink)."""
    if not paths:
        return []
    rows = conn.execute(
        "SELECT p FROM mediatag.paths_outside_media_roots(%s::text[]) p", ([str(p) for p in paths],)
    ).fetchall()
    conn.commit()
    return [r[0] for r in rows]


def refuse_outside(conn: psycopg.Connection, paths: Sequence[str | Path]) -> None:
    """Raises IngestRefused when a named file or folder lies outside the media roots."""
    outside = outside_media_roots(conn, [Path(p).expanduser().absolute() for p in paths])
    if not outside:
        return
    roots = [r[0] for r in conn.execute("SELECT path FROM mediatag.media_roots()")]
    conn.commit()
    shown = ", ".join(outside[:3]) + (", …" if len(outside) > 3 else "")
    raise IngestRefused(
        f"{len(outside)} path(s) lie outside the media roots: {shown}",
        f"the media roots are {', '.join(roots)}"
        if roots
        else "no media roots are set: an admin adds one with `mediatag media-roots add PATH` (mediatag.add_media_root)",
    )
