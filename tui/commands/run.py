"""``shopfloor demo`` and ``shopfloor run``: start a factory run and report how it ended."""

from __future__ import annotations

import argparse
import logging
import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from engine.config import EscalationPolicy
from engine.events import Outcome
from engine.redaction import Redactor
from engine.state import RunState
from storage.paths import data_home, db_option
from storage.writer_launch import WriterLaunch
from telemetry.options import TelemetryOptions
from tui.budget_flags import budget_from_args, stopped_line
from tui.commands.common import db_url, open_store
from tui.commands.exit_codes import UsageError
from tui.commands.history import STOPPED, exit_code, left_branch_line
from tui.commands.launch import run_request
from tui.config import Settings, load_settings
from tui.notify_target import NotifyTarget

if TYPE_CHECKING:
    from tui.run_plan import Front


def telemetry_from_args(args: argparse.Namespace) -> TelemetryOptions:
    """The run's telemetry options from the command line."""
    return TelemetryOptions(
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        metrics_linger_s=args.metrics_linger or 0.0,
        trace_file=args.trace_file,
        otel_content=args.otel_content,
    )


def settings_from_args(
    args: argparse.Namespace, playbook: Path | None = None, default_config: Path | None = None
) -> Settings:
    """The config file's settings with the command line's overrides on top."""
    settings = load_settings(args.config or default_config)
    if playbook is not None:
        settings = replace(settings, playbook=playbook.resolve())
    if args.speed is not None:
        settings = replace(settings, speed=args.speed)
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        settings = replace(settings, engine=replace(settings.engine, workers=args.workers))
    policy = args.escalations
    if policy is None and "escalation_policy" not in settings.engine_keys:
        # Nobody watches a headless run: the twin answers unless told otherwise (a flag, or
        # the config file's escalation_policy, even one that names the engine's default).
        policy = "wait" if args.tui else "twin"
    return with_escalation_options(settings, policy, args.escalation_timeout)


def with_escalation_options(
    settings: Settings, policy: EscalationPolicy | None, timeout_s: float | None
) -> Settings:
    """``settings`` with ``--escalations`` and ``--escalation-timeout`` (None: as they are)."""
    engine = settings.engine
    if policy is not None:
        engine = replace(engine, escalation_policy=policy)
    if timeout_s is not None:
        engine = replace(engine, escalation_timeout_s=timeout_s)
    return replace(settings, engine=engine)


def front_from_args(args: argparse.Namespace) -> Front:
    if args.tui:
        return "tui"
    return "json" if args.log_format == "json" else "headless"


async def _resume_unfinished(
    args: argparse.Namespace,
    console: Console,
    launch: WriterLaunch,
    notify: NotifyTarget | None,
) -> int | None:
    """With ``--resume-unfinished``, the newest unfinished run of the same request on the
    same repository carried on to its end (its exit code), as ``shopfloor resume`` does with
    its settings and budgets; refused while a live process drives it. Without the flag, a
    warning that such a run exists. None: a new run starts."""
    from tui.commands.history import load_stopped_run
    from tui.commands.resume import (
        newest_unfinished,
        no_database_yet,
        resume_run,
        unfinished_warning,
    )

    if await no_database_yet(args):  # no run yet, none made here
        return None
    # Opened once: the unfinished run is looked for on it, its log read on it, and a resumed
    # run goes on with it.
    store = await open_store(args)
    try:
        found = await newest_unfinished(store, run_request(args), args.repo.resolve())
        if found is None:
            return None
        if not args.resume_unfinished:
            warning = f"warning: {unfinished_warning(*found, db_option(db_url(args)))}"
            if front_from_args(args) == "json":
                logging.getLogger(__name__).warning("%s", warning)
            else:
                console.print(Text(warning, style="bold yellow"), soft_wrap=True)
            return None
        state = await load_stopped_run(store, found[0].run_id, "resumed")  # refuses a live one
        if state.outcome is not Outcome.RUNNING:  # it ended since: a new run
            return None
        return await resume_run(args, console, store, state, None, notify, launch)
    finally:
        await store.close()  # after a run: closed already


async def start(
    args: argparse.Namespace,
    console: Console,
    launch: WriterLaunch,
    notify: NotifyTarget | None,
) -> int:
    """Run the factory as ``args`` say (checked by :mod:`tui.commands.launch`, which spawned
    the storage writer's process ``launch`` and took ``notify`` from the environment); the
    exit code."""
    database = db_url(args)  # a bad --db is refused before a demo repository is made
    # Imported here, not at the top: with every provider, gate and exporter a run wires up,
    # it takes 400 ms, which the writer process's start overlaps.
    from tui.compose import execute_run
    from tui.demo_repo import demo_dna, demo_playbook, example_config, prepare_demo_repo
    from tui.demo_upkeep import prune_demos, removed_line
    from tui.run_plan import RunPlan

    if args.command == "demo":
        playbook = demo_playbook(args.example)
        # The DNA first: a data folder it cannot be copied to leaves no demo repository
        settings = demo_dna(
            args.example, settings_from_args(args, playbook, example_config(args.example))
        )
        if args.out is None:  # the data home's demos/: the ended ones are bounded
            pruned = await prune_demos(data_home() / "demos", database)
            if (said := removed_line(pruned)) and front_from_args(args) != "json":
                console.print(said, soft_wrap=True, highlight=False)
        repo, request, playbook = prepare_demo_repo(args.example, args.out)
    else:
        request = run_request(args)
        repo = args.repo.resolve()
        settings = settings_from_args(args, args.playbook)
        # Checked once the command is known to be good: a restarted unit's carries on its run.
        resumed = await _resume_unfinished(args, console, launch, notify)
        if resumed is not None:
            return resumed
    plan = RunPlan(
        request=request,
        repo=repo,
        db_url=database,
        settings=settings,
        front=front_from_args(args),
        verbose=args.verbose,
        telemetry=telemetry_from_args(args),
        mode=args.mode,
        budget=budget_from_args(args),
        report_dir=args.out.resolve() if args.command == "run" and args.out else None,
        notify=notify,
    )
    state = await execute_run(plan, console, launch)
    if plan.front != "json":
        print_ending(state, console, db_option(plan.db_url))
    return exit_code(state)


def print_ending(state: RunState, console: Console, db: str = "") -> None:
    """The closing lines: run id, outcome, reason, where the shipped branch is; how to go on
    with a run that stopped, its commands carrying ``db``, the ``--db`` of its database
    (:func:`storage.paths.db_option`)."""
    sim = (" SIM", "bold magenta") if state.simulated else ""
    # Unfinished when this process ends is stopped, as ``runs`` and ``status`` call it.
    outcome = STOPPED if state.outcome is Outcome.RUNNING else state.outcome.value
    console.print(Text.assemble("run ", (state.run_id, "bold"), sim, ": ", (outcome, "bold")))
    if state.reason:  # a reason may quote an agent, a gate or a provider's error
        console.print(f"reason: {Redactor.from_environ().redact(state.reason)}", highlight=False)
    console.print(f"repository: {state.repo}", soft_wrap=True, highlight=False)
    if state.branch:
        console.print(
            Text.assemble("shipped branch: ", (state.branch, "bold green")), soft_wrap=True
        )
        # From the run's base commit: right even when the user's branch moved on since, or
        # has no commits at all (a run on a fresh ``git init``).
        base = state.base_commit[:10] or state.base_branch
        console.print(
            f"  git -C {shlex.quote(state.repo)} log --oneline {base}..{state.branch}",
            soft_wrap=True,
            highlight=False,
        )
    elif state.outcome is Outcome.RUNNING:
        console.print(stopped_line(state, db=db), soft_wrap=True, highlight=False)
    elif left := left_branch_line(state):
        console.print(left, soft_wrap=True, highlight=False, markup=False)
