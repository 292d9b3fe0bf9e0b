"""``shopfloor doctor``'s command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.argtypes import positive_float
from tui.parsers import Handler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check each configured model with a short request")
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="SPEC",
        help="check this model spec (repeatable); default: the configured models",
    )
    p.add_argument(
        "--config", type=Path, help="shopfloor.toml whose [models] and [gates] python to check"
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=Path(),
        help="the repository whose Python the gates would use (default: the current folder)",
    )
    p.add_argument("--playbook", type=Path, help="playbook for sim: specs")
    p.add_argument(
        "--timeout", type=positive_float, default=30.0, help="seconds per request (default 30)"
    )
    p.set_defaults(handler=Handler("doctor", "cmd_doctor"))
