"""``shopfloor learnings list|show|prune``'s command line."""

from __future__ import annotations

import argparse

from tui.argtypes import duration
from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    learn = sub.add_parser("learnings", help="what earlier runs learned: list, show, prune")
    actions = learn.add_subparsers(dest="learn_action", metavar="ACTION")
    listing = actions.add_parser("list", help="every learning (the default)")
    listing.add_argument("--run", help="only this run's (a unique prefix is enough)")
    listing.add_argument("--all", action="store_true", help="include pruned learnings")
    listing.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    show = actions.add_parser("show", help="one learning with its provenance")
    show.add_argument("learning_id", help="learning id (a unique prefix is enough)")
    prune = actions.add_parser("prune", help="retire learnings so runs no longer use them")
    prune.add_argument("ids", nargs="*", metavar="ID", help="learning ids to retire")
    prune.add_argument("--older-than", type=duration, metavar="AGE", help="e.g. 90d")
    for parser in (learn, listing, show, prune):
        add_db_option(parser)
        parser.set_defaults(handler=Handler("learnings", "cmd_learnings"))
