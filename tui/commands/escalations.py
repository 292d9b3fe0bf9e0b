"""``shopfloor escalations``, ``answer``, ``approve``, ``reject``, ``change``: answer a run
from elsewhere.

A headless run waiting on a human (``--escalations wait``) is answered through storage, not
through its process: these commands read the open escalations from the database and post a
decision into the run's inbox, where the run's engine picks it up and logs the
EscalationResolved itself. So they work against a run in another process, or on another host
sharing the PostgreSQL database. The decider is recorded as ``human:<login name>``.

An answer comes too late when the escalation was answered already (the refusal says with
what, by whom and when) or its run has ended. After posting, the command watches the log for
a moment: it says that the run took the answer, or that another answer overtook it, or that
the run has not taken it yet (a run that is not running takes it when resumed).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.events import EscalationRaised, Outcome
from storage.answers import WaitingDecision, logged_answer
from storage.lease import live_runs
from storage.paths import db_option
from storage.records import EscalationRecord
from storage.store import SqlEventStore
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_OK, UsageError
from tui.decision_words import VERBS, option_for
from tui.plan_text import PLAN_ESCALATIONS
from tui.text import one_line, printable

CONFIRM_S = 3.0
"""How long ``approve`` waits to see the run take the decision (it polls its inbox every
fraction of a second while it runs) before saying it has not taken it yet."""
CONFIRM_POLL_S = 0.1

NEEDS_NOTE = VERBS["change"]
"""Options that ask for changes: the note says which, so answering with one needs it."""


def decider() -> str:
    """``human:<login name>`` of whoever runs the command."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"human:{user}"


def choose_option(verb: str, record: EscalationRecord) -> str:
    """The escalation's option that ``verb`` means; UsageError when it offers none."""
    option = option_for(record.options, VERBS[verb])
    if option is not None:
        return option
    raise UsageError(
        f"escalation {record.escalation_id} has no {verb} option; "
        f"its options: {', '.join(record.options) or 'none'}"
    )


def check_option(record: EscalationRecord, option: str) -> str:
    """``option`` when the escalation offers it; UsageError naming those it does."""
    if record.options and option not in record.options:
        raise UsageError(
            f"escalation {record.escalation_id} has no option {option!r}; "
            f"its options: {', '.join(record.options)}"
        )
    return option


def option_command(record: EscalationRecord, option: str, *, with_run: bool, db: str = "") -> str:
    """The command that answers the escalation with ``option`` (``--run`` when asked for:
    an id that waits in several runs needs it; ``db``: the ``--db`` of its database,
    :func:`storage.paths.db_option`)."""
    note = " --note TEXT" if option in NEEDS_NOTE else ""
    run = f" --run {record.run_id}" if with_run else ""
    return f"shopfloor answer {record.escalation_id} {option}{note}{run}{db}"


def record_json(record: EscalationRecord, db: str = "") -> dict[str, Any]:
    """An open escalation as ``shopfloor escalations --json`` prints it (its commands with
    ``db``, the ``--db`` of its database)."""
    return {
        "run_id": record.run_id,
        "id": record.escalation_id,
        "kind": record.kind,
        "question": record.question,
        "options": list(record.options),
        "default": record.default,
        "commands": {o: option_command(record, o, with_run=True, db=db) for o in record.options},
        "task_id": record.task_id,
        "raised_at": record.raised_at.isoformat(),
    }


def waiting_json(waiting: WaitingDecision) -> dict[str, Any]:
    """An answer posted but not taken yet, as ``escalations --json`` prints it."""
    return {
        "decision": waiting.decision,
        "decided_by": waiting.decided_by,
        "posted_at": waiting.posted_at.isoformat(),
    }


async def find_target(
    store: SqlEventStore, escalation_id: str, run_ref: str | None
) -> tuple[EscalationRecord, bool]:
    """The escalation ``ID`` (in ``run_ref``'s run when given) and whether it still waits.

    The one open in a running run, if there is one; else the latest with this id, which
    posting refuses with the reason (answered, by whom and when; the run has ended).
    UsageError when no escalation has this id, or when it waits in several runs.
    """
    run_id = await store.resolve_run_id(run_ref) if run_ref else None
    found = await store.find_escalations(escalation_id, run_id)
    if not found:
        where = f" in run {run_id}" if run_id else ""
        raise UsageError(
            f"no such escalation {escalation_id!r}{where}; "
            "`shopfloor escalations` lists those waiting"
        )
    waiting = [r for r, outcome in found if r.is_open and outcome is Outcome.RUNNING]
    if len(waiting) > 1:
        runs = ", ".join(r.run_id for r in waiting)
        raise UsageError(
            f"escalation {escalation_id!r} is open in several runs ({runs}); give --run RUN_ID"
        )
    if waiting:
        return waiting[0], True
    latest = max((r for r, _ in found), key=lambda r: r.decided_at or r.raised_at)
    return latest, False


async def until_answered(
    store: SqlEventStore, record: EscalationRecord, wait_s: float
) -> EscalationRecord | None:
    """The escalation once its run logged an answer, or None if none came in ``wait_s``
    seconds (or the run ended without one)."""
    deadline = time.monotonic() + wait_s
    while True:
        for now, outcome in await store.find_escalations(record.escalation_id, record.run_id):
            if not now.is_open:
                return now
            if outcome is not Outcome.RUNNING:
                return None
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(CONFIRM_POLL_S)


async def cmd_escalations(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        run_id = await store.resolve_run_id(args.run_id) if args.run_id else None
        records = await store.open_escalations(run_id)
        # Answered from another shell, not taken yet (its run stopped): said, so that nobody
        # answers it again.
        answered = await store.waiting_decisions(run_id) if records else {}
        driven = await live_runs(store, sorted({run for run, _ in answered}))
        contexts = await escalation_contexts(store, records) if args.context else {}
        db = db_option(store.url)  # the database the commands said act on
    if args.json:
        listed = [record_json(r, db) for r in records]
        for entry, r in zip(listed, records, strict=True):
            waiting = answered.get((r.run_id, r.escalation_id))
            entry["answered"] = None if waiting is None else waiting_json(waiting)
        if args.context:
            for entry, r in zip(listed, records, strict=True):
                entry["context"] = contexts.get((r.run_id, r.escalation_id), "")
        print(json.dumps(listed, indent=2))
        return EXIT_OK
    if not records:
        console.print("no escalations waiting")
        return EXIT_OK
    table = Table("run", "id", "kind", "task", "options", "question", box=None)
    for r in records:
        options = Text(" / ").join(
            Text(one_line(o), style="bold" if o == r.default else "") for o in r.options
        )
        waiting = answered.get((r.run_id, r.escalation_id))
        if waiting is not None:
            taker = (
                "the run takes it"
                if r.run_id in driven
                else f"waits for `shopfloor resume {r.run_id}{db}`"
            )
            options = Text(
                f"answered: {one_line(waiting.decision)} by {one_line(waiting.decided_by)}, "
                + taker,
                style="dim",
            )
        # A breaker's question quotes the failure: text the agent's code wrote. Drawn, not
        # obeyed as escapes.
        where = (r.run_id, r.escalation_id, r.kind, r.task_id or "-")
        table.add_row(*(one_line(cell) for cell in where), options, one_line(r.question))
    console.print(table)
    for r in records if args.context else []:
        console.print()
        console.print(
            Text.assemble((one_line(r.escalation_id), "bold"), f" (run {one_line(r.run_id)})"),
            one_line(r.question),
        )
        # The context quotes a failure, a diff or a model's findings: drawn, not obeyed.
        context = printable(contexts.get((r.run_id, r.escalation_id), "")).rstrip()
        for line in context.splitlines() or ["(no context given)"]:
            console.print(Text(f"  {line}"), soft_wrap=True)
        if r.kind in PLAN_ESCALATIONS:
            plan = f"  the plan: shopfloor status {r.run_id} --plan{db}"
            console.print(plan, style="dim", soft_wrap=True)
    # One id waiting in two runs (each run numbers its own from esc-1) needs the run named.
    shared = len({r.escalation_id for r in records}) < len(records)
    unanswered = [r for r in records if (r.run_id, r.escalation_id) not in answered]
    for r in unanswered:
        if not r.options:
            continue
        console.print()
        console.print(
            Text.assemble("answer ", (one_line(r.escalation_id), "bold"), f" of run {r.run_id}:")
        )
        for option in r.options:
            command = one_line(option_command(r, option, with_run=shared, db=db))
            console.print(Text(f"  {command}"), soft_wrap=True)
    if not unanswered:  # every one listed is answered already: nothing to approve
        return EXIT_OK
    hint = "shopfloor approve|reject|change ID" + (" --run RUN" if shared else "") + db
    console.print()
    console.print(  # one line, however wide: a command to copy, not prose to wrap
        f"or: {hint} (its yes, its no, changes with --note)",
        style="dim",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_OK


async def escalation_contexts(
    store: SqlEventStore, records: list[EscalationRecord]
) -> dict[tuple[str, str], str]:
    """(run, escalation id) -> the context it was raised with, read from each run's
    EscalationRaised events (the escalations table keeps the question, not the diff or
    output it quotes; the rest of the log is not read)."""
    contexts: dict[tuple[str, str], str] = {}
    for run_id in dict.fromkeys(r.run_id for r in records):
        for raised in await store.read(run_id, types=("EscalationRaised",)):
            if isinstance(raised, EscalationRaised):
                contexts[(run_id, raised.escalation_id)] = raised.context
    return contexts


async def cmd_decide(args: argparse.Namespace, console: Console) -> int:
    note = str(getattr(args, "reason", "") or getattr(args, "note", "") or "")
    named = str(args.option) if args.verb == "answer" else None
    if (args.verb == "change" or named in NEEDS_NOTE) and not note.strip():
        raise UsageError(f"{named or 'change'} needs a --note saying what to change")
    who = decider()
    async with await open_store(args) as store:
        record, waits = await find_target(store, args.escalation_id, args.run)
        if named is not None:
            decision = check_option(record, named) if waits else named
        elif waits:
            decision = choose_option(args.verb, record)
        else:  # refused below, for the reason that matters more than the options
            decision = option_for(record.options, VERBS[args.verb]) or args.verb
        # One line on refusal: no such escalation, already answered (by whom, when), the run
        # has ended, not one of its options.
        await store.post_decision(record.run_id, record.escalation_id, decision, who, note)
        driven = record.run_id in await live_runs(store, [record.run_id])
        # No process drives the run (stopped, killed): nothing will take the answer before a
        # resume, so there is nothing to wait for.
        answered = await until_answered(store, record, CONFIRM_S) if driven else None
    # The run logs the note as the store kept it, cleaned of secrets: compared with the
    # note as typed, an answer the run took was said to be another's.
    if answered is not None and (answered.decision, answered.decided_by, answered.note) != (
        (decision, who, store.posted_note(note))
    ):
        # The run took another answer first (a person, the twin, a timeout) and dropped ours.
        raise UsageError(
            f"escalation {record.escalation_id!r} of run {record.run_id} was answered "
            f"meanwhile: {logged_answer(answered)}; your {decision} was not used"
        )
    posted = Text.assemble(
        f"{decision} posted for escalation ",
        (record.escalation_id, "bold"),
        " of run ",
        (record.run_id, "bold"),
    )
    if not driven:
        posted.append(
            "; no process drives the run now (stopped or killed): "
            f"`shopfloor resume {record.run_id}{db_option(store.url)}` takes it"
        )
    elif answered is None:
        posted.append("; the run has not taken it yet")
    else:
        posted.append("; the run took it")
    console.print(posted, soft_wrap=True)
    return EXIT_OK
