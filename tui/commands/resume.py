"""``shopfloor resume RUN_ID``: carry on a run that was killed, interrupted or stopped.

The run's log is folded back into its RunState; the settings it started with (config file,
playbook, speed, workers, who answers escalations) come from its RunStarted, or from its
last RunResumed where a resume changed them (``--escalations``). Telemetry (``/metrics``,
traces) is per process and is asked for again here. The engine then reconciles the log with
the integration branch, restarts the attempts that were under way and goes on to the end.

A run stopped on its budget (its question answered "stop", or timed out overnight) goes on
with a higher one: ``--max-cost``, ``--max-tokens`` and the per-task ``--task-max-cost``,
``--task-max-tokens`` replace its limits (as configured, or as a "raise" left them), are
logged and hold at later resumes. Resumed without raising what it is over, it is refused
at once, with the command that raises it, rather than started only to ask the same question
again: unanswered overnight, that question stops the run again, having spent nothing but
the owner's time, and an owner who is at the command right now can say the number there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from engine.events import Outcome
from engine.redaction import Redactor
from engine.spend import BudgetLimits
from engine.state import RunState
from storage.lease import live_runs
from storage.paths import db_option, parse_db_url
from storage.records import RunRecord
from storage.store import SqlEventStore
from storage.writer_launch import WriterLaunch
from tui.budget_flags import budget_from_args, posted_answers
from tui.commands.common import db_url
from tui.commands.exit_codes import UsageError
from tui.commands.history import UNFINISHED_READ, exit_code
from tui.commands.run import (
    front_from_args,
    print_ending,
    telemetry_from_args,
    with_escalation_options,
)
from tui.config import Settings, load_settings
from tui.notify_target import NotifyTarget
from tui.run_plan import RunPlan


def settings_from_record(record: dict[str, str]) -> Settings:
    """The settings a run started with, from its RunStarted ``settings`` record."""
    config = record.get("config")
    settings = load_settings(Path(config) if config else None)
    if record.get("playbook"):
        settings = replace(settings, playbook=Path(record["playbook"]))
    if record.get("twin_dna"):
        settings = replace(settings, twin_dna=Path(record["twin_dna"]))
    try:
        if "speed" in record:
            settings = replace(settings, speed=float(record["speed"]))
        engine = settings.engine
        if "workers" in record:
            engine = replace(engine, workers=int(record["workers"]))
        if record.get("escalation_policy") in ("wait", "twin", "reject"):
            engine = replace(engine, escalation_policy=record["escalation_policy"])  # type: ignore[arg-type]
        if "escalation_timeout_s" in record:
            engine = replace(engine, escalation_timeout_s=float(record["escalation_timeout_s"]))
        settings = replace(settings, engine=engine)
    except ValueError as exc:
        raise UsageError(f"the run's stored settings are unreadable: {exc}") from exc
    return settings


async def resume_stopped(
    args: argparse.Namespace,
    console: Console,
    store: SqlEventStore,
    state: RunState,
    notify: NotifyTarget | None,
    launch: WriterLaunch,
) -> int:
    """``resume`` of the stopped run ``state`` (:func:`tui.commands.launch.cmd_resume` has
    refused what ``store`` alone shows, and spawned the storage writer's process ``launch``)
    to its end; the exit code."""
    return await resume_run(args, console, store, state, budget_from_args(args), notify, launch)


async def no_database_yet(args: argparse.Namespace) -> bool:
    """Whether the database is a SQLite file not made yet: no run was made there, and
    opening it would create it."""
    url = parse_db_url(db_url(args))
    file = url.database or ""
    if url.get_backend_name() != "sqlite" or file.startswith("file:"):
        return False
    return not await asyncio.to_thread(os.path.exists, file)


async def newest_unfinished(
    store: SqlEventStore, request: str, repo: Path
) -> tuple[RunRecord, str | None] | None:
    """The newest unfinished run of ``request`` on ``repo`` in ``store``, and the live process
    driving it (None: none does, it was stopped or killed); None when there is no such run.

    A unit's ``Restart=`` runs the same command again after a crash: the run it started
    then is the newest one of that request on that repository that has not ended."""
    masked = Redactor.from_environ().redact(request)  # as the run's log holds it
    records = await store.list_runs(UNFINISHED_READ, outcome=Outcome.RUNNING)
    same = [r for r in records if r.request in (request, masked) and Path(r.repo) == repo]
    if not same:
        return None
    return same[0], (await live_runs(store, [same[0].run_id])).get(same[0].run_id)


def unfinished_warning(record: RunRecord, driver: str | None, db: str = "") -> str:
    """What a new run says when the same request on the same repository is unfinished
    (``db``: the ``--db`` of the database it is in, :func:`storage.paths.db_option`)."""
    run, merged = record.run_id, f"{record.tasks_merged}/{record.tasks_total} merged"
    if driver is not None:
        return (
            f"run {run} of this same request on this repository is still running ({driver}, "
            f"{merged}): this starts another; `shopfloor attach {run}{db}` follows that one"
        )
    return (
        f"run {run} of this same request on this repository is unfinished (stopped, {merged}): "
        f"this starts another; `shopfloor resume {run}{db}` carries that one on, as `run "
        "--resume-unfinished` would"
    )


async def resume_run(
    args: argparse.Namespace,
    console: Console,
    store: SqlEventStore,
    state: RunState,
    budget: BudgetLimits | None,
    notify: NotifyTarget | None,
    launch: WriterLaunch | None = None,
) -> int:
    """Carry on the stopped run ``state`` to its end with this command's front, telemetry
    and escalation options; ``budget``: the limits that replace the run's (None: as they are).

    ``store``: the one its log was read on; the run goes on with it and closes it (the
    caller closes it too, when the set-up failed first: closing is idempotent)."""
    front = front_from_args(args)
    # --escalations: say, a run started in the TUI carries on unwatched.
    settings = with_escalation_options(
        settings_from_record(state.settings), args.escalations, args.escalation_timeout
    )
    plan = RunPlan(
        request=state.request,
        repo=Path(state.repo),
        db_url=db_url(args),
        settings=settings,
        front=front,
        verbose=args.verbose,
        telemetry=telemetry_from_args(args),
        resume=state,
        budget=budget,
        answers=await posted_answers(store, state.run_id),
        notify=notify,
    )
    # Imported here, not at the top: every provider, gate and exporter a run wires up
    # (``shopfloor --help`` and every other command loaded them with this module).
    from tui.compose import execute_run

    final = await execute_run(plan, console, launch, store)
    if front != "json":
        print_ending(final, console, db_option(plan.db_url))
    return exit_code(final)
