"""What every command shares: exit codes, the usage error, opening the store."""

from __future__ import annotations

import argparse

from storage.paths import default_db_url
from storage.store import SqlEventStore

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_KILLED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(ValueError):
    """Wrong arguments; one line."""


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: $SHOPFLOOR_DB or the data directory)")


async def open_store(args: argparse.Namespace) -> SqlEventStore:
    """The event store named by ``--db`` / $SHOPFLOOR_DB / the default."""
    return await SqlEventStore.open(default_db_url(getattr(args, "db", None)))
