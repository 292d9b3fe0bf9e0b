"""``shopfloor escalations``, ``answer``, ``approve``, ``reject`` and ``change``'s command
lines."""

from __future__ import annotations

import argparse

from tui.parsers import Handler, add_db_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser("escalations", help="list escalations waiting for a human")
    listing.add_argument("run_id", nargs="?", help="only this run (a unique prefix is enough)")
    listing.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    listing.add_argument(
        "--context",
        action="store_true",
        help="also print each one's context: the diff, the failing output, the findings",
    )
    add_db_option(listing)
    listing.set_defaults(handler=Handler("escalations", "cmd_escalations"))

    answer = sub.add_parser(
        "answer",
        help="answer an escalation with any of its options (retry, skip, abort, ...)",
        description="Answer an escalation with any of its options (retry, skip, abort, ...): "
        "`shopfloor escalations` lists each escalation's options and the command for each.",
    )
    answer.add_argument("escalation_id", metavar="ID", help="escalation id, as listed")
    answer.add_argument("option", metavar="OPTION", help="one of the escalation's options")
    answer.add_argument("--run", help="the run it belongs to, when several runs have this id")
    answer.add_argument(
        "--note", default="", help="a note kept in the run's log (change and revise need one)"
    )
    add_db_option(answer)
    answer.set_defaults(handler=Handler("escalations", "cmd_decide"), verb="answer")

    helps = {
        "approve": "approve an escalation (accept, retry, raise the budget: its yes)",
        "reject": "reject an escalation (reject, skip, stop: its no)",
        "change": "ask for changes (change, revise) with a note",
    }
    for verb, text in helps.items():
        p = sub.add_parser(verb, help=text)
        p.add_argument("escalation_id", metavar="ID", help="escalation id, as listed")
        p.add_argument("--run", help="the run it belongs to, when several runs have this id")
        if verb == "reject":
            p.add_argument("--reason", default="", help="why (kept in the run's log)")
        elif verb == "change":
            p.add_argument("--note", required=True, help="what to change")
        else:
            p.add_argument("--note", default="", help="a note kept in the run's log")
        add_db_option(p)
        p.set_defaults(handler=Handler("escalations", "cmd_decide"), verb=verb)
