"""The "Dataset access" page in headless Chromium: an admin grants and revokes per-dataset access
(mediatag.grant_dataset_access / revoke_dataset_access); an editor and a viewer see the list but no controls, and
their POSTs are refused by the UI (403) and by the database. The tests run in order on a dataset of their own."""

from __future__ import annotations

from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect
from psycopg import sql
from psycopg.conninfo import make_conninfo

from mediatag.db import connect

from ..conftest import unique
from .conftest import assert_controls_labeled, post_form, screenshot, tab_to


@pytest.fixture(scope="module")
def private_dataset(db_url, service, coco_files, media_dir):
    """Three photos in a dataset of their own: granting access on it closes it to everyone else."""
    from mediatag.ingest import IngestOptions, ingest

    name = unique("private")
    with connect(db_url) as c:
        summary = ingest(c, name, coco_files[48:51], IngestOptions(progress=False, media_dir=media_dir))
    assert summary.ingested == 3, summary.render()
    return name


@pytest.fixture(scope="module")
def team_role(db_url):
    """A group role whose name holds markup characters (shown as text, never as HTML)."""
    name = unique("Team <b>&</b>")
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("DELETE FROM mediatag.dataset_access WHERE grantee::oid = %s::regrole::oid", [f'"{name}"'])
        c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _access_url(dataset: str) -> str:
    return "/mediatag/dataset/access?" + urlencode({"name": dataset})


def _grants(db_url: str, dataset: str) -> dict[str, str]:
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT r.rolname::text, a.level FROM mediatag.dataset_access a JOIN pg_roles r ON r.oid = a.grantee::oid"
            " JOIN mediatag.dataset d ON d.id = a.dataset_id WHERE d.name = %s",
            [dataset],
        ).fetchall()
    return dict(rows)


def _as(db_url: str, login) -> psycopg.Connection:
    from datasette_mediatag.app import login_url_for

    return psycopg.connect(make_conninfo(login_url_for(db_url), user=login.user, password=login.password))


def test_admin_grants_access(admin, private_dataset, team_role, ui_logins, db_url):
    editor_login, viewer_login = ui_logins["editor"].user, ui_logins["viewer"].user
    admin.goto("/mediatag/dataset/groups?" + urlencode({"name": private_dataset}))
    admin.get_by_role("link", name="Dataset access").click()  # linked from Manage groups (and the dataset page)
    expect(admin.locator("h1")).to_have_text(f"Dataset access: {private_dataset}")
    expect(admin.locator("#access-mode")).to_contain_text("Open to every mediatag role")
    assert_controls_labeled(admin)
    # With the mouse: the editor login gets editor access.
    admin.get_by_label("Role or login").fill(editor_login)
    admin.get_by_label("Access", exact=True).select_option("editor")
    admin.get_by_role("button", name="Grant").click()
    expect(admin.locator(".message-info")).to_contain_text(f'Granted editor access to "{editor_login}"')
    expect(admin.locator(f"#dataset-access tr[data-role='{editor_login}'] [data-field=level]")).to_have_text("editor")
    # With the keyboard alone: the viewer login gets viewer access (the level list's first choice).
    tab_to(admin, admin.get_by_label("Role or login"))
    admin.keyboard.type(viewer_login)
    admin.keyboard.press("Tab")  # to the level
    expect(admin.get_by_label("Access", exact=True)).to_be_focused()
    admin.keyboard.press("Tab")
    expect(admin.get_by_role("button", name="Grant")).to_be_focused()
    admin.keyboard.press("Enter")
    expect(admin.locator(f"#dataset-access tr[data-role='{viewer_login}'] [data-field=level]")).to_have_text("viewer")
    # A role whose name is markup shows as text.
    admin.get_by_label("Role or login").fill(team_role)
    admin.get_by_role("button", name="Grant").click()
    expect(admin.locator("#dataset-access tbody")).to_contain_text(team_role)
    assert admin.locator("#dataset-access b").count() == 0
    screenshot(admin, "dataset_access")
    # A role that does not exist: the database's words.
    admin.get_by_label("Role or login").fill("no_such_role_here")
    admin.get_by_role("button", name="Grant").click()
    expect(admin.locator(".message-error")).to_contain_text('unknown role "no_such_role_here"')
    expect(admin.locator("#access-mode")).to_contain_text("Only these roles")
    expect(admin.locator("#dataset-access tbody tr")).to_have_count(3)
    assert _grants(db_url, private_dataset) == {editor_login: "editor", viewer_login: "viewer", team_role: "viewer"}
    assert {admin.get_by_role("button", name=f"Revoke access of {r}").count() for r in (editor_login, team_role)} == {1}


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_non_admins_see_the_list_but_cannot_change_it(who, request, private_dataset, ui_logins, db_url):
    page = request.getfixturevalue(who)
    before = _grants(db_url, private_dataset)
    page.goto("/mediatag/dataset?" + urlencode({"name": private_dataset}))
    page.get_by_role("link", name="Dataset access").click()  # they were granted access, so they see the dataset
    expect(page.locator("#dataset-access tbody tr")).to_have_count(3)
    expect(page.get_by_role("button", name="Grant")).to_have_count(0)
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    expect(page.get_by_label("Role or login")).to_have_count(0)
    expect(page.locator(".mt-hint")).to_contain_text("Only a mediatag admin")
    assert_controls_labeled(page)
    fields = {"action": "grant", "role": ui_logins[who].user, "level": "editor"}
    status, body = post_form(page, _access_url(private_dataset), fields)
    assert status == 403 and "mediatag_admin" in body
    # The database refuses it too, whatever client the person uses.
    with _as(db_url, ui_logins[who]) as c, pytest.raises(psycopg.errors.InsufficientPrivilege, match="mediatag_admin"):
        c.execute("SELECT mediatag.grant_dataset_access(%s, %s, 'editor')", [private_dataset, ui_logins[who].user])
    assert _grants(db_url, private_dataset) == before


def test_admin_revokes_access(admin, viewer, editor, private_dataset, team_role, ui_logins, db_url):
    viewer_login = ui_logins["viewer"].user
    admin.goto(_access_url(private_dataset))
    admin.get_by_role("button", name=f"Revoke access of {viewer_login}").click()
    expect(admin.locator(".message-info")).to_contain_text(f'Revoked the access of "{viewer_login}"')
    expect(admin.locator(f"#dataset-access tr[data-role='{viewer_login}']")).to_have_count(0)
    assert viewer_login not in _grants(db_url, private_dataset)
    # The viewer's role holds no grant now: the dataset does not exist for them; the editor still sees it.
    resp = viewer.goto("/mediatag/dataset?" + urlencode({"name": private_dataset}))
    assert resp.status == 404
    expect(viewer.locator(".mt-error")).to_contain_text(f'unknown dataset "{private_dataset}"')
    editor.goto("/mediatag/dataset?" + urlencode({"name": private_dataset}))
    expect(editor.locator("ul[aria-label=Assets] img")).to_have_count(3)
    # Revoking the last grants opens the dataset to every role again.
    for role in (ui_logins["editor"].user, team_role):
        admin.get_by_role("button", name=f"Revoke access of {role}").click()
        expect(admin.locator(".message-info")).to_contain_text("Revoked the access of")
    expect(admin.locator("#access-mode")).to_contain_text("Open to every mediatag role")
    assert _grants(db_url, private_dataset) == {}
    resp = viewer.goto("/mediatag/dataset?" + urlencode({"name": private_dataset}))
    assert resp.status == 200
