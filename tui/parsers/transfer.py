"""``shopfloor export`` and ``shopfloor import``'s command lines."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser("export", help="write a run's events as JSON lines")
    export.add_argument("run_id", help="run id (a unique prefix is enough)")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    add_db_option(export)
    export.set_defaults(handler=Handler("transfer", "cmd_export"))

    imp = sub.add_parser("import", help="store a run exported with `shopfloor export`")
    imp.add_argument("file", help="JSON lines file, or - for stdin")
    add_db_option(imp)
    imp.set_defaults(handler=Handler("transfer", "cmd_import"))
