"""``shopfloor tail``'s command line."""

from __future__ import annotations

import argparse

from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = sub.add_parser(
        "tail",
        help="print a run's progress lines, then follow them until it ends",
        description="Print a run's progress lines, then follow them until it ends: the "
        "lines its headless console printed, read from the event log (the run may be on "
        "another host sharing the database). Exit code as the run's: 0 shipped or reported, "
        "1 failed, 3 killed; 1 also when no process drives the run any more (the line "
        "says how to resume it).",
        epilog="example: shopfloor tail 81205d25 --db postgresql+asyncpg://me@db/factory",
    )
    tail.add_argument("run_id", help="run id (a unique prefix is enough)")
    tail.add_argument(
        "--no-follow", action="store_true", help="print what is logged so far and stop"
    )
    tail.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines or one JSON event per line",
    )
    tail.add_argument("-v", "--verbose", action="store_true", help="also every agent line")
    add_db_option(tail)
    tail.set_defaults(handler=Handler("tail", "cmd_tail"))
