"""``shopfloor escalations``, ``approve``, ``reject``, ``change``: answer a run from elsewhere.

A headless run waiting on a human (``--escalations wait``) is answered through storage, not
through its process: these commands read the open escalations from the database and post a
decision into the run's inbox, where the run's engine picks it up and logs the
EscalationResolved itself. So they work against a run in another process, or on another host
sharing the PostgreSQL database. The decider is recorded as ``human:<login name>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from storage.records import EscalationRecord
from storage.store import SqlEventStore
from tui.commands.common import EXIT_OK, UsageError, add_db_option, open_store

VERBS: dict[str, tuple[str, ...]] = {
    "approve": ("approve", "accept", "retry", "raise", "continue", "yes"),
    "reject": ("reject", "skip", "stop", "abort", "no"),
    "change": ("change", "revise"),
}
"""Each command's decision, as the first of these that the escalation offers."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser("escalations", help="list escalations waiting for a human")
    listing.add_argument("run_id", nargs="?", help="only this run (a unique prefix is enough)")
    listing.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    add_db_option(listing)
    listing.set_defaults(handler=cmd_escalations)

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
        p.set_defaults(handler=cmd_decide, verb=verb)


def decider() -> str:
    """``human:<login name>`` of whoever runs the command."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"human:{user}"


def choose_option(verb: str, record: EscalationRecord) -> str:
    """The escalation's option that ``verb`` means; UsageError when it offers none."""
    for option in VERBS[verb]:
        if option in record.options:
            return option
    raise UsageError(
        f"escalation {record.escalation_id} has no {verb} option; "
        f"its options: {', '.join(record.options) or 'none'}"
    )


def record_json(record: EscalationRecord) -> dict[str, Any]:
    """An open escalation as ``shopfloor escalations --json`` prints it."""
    return {
        "run_id": record.run_id,
        "id": record.escalation_id,
        "kind": record.kind,
        "question": record.question,
        "options": list(record.options),
        "default": record.default,
        "task_id": record.task_id,
        "raised_at": record.raised_at.isoformat(),
    }


async def find_open(
    store: SqlEventStore, escalation_id: str, run_ref: str | None
) -> EscalationRecord:
    """The one open escalation with this id (in ``run_ref``'s run when given)."""
    run_id = await store.resolve_run_id(run_ref) if run_ref else None
    matches = [r for r in await store.open_escalations(run_id) if r.escalation_id == escalation_id]
    if not matches:
        where = f" in run {run_id}" if run_id else ""
        raise UsageError(f"no open escalation {escalation_id!r}{where}")
    if len(matches) > 1:
        runs = ", ".join(r.run_id for r in matches)
        raise UsageError(
            f"escalation {escalation_id!r} is open in several runs ({runs}); give --run RUN_ID"
        )
    return matches[0]


async def cmd_escalations(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        run_id = await store.resolve_run_id(args.run_id) if args.run_id else None
        records = await store.open_escalations(run_id)
    if args.json:
        print(json.dumps([record_json(r) for r in records], indent=2))
        return EXIT_OK
    if not records:
        console.print("no escalations waiting")
        return EXIT_OK
    table = Table("run", "id", "kind", "task", "options", "question", box=None)
    for r in records:
        options = Text(" / ").join(
            Text(o, style="bold" if o == r.default else "") for o in r.options
        )
        table.add_row(r.run_id, r.escalation_id, r.kind, r.task_id or "-", options, r.question)
    console.print(table)
    console.print("answer with: shopfloor approve|reject|change ID", style="dim")
    return EXIT_OK


async def cmd_decide(args: argparse.Namespace, console: Console) -> int:
    note = str(getattr(args, "reason", "") or getattr(args, "note", "") or "")
    if args.verb == "change" and not note.strip():
        raise UsageError("change needs a --note saying what to change")
    async with await open_store(args) as store:
        record = await find_open(store, args.escalation_id, args.run)
        decision = choose_option(args.verb, record)
        await store.post_decision(record.run_id, record.escalation_id, decision, decider(), note)
    console.print(
        Text.assemble(
            f"{decision} posted for escalation ",
            (record.escalation_id, "bold"),
            " of run ",
            (record.run_id, "bold"),
            "; the run takes it at its next look at the inbox",
        )
    )
    return EXIT_OK
