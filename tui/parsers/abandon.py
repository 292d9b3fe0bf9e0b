"""``shopfloor abandon``'s command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("abandon", help="end a stopped run for good (it is not resumed)")
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    p.add_argument("--reason", default="", help="why, kept as the run's reason")
    p.add_argument("--trace-file", type=Path, help="also write trace spans as JSON lines here")
    add_db_option(p)
    p.set_defaults(handler=Handler("abandon", "cmd_abandon"))
