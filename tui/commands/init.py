"""``shopfloor init [--repo PATH]``: write a commented shopfloor.toml a person can read.

The file goes top to bottom through what a run is configured with: which model plays each
role (from the API keys found in the environment — their names only, never their values),
the gates the repository's contents call for, limits, thresholds, budgets, context selection
and the twin. Every value is the current default or the detected choice, so the file runs as
written; it is checked with the same loader a run uses before it is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import textwrap
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from agents.registry import ProviderOptions
from agents.routing import SINGLE_ROLES, default_models, keys_present, route
from engine.config import EngineConfig
from gates.config import GatesConfig
from gates.interpreter import candidates
from gates.mypy_config import mypy_projects
from gates.mypy_runners import runs_mypy
from gates.repo_shape import holds_no_code, is_python_repo
from gates.ruff_format import formats_with_ruff
from gates.tox_config import tox_commands
from tui.commands.exit_codes import EXIT_BAD_INPUT, EXIT_OK, UsageError
from tui.config import OUTAGE_S, ConfigError, load_settings
from tui.repo_folder import repo_problem

_ROLE_NOTES = {
    "planner": "draws the blueprint",
    "engineer": "builds each task in its worktree (tool use)",
    "critic": "scores the request 0-10 before anything is planned",
    "twin": "decides as the owner would (see [twin])",
    "task_reviewer": "reviews each task's diff; never the engineer's family",
    "qc": "scores the whole change 0-100",
    "verifier": "tries to break the merged result (tool use)",
    "judge": "checklist out of 100 before shipping",
}

_THRESHOLDS = (
    ("min_critic_score", "kill gate: the critic's mean score (0-10) must reach this"),
    ("max_compliance_risk", "kill gate: low | medium | high; a higher risk ends the run"),
    ("kill_on_cannibalization", "kill gate: a request duplicating the repo ends the run"),
    ("review_threshold", "a reviewer approves the blueprint at or above this (0-100)"),
    ("review_rounds", "review rounds before the panel escalates to a human"),
    ("twin_min_confidence", "below this the twin's decision goes to a human (0-1)"),
    ("twin_change_rounds", "times the twin may send the plan back before escalating"),
    ("qc_threshold", "code QC must reach this (0-100)"),
    ("judge_threshold", "the judge must reach this to ship (0-100)"),
)
_BUDGETS = (
    ("max_cost_usd", "20.0", "cost of the whole run, USD"),
    ("max_tokens", "5_000_000", "tokens of the whole run (input + output)"),
    ("task_max_cost_usd", "3.0", "cost of one task, all attempts"),
    ("task_max_tokens", "800_000", "tokens of one task, all attempts"),
    ("escalation_timeout_s", "3600.0", "take an escalation's default after this long"),
)


DOCS_GATE = (
    '# name = "docs"',
    '# argv = ["make", "docs"]',
    "# timeout_s = 600",
    '# scopes = ["task", "merge"]  # task, merge, verify',
)
CARGO_GATES = (
    '# name = "cargo-test"',
    '# argv = ["cargo", "test", "--quiet"]',
    "# timeout_s = 600",
    '# scopes = ["task", "merge"]  # task, merge, verify',
    "# [[gates.custom]]     # rustup component add clippy",
    '# name = "clippy"',
    '# argv = ["cargo", "clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]',
    "# [[gates.custom]]     # rustup component add rustfmt",
    '# name = "rustfmt"',
    '# argv = ["cargo", "fmt", "--check"]',
)
"""The custom gate examples: a Rust crate's cargo gates, or any command's."""


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def detect_gates(repo: Path) -> list[str]:
    """Comment lines saying what the repository holds and which gates that implies."""
    lines = []
    if is_python_repo(repo):
        configured = bool(mypy_projects(repo))
        runs = "" if configured else runs_mypy(repo)
        lines.append("# Detected a Python project: lint (ruff), tests (pytest), security (bandit),")
        lines.append("# secrets (detect-secrets), dead code (vulture) and the shrinkage gate run.")
        if configured:
            lines.append("# mypy is configured, so the types gate runs too.")
        elif runs:
            lines.append(f"# mypy runs in {runs}, so the types gate runs too.")
        else:
            lines.append(
                '# mypy is not configured, so the types gate is off; enable = ["types"] to run it.'
            )
        problem = tox_commands(repo).problem
        if problem:  # tox would stop on it too; the types gate reads no mypy command there
            lines.append(f"# {problem}.")
        if formats_with_ruff(repo):
            lines.append("# It formats with ruff, so lint runs `ruff format --check` too.")
    if (repo / "package.json").is_file():
        lines.append("# Detected a Node package: its `test` and `lint` scripts run as gates.")
    if (repo / "Cargo.toml").is_file():
        lines.append("# Detected a Rust crate: no built-in gate reads Rust; uncomment the cargo")
        lines.append("# gates below (cargo-test is also what the engineer's run_tests runs).")
    if not lines and holds_no_code(repo):
        lines.append("# No code yet: each tree's gates are chosen from what it holds then (the")
        lines.append("# Python project or Node package the run's first tasks lay down).")
    elif not lines:
        lines.append("# No Python project or Node package detected: add [[gates.custom]] commands.")
    return lines


def _venv_python(repo: Path, env: Mapping[str, str]) -> str:
    """The project's interpreter (relative when in the repository: its virtualenv; absolute
    when Poetry, Pipenv... keep it elsewhere), or the usual place for one."""
    found = candidates(repo, None, env).found
    if not found:
        return ".venv/bin/python"
    python = Path(found[0][0])
    return str(python.relative_to(repo)) if python.is_relative_to(repo) else str(python)


def render_config(repo: Path, env: Mapping[str, str], now: datetime | None = None) -> str:
    """The commented shopfloor.toml for ``repo`` given the environment's keys."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    keys = keys_present(env)
    routing = route({}, env)
    defaults = EngineConfig()
    out = [
        f"# shopfloor.toml for {repo.name}, written by `shopfloor init` on {stamp}.",
        "# Read it top to bottom; delete a key to get its default back. A run reads it when",
        "# told to: `shopfloor run --config FILE` (doctor and dna take --config too).",
        "# Precedence: command-line flags > environment variables > this file > defaults.",
        "",
        "# == Models: which model plays which role =====================================",
        "# A spec is FAMILY:MODEL - anthropic:..., gemini:..., openai:MODEL@http://host:port/v1",
        "# (vLLM, Ollama, llama.cpp, LM Studio), cli:claude, or sim: (offline, scripted).",
    ]
    if keys:
        found = ", ".join(keys)
        out.append(f"# API keys found in the environment for: {found} (values are never written).")
    else:
        out += [
            "# No API key found (ANTHROPIC_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY): every role",
            "# runs on the SIM, which plays a playbook (`shopfloor run --playbook FILE`). Set a",
            "# key and run `shopfloor init --force` to route the roles to real models.",
        ]
    for warning in routing.warnings:
        out += textwrap.wrap(warning, 88, initial_indent="# ", subsequent_indent="#   ")
    out.append("[models]")
    models = default_models(env)
    for role in SINGLE_ROLES:
        out.append(f"{role} = {_toml(models[role])}  # {_ROLE_NOTES.get(role, '')}".rstrip())
    out.append("# The blueprint review panel: one reviewer per spec; never the planner's family.")
    out.append(f"reviewers = {_toml(models['reviewers'])}")
    out += ["", *_providers_section(), ""]
    gates = GatesConfig()
    out += [
        "# == Gates: what every task must pass ========================================",
        *detect_gates(repo),
        "[gates]",
        'enable = []            # built-in gates to add, e.g. ["types"]',
        'disable = []           # gates never to run, e.g. ["dead-code"]',
        f"cache = {_toml(gates.cache)}           # skip a gate whose inputs it has already passed",
        f"cache_max_age_days = {gates.cache_limits.max_age_days:g}  # each run drops entries "
        "unused this long",
        f"cache_max_mb = {gates.cache_limits.max_mb:g}  # ...then the least recently used past "
        "this size on disk",
        f"test_timeout_s = {gates.test_timeout_s:g}",
        f"pytest_autoload_plugins = {_toml(gates.pytest_autoload_plugins)}  # false: "
        "pytest skips the plugins installed beside it",
        f"shrinkage_max_share = {gates.shrinkage_max_share}  # refuse a task deleting more "
        "than this share of the lines it touches",
        f"shrinkage_min_deleted = {gates.shrinkage_min_deleted}  # ...once it deletes at least "
        "this many lines",
        "# The Python the tests, the agents' run_tests and mypy run on (absolute, or relative",
        "# to the repository); unset: the repository's .venv or venv, else the environment",
        "# its Poetry, PDM, Pipenv or Hatch keeps, else an activated virtualenv or conda",
        "# environment, else shopfloor's own, which lacks the project's dependencies.",
        f'# python = "{_venv_python(repo, env)}"',
        "# [[gates.custom]]     # any command that passes when it exits 0",
        *(CARGO_GATES if (repo / "Cargo.toml").is_file() else DOCS_GATE),
        "",
        "# == Limits =====================================================================",
        "[engine]",
        f"workers = {defaults.workers}          # attempts that may run at once",
        f"max_attempts = {defaults.max_attempts}     # per task, the first one included",
        "# provider_limits = { anthropic = 4 }  # calls at once per family; left out: workers",
        f"branch_prefix = {_toml(defaults.branch_prefix)}  # the shipped branch is "
        "PREFIX<request>-<run id>",
        f"keep_worktrees = {_toml(defaults.keep_worktrees)}  # leave attempts' worktrees on "
        "disk after the run",
        f"checkout_wait_s = {_toml(defaults.checkout_wait_s)}  # merging waits this long for "
        "your checkout of the wip branch, then asks",
        "",
        "# -- Thresholds: where each stage passes or stops --",
    ]
    values = {f.name: getattr(defaults, f.name) for f in fields(defaults)}
    for key, note in _THRESHOLDS:
        if key in values:
            out.append(f"{key} = {_toml(values[key])}  # {note}")
        if key == "review_threshold":
            out.append(
                "# review_quorum = 2  # approvals needed; left out: all but one of 3+, else all"
            )
    out += ["", "# -- Budgets: none by default; uncomment to cap a run --"]
    for key, example, note in _BUDGETS:
        if key in values:
            out.append(f"# {key} = {example}  # {note}")
    if "escalation_policy" in values:
        out += [
            "# Who answers an escalation: wait (for a human) | twin | reject. Left out: the twin",
            "# in a headless run, a human in the TUI; --escalations beats this file.",
            '# escalation_policy = "wait"',
        ]
    out += [
        "",
        "# == Storage: the database behind the run's event log ==========================",
        "# The writer waits out a database it cannot reach (a restart, a failover) this many",
        "# seconds, then the run stops resumable (exit 75); $SHOPFLOOR_OUTAGE_WAIT_S beats it.",
        "[storage]",
        f"outage_wait_s = {OUTAGE_S}",
        "",
        "# == Context: what each engineer attempt is shown ==============================",
        "[context]",
        "budget_tokens = 6000   # repo map + the files it builds on + relevant files; 0 = off",
        "",
        "# == Twin: the owner's DNA (decisions, heuristics, redlines) ===================",
        "# [twin]",
        '# dna = "owner.toml"',
        "",
        "# == Pricing: override or add $ per million tokens ============================",
        "# [pricing]",
        '# "openai:qwen2.5-coder" = { input = 0.0, output = 0.0 }',
        "",
        "# == SIM: the offline provider's playbook and pace ============================",
        "# [sim]",
        '# playbook = "playbook.yaml"  # what sim: models play (--playbook beats it)',
        "# speed = 1.0                 # latencies divided by this (--speed beats it)",
        "",
    ]
    return "\n".join(out)


def _providers_section() -> list[str]:
    """The ``[providers]`` block: the defaults, and a commented limit and cli agent."""
    p = ProviderOptions()
    return [
        "# == Providers: retries, time limits, fallback chains, coding agents ==========",
        "[providers]",
        f"max_retries = {p.max_retries}  # per call, on 429/529/503/5xx and timeouts",
        f"retry_base_delay_s = {p.retry_base_delay_s}  # first backoff (jittered, doubling; "
        "retry-after wins)",
        f"timeout_s = {p.timeout_s}  # one HTTP request",
        f"attempt_timeout_s = {p.attempt_timeout_s}  # one try of a call, its whole answer",
        f"openai_tools = {_toml(p.openai_tools)}  # openai: tool calls: auto | native | text "
        "(SEARCH/REPLACE)",
        f"fallback_cooldown_s = {p.fallback_cooldown_s}  # a chain skips an overloaded link "
        "this long, doubling; 0 = never",
        "# fallback_dead_cooldown_s = 3600.0  # after 401/403/404; left out: the rest of the run",
        f"usage_limit_wait_s = {p.usage_limit_wait_s}  # outside a chain, a usage limit is "
        "waited out this long at most; 0 = never",
        "# [providers.limits.anthropic]  # a family or a whole spec",
        "# max_concurrency = 4",
        "# tokens_per_minute = 400_000",
        "# context_tokens = 32_768  # the model's window: compact before sending (Ollama)",
        "# [providers.cli.claude]  # cli:claude's command: argv, output, timeout_s, keys, fence",
        "# timeout_s = 1800.0",
    ]


def write_config(repo: Path, target: Path, *, force: bool, env: Mapping[str, str]) -> None:
    """Render, write beside ``target``, check with the run's loader, then move into place."""
    if problem := repo_problem(repo):  # as a run says it: a run could not use the file
        raise UsageError(problem)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; use --force to overwrite it")
    text = render_config(repo.resolve(), env)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        load_settings(tmp, environ={})  # the file alone: the environment is not written
        tmp.replace(target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):  # its folder may be missing, or a file
            tmp.unlink(missing_ok=True)


async def cmd_init(args: argparse.Namespace, console: Console) -> int:
    """Write the file, check it loads, and say where it is."""
    repo: Path = args.repo
    target: Path = args.output or repo / "shopfloor.toml"
    try:
        await asyncio.to_thread(write_config, repo, target, force=args.force, env=os.environ)
    except ConfigError as exc:
        console.print(f"init wrote a file its own loader refuses: {exc}", highlight=False)
        return EXIT_BAD_INPUT
    console.print(
        f"wrote {target}; a run reads it with --config {shlex.quote(str(target))}",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_OK
