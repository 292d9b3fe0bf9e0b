"""``shopfloor demo`` and ``shopfloor run``'s command lines, and the options every command
that runs the factory shares (``resume`` takes the telemetry and budget ones)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui.argtypes import given_path, port_number, positive_duration, positive_float, positive_int
from tui.parsers import Handler, add_db_option


def add_budget_options(p: argparse.ArgumentParser, *, resuming: bool = False) -> None:
    """``--max-tokens``, ``--max-cost``, ``--max-duration``, ``--task-max-tokens``,
    ``--task-max-cost`` (:data:`tui.budget_flags.FLAGS`)."""
    over = "the run's limit (as configured or raised)" if resuming else "[engine] max_*"
    p.add_argument(
        "--max-tokens", type=positive_int, metavar="N", help=f"token budget of the run; over {over}"
    )
    p.add_argument(
        "--max-cost",
        type=positive_float,
        metavar="USD",
        help=f"cost budget of the run; over {over}",
    )
    p.add_argument(
        "--max-duration",
        type=positive_duration,
        metavar="D",
        help="time budget of the run (90m, 8h, 1h30m), hours it lay stopped not counted;"
        f" over {over}",
    )
    p.add_argument(
        "--task-max-tokens", type=positive_int, metavar="N", help="token budget of each task"
    )
    p.add_argument(
        "--task-max-cost", type=positive_float, metavar="USD", help="cost budget of each task"
    )


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
    add_trace_options(p)


def add_trace_options(p: argparse.ArgumentParser) -> None:
    """``--trace-file`` and ``--otel-content``: a run's, and ``abandon``'s, which ends the
    run's trace."""
    p.add_argument("--trace-file", type=Path, help="also write trace spans as JSON lines here")
    p.add_argument(
        "--otel-content",
        action="store_true",
        help="put the request and agents' completions on trace spans (off by default)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run the factory on a bundled example with the SIM provider")
    demo.add_argument("--example", default="inventory", help="bundled example (default: inventory)")
    demo.add_argument("--out", type=Path, help="folder for the demo repository (new or empty)")
    add_run_options(demo)
    demo.set_defaults(handler=Handler("launch", "cmd_run"))

    run = sub.add_parser("run", help="run the factory on a repository")
    run.add_argument("request", nargs="?", help="what to build, in plain words")
    run.add_argument("--repo", type=given_path, required=True, help="the git repository to work on")
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
    run.set_defaults(handler=Handler("launch", "cmd_run"))
