"""Browser-test fixtures: the UI (Datasette + datasette-mediatag under uvicorn, in a thread) over the test database,
PostgreSQL logins for an editor, a viewer and an admin (password auth over TCP, as people log in), and Debian's Chromium
driven by Playwright. Timings measured by the tests are printed at the end of the run."""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ..conftest import unique
from ..uiserver import serve_apps

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMINGS: dict[str, list[float]] = {}


def record(name: str, value: float) -> None:
    """A figure for the end-of-run summary; the name carries its unit."""
    TIMINGS.setdefault(name, []).append(value)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("mediatag UI timings (headless Chromium)")
    for name, values in TIMINGS.items():
        terminalreporter.write_line(
            f"{name}: median {statistics.median(values):.3g}, max {max(values):.3g} (n={len(values)})"
        )


@dataclass(frozen=True)
class Login:
    user: str
    password: str


def _create_login(conn: psycopg.Connection, prefix: str, roles: list[str]) -> Login:
    user, password = unique(prefix), secrets.token_urlsafe(16)
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password)))
    for r in roles:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(r), sql.Identifier(user)))
    return Login(user, password)


@pytest.fixture(scope="session")
def ui_logins(db_url: str) -> Iterator[dict[str, Login]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        logins = {
            "editor": _create_login(conn, "ui_editor", ["mediatag_editor", "mediatag_query"]),
            "viewer": _create_login(conn, "ui_viewer", ["mediatag_viewer"]),
            "admin": _create_login(conn, "ui_admin", ["mediatag_admin"]),
        }
    yield logins
    with psycopg.connect(db_url, autocommit=True) as conn:
        for login in logins.values():
            u = sql.Identifier(login.user)
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(u))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(u))
            conn.execute(sql.SQL("DROP ROLE {}").format(u))


@pytest.fixture(scope="session")
def ui_url(db_url: str, service: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from datasette_mediatag.app import login_url_for, make_datasette
    from psycopg.conninfo import make_conninfo

    from mediatag.users import ensure_ui_login

    # The Query page runs as a query login of its own, as `mediatag ui` makes one (a name of this session's own:
    # roles are cluster-wide).
    query_login = Login(unique("ui_query"), secrets.token_urlsafe(16))
    with psycopg.connect(db_url, autocommit=True) as conn:
        ensure_ui_login(conn, query_login.user, ("query",), query_login.password)
    # Uploads under the pytest base folder: one of the test embedding service's media roots.
    app = make_datasette(
        login_url_for(db_url),
        thumb_dir=str(tmp_path_factory.mktemp("thumbs")),
        upload_dir=str(tmp_path_factory.mktemp("uploads")),
        reel_dir=str(tmp_path_factory.mktemp("reels")),
        query_url=make_conninfo(login_url_for(db_url), user=query_login.user, password=query_login.password),
    )
    with serve_apps(app) as (url,):
        yield url
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(query_login.user)))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # Labels retrain in PL/Python and the first call on a new backend imports numpy: on two busy cores that alone
    # can take seconds, so assertions wait longer than Playwright's 5 s default.
    expect.set_options(timeout=20_000)

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()
    pw.stop()


def _logged_in(browser, ui_url: str, login: Login):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=ui_url, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto("/mediatag/login")
    page.get_by_label("Login").fill(login.user)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/mediatag/")
    return ctx, page


@pytest.fixture(scope="session")
def editor(browser, ui_url, ui_logins):
    ctx, page = _logged_in(browser, ui_url, ui_logins["editor"])
    yield page
    ctx.close()


@pytest.fixture(scope="session")
def viewer(browser, ui_url, ui_logins):
    ctx, page = _logged_in(browser, ui_url, ui_logins["viewer"])
    yield page
    ctx.close()


@pytest.fixture(scope="session")
def admin(browser, ui_url, ui_logins):
    ctx, page = _logged_in(browser, ui_url, ui_logins["admin"])
    yield page
    ctx.close()


def screenshot(page, name: str) -> None:
    """The top of the page at 1280 px, as JPEG (the pages are mostly photos: a tenth of the PNG's size)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.jpg"), type="jpeg", quality=80)


UNLABELED_CONTROLS = """() => Array.from(document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button'))
    .filter((e) => e.getClientRects().length > 0)
    .filter((e) => {
        const byLabel = Array.from(e.labels || []).map((l) => l.textContent).join('').trim();
        const own = e.getAttribute('aria-label') || e.getAttribute('title')
            || (e.tagName === 'BUTTON' ? e.textContent.trim() : '');
        const by = e.getAttribute('aria-labelledby');
        const ref = by ? (document.getElementById(by)?.textContent || '').trim() : '';
        return !(byLabel || own || ref);
    })
    .map((e) => e.outerHTML.slice(0, 160))"""


def assert_controls_labeled(page) -> None:
    """Every visible input, select, textarea and button has an accessible name (a label, aria-label or text)."""
    missing = page.evaluate(UNLABELED_CONTROLS)
    assert not missing, f"controls without a label: {missing}"


def tab_to(page, locator, limit: int = 60) -> None:
    """Press Tab until `locator` has the focus: the control is reachable with the keyboard alone."""
    for _ in range(limit):
        if locator.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{locator} is not reachable with Tab")


POST_FORM = """async ([path, fields]) => {
    const token = document.querySelector('meta[name=csrftoken]').content;
    const body = new URLSearchParams({...fields, csrftoken: token}).toString();
    const r = await fetch(path, {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'},
        body, redirect: 'manual'});
    return [r.status, await r.text()];
}"""


def post_form(page, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """POST a form from the page itself with a valid CSRF token (so a refusal is the permission's): status, body."""
    status, body = page.evaluate(POST_FORM, [path, fields])
    return status, body
