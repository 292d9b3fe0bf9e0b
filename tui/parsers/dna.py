"""``shopfloor dna show|path|edit|accept``'s command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.parsers import Handler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dna = sub.add_parser("dna", help="the owner's DNA: show, edit, path, accept proposals")
    actions = dna.add_subparsers(dest="dna_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the DNA and the pending proposals")
    path = actions.add_parser("path", help="print where the DNA file is")
    edit = actions.add_parser("edit", help="open the DNA in $EDITOR and check it after")
    accept = actions.add_parser("accept", help="move proposed entries into the DNA")
    accept.add_argument("ids", nargs="*", metavar="ID", help="proposal ids (unique prefixes)")
    accept.add_argument("--all", action="store_true", help="accept every pending proposal")
    for parser in (show, path, edit, accept):
        parser.add_argument("--config", type=Path, help="shopfloor.toml naming [twin] dna")
        parser.add_argument("--dna", type=Path, help="the DNA file itself (beats --config)")
        parser.set_defaults(handler=Handler("dna", "cmd_dna"))
