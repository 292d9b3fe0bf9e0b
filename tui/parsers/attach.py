"""``shopfloor attach``'s command line."""

from __future__ import annotations

import argparse

from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    attach = sub.add_parser("attach", help="open the control room on a run another process runs")
    attach.add_argument("run_id", help="run id (a unique prefix is enough)")
    add_db_option(attach)
    attach.set_defaults(handler=Handler("attach", "cmd_attach"))
