"""``shopfloor resume``'s command line."""

from __future__ import annotations

import argparse

from tui.parsers import Handler, add_db_option
from tui.parsers.run import add_budget_options, add_telemetry_options


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("resume", help="carry on a run that was killed, interrupted or stopped")
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    front = p.add_mutually_exclusive_group()
    front.add_argument("--headless", action="store_true", help="print progress lines (default)")
    front.add_argument("--tui", action="store_true", help="run with the full-screen control room")
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="headless output: text lines or one JSON event per line",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print every agent line")
    add_telemetry_options(p, escalations_default="as the run started, or as it was last resumed")
    add_budget_options(p, resuming=True)
    add_db_option(p)
    p.set_defaults(handler=Handler("launch", "cmd_resume"))
