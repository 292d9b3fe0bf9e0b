"""``shopfloor db upgrade|rebuild|prune``'s command line."""

from __future__ import annotations

import argparse

from tui.argtypes import duration
from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database upkeep: upgrade, rebuild, prune")
    actions = db.add_subparsers(dest="db_action", required=True, metavar="ACTION")

    upgrade = actions.add_parser("upgrade", help="migrate the schema to this version")
    add_db_option(upgrade)
    upgrade.set_defaults(handler=Handler("db", "cmd_upgrade"))

    rebuild = actions.add_parser("rebuild", help="recompute runs/tasks/escalations/learnings")
    add_db_option(rebuild)
    rebuild.set_defaults(handler=Handler("db", "cmd_rebuild"))

    prune = actions.add_parser("prune", help="delete runs that finished long ago")
    prune.add_argument(
        "--older-than",
        type=duration,
        required=True,
        metavar="AGE",
        help="finished more than this long ago, e.g. 30d, 12h, 2w",
    )
    add_db_option(prune)
    prune.set_defaults(handler=Handler("db", "cmd_prune"))
