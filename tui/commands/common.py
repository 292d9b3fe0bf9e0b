"""What every command shares: exit codes, the usage error, opening the store."""

from __future__ import annotations

import argparse
import math

from storage.paths import default_db_url
from storage.store import SqlEventStore

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_KILLED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(ValueError):
    """Wrong arguments; one line."""


def positive_float(text: str) -> float:
    """argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: $SHOPFLOOR_DB or the data directory)")


async def open_store(args: argparse.Namespace) -> SqlEventStore:
    """The event store named by ``--db`` / $SHOPFLOOR_DB / the default."""
    return await SqlEventStore.open(default_db_url(getattr(args, "db", None)))
