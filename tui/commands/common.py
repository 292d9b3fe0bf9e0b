"""Opening the store a command reads: the database ``--db`` names, checked first.

The exit codes and the usage error are tui/commands/exit_codes.py: a command that needs no
store (``doctor``, ``init``, ``dna``) and ``shopfloor`` itself name them without loading
SQLAlchemy.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from storage.errors import LOG_GONE_REMEDY
from storage.paths import DB_ENV, default_db_url, is_in_memory, parse_db_url
from storage.store import SqlEventStore
from tui.commands.exit_codes import UsageError


def db_url(args: argparse.Namespace) -> str:
    """The database URL named by ``--db`` / $SHOPFLOOR_DB / the default.

    An in-memory SQLite database is refused: it dies with this process, so a run on it could
    not be resumed and no other shell (``status``, ``attach``, ``approve``) would ever see it,
    and a query on it finds nothing. (The store itself still opens one: tests use it.)
    """
    explicit: str | None = getattr(args, "db", None)
    url = default_db_url(explicit)
    given = (explicit if explicit is not None else os.environ.get(DB_ENV, "")).strip()
    if given == ":memory:" or is_in_memory(url):
        where = f"--db {given}" if explicit is not None else f"${DB_ENV}={given}"
        raise UsageError(
            f"{where} is an in-memory database, which keeps nothing after this process "
            "(no resume; status, attach and approve in another shell see nothing); give a "
            "database file (e.g. --db runs.db) or postgresql+asyncpg://user@host/db"
        )
    return url


async def open_store(args: argparse.Namespace, *, create: bool = False) -> SqlEventStore:
    """The event store named by ``--db`` / $SHOPFLOOR_DB / the default (see :func:`db_url`).

    A SQLite file named by ``--db`` or $SHOPFLOOR_DB must exist unless ``create`` (``db
    upgrade``, ``serve-metrics``): ``runs --db factroy.db``, or a PostgreSQL database's bare
    name, made an empty SQLite file in the current folder and said "no runs yet".
    """
    url = db_url(args)
    if not create:
        refuse_a_missing_sqlite_file(args, url)
    return await SqlEventStore.open(url)


def refuse_a_missing_sqlite_file(args: argparse.Namespace, url: str) -> None:
    """UsageError when the database named (not the data folder's default) is a SQLite file
    that does not exist: a typo, or a PostgreSQL database given by its name."""
    explicit: str | None = getattr(args, "db", None)
    given = (explicit if explicit is not None else os.environ.get(DB_ENV, "")).strip()
    parsed = parse_db_url(url)
    if not given or parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database)
    if path.exists():
        return
    where = f"--db {given}" if explicit is not None else f"${DB_ENV}={given}"
    leases = path.with_name(path.name + ".leases")
    if leases.is_dir():  # runs were driven on it: not a typo, a database that went
        raise UsageError(
            f"{where}: no database at {path}, though runs were driven on one there (their "
            f"leases are in {leases}): it was deleted or moved; {LOG_GONE_REMEDY}"
        )
    raise UsageError(
        f"{where}: no database at {path} (a plain path names a SQLite file; a PostgreSQL "
        "database is postgresql+asyncpg://user@host/db); `shopfloor run` or `shopfloor db "
        "upgrade` creates one"
    )
