"""`mediatag users add | list | remove | passwd`: logins for people, on the operator's connection (a superuser or
CREATEROLE login: see users.py)."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .cli_output import print_result
from .users import ROLES, create_login, list_logins, remove_login, set_password


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, whether it was generated): --password, MEDIATAG_NEW_PASSWORD, asked on a terminal, or random."""
    given = args.password or os.environ.get("MEDIATAG_NEW_PASSWORD")
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


def _add(args: argparse.Namespace) -> int:
    password, generated = _password(args)
    with _connect() as conn:
        create_login(conn, args.name, args.role, password)
    print(f"login {args.name} is a mediatag {args.role}" + (f"; password: {password}" if generated else ""))
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

    p = actions.add_parser("add", help="create a login with a mediatag role (or change an existing one's)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=list(ROLES))
    p.add_argument("--password", help=new_password)
    p.set_defaults(func=_add)

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
