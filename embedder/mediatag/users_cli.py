"""`mediatag users add | grant | revoke | list | remove | passwd`: logins for people, on the operator's connection (a
superuser or CREATEROLE login: see users.py). A login holds a set of roles (editor and query is common): `add` and
`grant` add to it, `revoke` takes only the roles named."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .cli_output import print_result
from .users import ROLES, add_login, grant_roles, list_logins, remove_login, revoke_roles, set_password


def _given_password(args: argparse.Namespace) -> str | None:
    return args.password or os.environ.get("MEDIATAG_NEW_PASSWORD")


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, whether it was generated): --password, MEDIATAG_NEW_PASSWORD, asked on a terminal, or random."""
    given = _given_password(args)
    if given:
        return given, False
    if sys.stdin.isatty():
        return getpass.getpass(f"password for {args.name}: "), False
    return secrets.token_urlsafe(18), True


@contextmanager
def _refusals() -> Iterator[None]:
    """users.py's refusals (no such login, not a mediatag login) as a message, not a traceback."""
    try:
        yield
    except (ValueError, PermissionError) as e:
        raise SystemExit(f"mediatag: {e}") from e


def _connect():
    from .db import connect

    return connect(autocommit=True)


def _exists(conn, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def _add(args: argparse.Namespace) -> int:
    with _connect() as conn, _refusals():
        # An existing login keeps its password unless one is given: adding a role never locks a person out.
        password, generated = _password(args) if not _exists(conn, args.name) else (_given_password(args), False)
        created, roles = add_login(conn, args.name, args.role, password)
    verb = "created; " if created else ""
    print(f"login {args.name} {verb}holds {', '.join(roles)}" + (f"; password: {password}" if generated else ""))
    return 0


def _grant(args: argparse.Namespace) -> int:
    with _connect() as conn, _refusals():
        roles = grant_roles(conn, args.name, args.roles)
    print(f"login {args.name} holds {', '.join(roles)}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with _connect() as conn, _refusals():
        roles = revoke_roles(conn, args.name, args.roles)
    print(f"login {args.name} holds {', '.join(roles)}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    password, generated = _password(args)
    with _connect() as conn, _refusals():
        set_password(conn, args.name, password)
    print(f"login {args.name} has a new password" + (f": {password}" if generated else ""))
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _connect() as conn, _refusals():
        revoked = remove_login(conn, args.name)
    print(f"removed login {args.name}" + (f" and its access to {revoked} dataset(s)" if revoked else ""))
    return 0


def _list(args: argparse.Namespace) -> int:
    with _connect() as conn:
        print_result(list_logins(conn), as_json=args.json)
    return 0


def add_user_commands(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="logins for people (needs a superuser or CREATEROLE connection)")
    actions = users.add_subparsers(dest="users_command", required=True)
    new_password = "default: MEDIATAG_NEW_PASSWORD, else asked on a terminal, else generated and printed"

    p = actions.add_parser(
        "add", help="create a login with mediatag roles, or give an existing one more (its roles and password stay)"
    )
    p.add_argument("name")
    p.add_argument(
        "--role",
        required=True,
        action="append",
        choices=list(ROLES),
        help="repeat for several (--role editor --role query)",
    )
    p.add_argument("--password", help=new_password + " (an existing login keeps its own unless given)")
    p.set_defaults(func=_add)

    p = actions.add_parser("grant", help="give a login more mediatag roles (it keeps the ones it holds)")
    p.add_argument("name")
    p.add_argument("roles", nargs="+", metavar="ROLE", choices=list(ROLES))
    p.set_defaults(func=_grant)

    p = actions.add_parser("revoke", help="take mediatag roles from a login (only those named)")
    p.add_argument("name")
    p.add_argument("roles", nargs="+", metavar="ROLE", choices=list(ROLES))
    p.set_defaults(func=_revoke)

    p = actions.add_parser("list", help="logins that hold a mediatag role, their roles and settings")
    p.add_argument("--json", action="store_true", help="print JSON (a line per login) for scripts")
    p.set_defaults(func=_list)

    p = actions.add_parser("remove", help="drop a mediatag login and the dataset access granted to it")
    p.add_argument("name")
    p.set_defaults(func=_remove)

    p = actions.add_parser("passwd", help="set a mediatag login's password")
    p.add_argument("name")
    p.add_argument("--password", help=new_password)
    p.set_defaults(func=_passwd)
