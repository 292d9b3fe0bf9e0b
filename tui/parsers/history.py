"""``shopfloor runs`` and ``shopfloor status``'s command lines."""

from __future__ import annotations

import argparse

from tui.argtypes import positive_int, repo_filter, since_time
from tui.parsers import Handler, add_db_option

OUTCOME_CHOICES = ("running", "shipped", "reported", "failed", "killed", "stopped")
"""What ``runs --outcome`` takes: each :class:`~engine.events.Outcome`'s value, then
:data:`tui.commands.history.STOPPED`. Spelled out, so that parsing loads no event models
(a test checks them against both)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = sub.add_parser("runs", help="list runs, newest first")
    runs.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    runs.add_argument("--limit", type=positive_int, default=50, help="at most this many runs")
    runs.add_argument(
        "--repo",
        type=repo_filter,
        help="only runs on this repository (its path, from here too, or last part)",
    )
    runs.add_argument(
        "--outcome",
        choices=OUTCOME_CHOICES,
        help="only runs that ended this way, or are under way (running: a process drives "
        "it; stopped: none does)",
    )
    runs.add_argument(
        "--since",
        type=since_time,
        metavar="WHEN",
        help="only runs started since: an age (7d, 12h) or a date (2025-03-01)",
    )
    add_db_option(runs)
    runs.set_defaults(handler=Handler("history", "cmd_runs"))

    status = sub.add_parser("status", help="one run's state, folded from its event log")
    status.add_argument("run_id", help="run id (a unique prefix is enough)")
    status.add_argument("--json", action="store_true", help="JSON instead of a table")
    status.add_argument(
        "--plan",
        action="store_true",
        help="also print the plan: spec, acceptance criteria, every task as planned",
    )
    add_db_option(status)
    status.set_defaults(handler=Handler("history", "cmd_status"))
