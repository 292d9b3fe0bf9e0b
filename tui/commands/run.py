"""``shopfloor demo`` and ``shopfloor run``: start a factory run and report how it ended."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from engine.config import EscalationPolicy
from engine.events import Outcome
from engine.redaction import Redactor
from engine.secrets import hide_process_environment
from engine.state import RunState
from storage.run_writer import WriterLaunch
from telemetry.session import TelemetryOptions
from tui.argtypes import positive_float
from tui.budget_flags import add_budget_options, budget_from_args, stopped_line
from tui.commands.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_KILLED,
    EXIT_OK,
    UsageError,
    add_db_option,
    db_url,
)
from tui.commands.history import STOPPED, left_branch_line
from tui.config import Settings, load_settings
from tui.systemd_notify import NotifyTarget

if TYPE_CHECKING:
    from tui.run_plan import Front


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs the factory."""
    front = p.add_mutually_exclusive_group()
    front.add_argument("--headless", action="store_true", help="print progress lines (default)")
    front.add_argument("--tui", action="store_true", help="run with the full-screen control room")
    p.add_argument("--config", type=Path, help="shopfloor.toml to read")
    add_db_option(p)
    p.add_argument("--speed", type=positive_float, help="SIM latency divisor (2 = twice as fast)")
    p.add_argument("--workers", type=int, help="attempts that may run at once")
    add_budget_options(p)
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="headless output: text lines or one JSON event per line",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print every agent line")
    p.add_argument(
        "--mode",
        choices=["create", "update", "audit"],
        help="create (new code), update (a delta on existing code, nothing green may break) "
        "or audit (a report, no changes); default: the example's, else create on an empty "
        "repository and update otherwise",
    )
    add_telemetry_options(p)


def add_telemetry_options(
    p: argparse.ArgumentParser, *, escalations_default: str = "twin headless, wait in the TUI"
) -> None:
    """Escalation policy, metrics endpoint and trace options of a run."""
    p.add_argument(
        "--escalations",
        choices=["wait", "twin", "reject"],
        help="who answers escalations: wait for a human, the twin, or reject "
        f"(default: {escalations_default})",
    )
    p.add_argument(
        "--escalation-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="take an escalation's default after this many seconds",
    )
    p.add_argument("--metrics-port", type=port_number, metavar="N", help="serve /metrics on N")
    p.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for /metrics (default 127.0.0.1)"
    )
    p.add_argument(
        "--metrics-linger",
        type=positive_float,
        metavar="SECONDS",
        help="keep serving /metrics this long after the run ends (default: until one more "
        "scrape, if it was scraped; two scrape intervals at most)",
    )
    p.add_argument("--trace-file", type=Path, help="also write trace spans as JSON lines here")
    p.add_argument(
        "--otel-content",
        action="store_true",
        help="put the request and agents' completions on trace spans (off by default)",
    )


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0-65535 (0 = any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be within 0-65535: {text!r}")
    return value


def telemetry_from_args(args: argparse.Namespace) -> TelemetryOptions:
    """The run's telemetry options from the command line."""
    return TelemetryOptions(
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        metrics_linger_s=args.metrics_linger or 0.0,
        trace_file=args.trace_file,
        otel_content=args.otel_content,
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run the factory on a bundled example with the SIM provider")
    demo.add_argument("--example", default="inventory", help="bundled example (default: inventory)")
    demo.add_argument("--out", type=Path, help="folder for the demo repository (new or empty)")
    add_run_options(demo)
    demo.set_defaults(handler=cmd_run)

    run = sub.add_parser("run", help="run the factory on a repository")
    run.add_argument("request", nargs="?", help="what to build, in plain words")
    run.add_argument("--repo", type=Path, required=True, help="the git repository to work on")
    run.add_argument("--request-file", type=Path, help="read the request from a file")
    run.add_argument("--playbook", type=Path, help="script the SIM provider with this playbook")
    run.add_argument("--out", type=Path, help="folder for an audit's report (audit.md, .json)")
    run.add_argument(
        "--resume-unfinished",
        action="store_true",
        help="if a run of this same request on this repository is unfinished (stopped or "
        "killed), resume it instead of starting a new one, as `shopfloor resume` would: with "
        "the settings it started with and its own budgets (for a unit's Restart=)",
    )
    add_run_options(run)
    run.set_defaults(handler=cmd_run)


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


def exit_code(state: RunState) -> int:
    """The process exit code for how a run ended."""
    return {
        Outcome.SHIPPED: EXIT_OK,
        Outcome.REPORTED: EXIT_OK,
        Outcome.FAILED: EXIT_FAILED,
        Outcome.KILLED: EXIT_KILLED,
        Outcome.RUNNING: EXIT_INTERRUPTED,
    }[state.outcome]


def _request(args: argparse.Namespace) -> str:
    if args.request_file is not None:
        try:
            text = str(args.request_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise UsageError(
                f"cannot read request file {args.request_file}: {exc.strerror}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise UsageError(f"request file {args.request_file} is not UTF-8 text") from exc
        if not text:
            raise UsageError(f"request file {args.request_file} is empty")
        return text
    if args.request:
        return str(args.request)
    raise UsageError("give the request as an argument or with --request-file")


async def cmd_run(args: argparse.Namespace, console: Console) -> int:
    hide_process_environment()  # before any command starts: none may read this one's keys
    notify = NotifyTarget.take(os.environ)  # nothing the run starts inherits it
    database = db_url(args)  # a bad --db is refused before a demo repository is made
    # The storage writer's process starts first (the database is a file or PostgreSQL): it
    # imports while this one imports the composition root and sets the run up.
    launch = await WriterLaunch.spawn()
    try:
        return await _run(args, console, database, launch, notify)
    finally:
        await launch.discard()  # set-up failed before the run took it: no child is left


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
    from tui.commands.resume import newest_unfinished, resume_run, unfinished_warning

    found = await newest_unfinished(args, _request(args), args.repo.resolve())
    if found is None:
        return None
    if not args.resume_unfinished:
        warning = f"warning: {unfinished_warning(*found)}"
        if front_from_args(args) == "json":
            logging.getLogger(__name__).warning("%s", warning)
        else:
            console.print(Text(warning, style="bold yellow"), soft_wrap=True)
        return None
    state = await load_stopped_run(args, found[0].run_id, "resumed")  # refuses a live one
    if state.outcome is not Outcome.RUNNING:  # it ended since: a new run
        return None
    return await resume_run(args, console, state, None, notify, launch)


async def _run(
    args: argparse.Namespace,
    console: Console,
    database: str,
    launch: WriterLaunch,
    notify: NotifyTarget | None,
) -> int:
    # Imported here, not at the top: with every provider, gate and exporter a run wires up,
    # it takes 400 ms, which the writer process's start overlaps.
    from tui.compose import execute_run
    from tui.demo_repo import demo_dna, example_config, prepare_demo_repo
    from tui.run_plan import RunPlan

    if args.command == "demo":
        repo, request, playbook = prepare_demo_repo(args.example, args.out)
        settings = demo_dna(
            args.example, settings_from_args(args, playbook, example_config(args.example))
        )
    else:
        request = _request(args)
        repo = args.repo.resolve()
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise UsageError(f"--out {args.out} is a file; an audit's report needs a folder")
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
        print_ending(state, console)
    return exit_code(state)


def print_ending(state: RunState, console: Console) -> None:
    """The closing lines: run id, outcome, reason, where the shipped branch is."""
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
        console.print(stopped_line(state), soft_wrap=True, highlight=False)
    elif left := left_branch_line(state):
        console.print(left, soft_wrap=True, highlight=False, markup=False)
