"""``shopfloor init``'s command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.parsers import Handler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a commented shopfloor.toml for a repository")
    p.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: .)")
    p.add_argument("--output", type=Path, help="where to write (default: REPO/shopfloor.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=Handler("init", "cmd_init"))
