"""``shopfloor abandon``'s command line."""

from __future__ import annotations

import argparse

from tui.parsers import Handler, add_db_option
from tui.parsers.run import add_trace_options


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("abandon", help="end a stopped run for good (it is not resumed)")
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    p.add_argument("--reason", default="", help="why, kept as the run's reason")
    add_trace_options(p)
    add_db_option(p)
    p.set_defaults(handler=Handler("abandon", "cmd_abandon"))
