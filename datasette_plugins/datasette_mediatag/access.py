"""The "Dataset access" page: who may see or change a dataset (mediatag.dataset_access). Everyone who sees the
dataset sees the list; admins grant and revoke (the database checks the admin role again)."""

from __future__ import annotations

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from .base import UIError, call, call_value, get_or_post, render, requires
from .datasets import dataset_change, dataset_summary_or_404
from .params import arg
from .sessions import Session, allowed

ACCESS_LEVELS = ("viewer", "editor")
# Suggestions for the grant box: the mediatag roles and the logins (the catalog every login may read).
ROLE_SUGGESTIONS = (
    "SELECT rolname AS name, rolcanlogin AS login FROM pg_catalog.pg_roles"
    " WHERE rolname !~ '^pg_' AND rolname <> 'mediatag_owner' AND (rolcanlogin OR rolname ~ '^mediatag_')"
    " ORDER BY NOT rolname ~ '^mediatag_', rolname LIMIT 500"
)


@requires("viewer")
async def dataset_access(datasette: Datasette, request: Request, sess: Session) -> Response:
    name = arg(request, "name")
    await dataset_summary_or_404(sess, name)
    grants = await call(sess, "dataset_access", dataset=name)
    is_admin = allowed(request.actor, "mediatag-admin")
    roles = await sess.rows(ROLE_SUGGESTIONS) if is_admin else []
    ctx = {"name": name, "grants": grants, "is_admin": is_admin, "roles": roles, "levels": ACCESS_LEVELS}
    return await render(datasette, request, "mediatag_dataset_access.html", ctx)


@dataset_change("/mediatag/dataset/access", "admin", "change dataset access")
async def change_access(sess: Session, name: str, form: dict) -> tuple[bool, str]:
    role, action = (form.get("role") or "").strip(), form.get("action")
    if not role:
        raise UIError("enter the role or login to grant access to")
    if action == "grant":
        level = form.get("level") or "viewer"
        await call(sess, "grant_dataset_access", dataset=name, role=role, level=level)
        return True, f'Granted {level} access to "{role}".'
    if action != "revoke":
        raise UIError(f"unknown action {action!r}: use grant or revoke")
    if await call_value(sess, "revoke_dataset_access", dataset=name, role=role):
        return True, f'Revoked the access of "{role}".'
    return False, f'"{role}" had no access of its own to revoke.'


ROUTES = [(r"^/mediatag/dataset/access$", get_or_post(dataset_access, change_access))]
