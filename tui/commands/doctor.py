"""``shopfloor doctor``: is every model this setup would use actually reachable?

Each configured model (``--config``'s [models], else the defaults for the keys present) or
each ``--model SPEC`` gets one short request through the same registry a run uses. One line
per model: provider, model, latency, tokens (in/out), OK or FAIL with the reason. A ``cli:``
agent is found on PATH and asked its version rather than paid for a run; each link of a
fallback chain is checked on its own. The sandbox and the Python the gates would use for
``--repo`` (and whether pytest and mypy are installed there) are said too, and what the data
home weighs by folder (each run adds to it). Keys are never
printed: errors are masked by the providers, a spec shows no credentials its URL carries,
and every row passes the console's redactor (a gateway that echoes the key in its reply, an
agent's version line). A model its provider retires, or retires within 30 days, is said in
one line (agents/lifecycle.py). Exit code 1 when any model fails, or the configured Python.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.text import Text

from agents.lifecycle import retirement_notes
from agents.provider import CompletionRequest, Message, Provider, ProviderError
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from agents.registry import ProviderOptions, close_provider, make_provider
from agents.routing import chain_parts, default_models
from engine.data_home import home_location
from engine.loop import loop_name
from engine.redaction import Redactor
from gates.cache_upkeep import tree_size
from gates.interpreter import Candidates, InterpreterError, candidates, find_project_python
from gates.node_packages import uninstalled_warnings
from gates.repo_shape import is_python_repo
from gates.sandbox import ProcessSandbox
from tui.commands.exit_codes import EXIT_FAILED, EXIT_OK
from tui.config import load_settings

PING = CompletionRequest(
    system="You are a health check. Answer with one word.",
    messages=(Message("user", "Reply with the single word: OK"),),
    max_tokens=16,
    labels={"role": "doctor"},
)


@dataclass(frozen=True)
class Check:
    """One model's health."""

    spec: str
    roles: tuple[str, ...]
    ok: bool
    family: str = "-"
    model: str = "-"
    latency_s: float | None = None
    tokens: str = "-"
    detail: str = ""


_URL_USER = re.compile(r"(?<=://)[^\s/?#@]+@")


def shown_spec(spec: str) -> str:
    """``spec`` as written, without the credentials a URL in it carries
    (``openai:m@https://user:password@gateway/v1``)."""
    return _URL_USER.sub("***@", spec)


def configured_models(args: argparse.Namespace) -> dict[str, list[str]]:
    """spec -> the roles that use it, from --model, else the config file, else defaults.

    Each link of a fallback chain ``A | B`` is checked on its own (``engineer (fallback)``
    for B): checked as one, a chain whose first link answered hid a dead fallback, and a
    coding agent in it was sent the ping as a run (it has no worktree: FAIL) rather than
    found on PATH and asked its version.
    """
    by_spec: dict[str, list[str]] = {}
    if args.models:
        for spec in dict.fromkeys(args.models):
            _add_links(by_spec, spec, "given")
        return by_spec
    if args.config is not None:
        settings = load_settings(args.config)
        roles: dict[str, str | list[str]] = dict(settings.models)
        if settings.reviewers:
            roles["reviewers"] = list(settings.reviewers)
    else:
        roles = default_models(os.environ)
    for role, value in roles.items():
        for spec in [value] if isinstance(value, str) else value:
            if spec:
                _add_links(by_spec, spec, role)
    return by_spec


def _add_links(by_spec: dict[str, list[str]], spec: str, role: str) -> None:
    parts = chain_parts(spec)
    for index, part in enumerate(parts):
        as_role = role if index == 0 or len(parts) == 1 else f"{role} (fallback)"
        if as_role not in by_spec.setdefault(part or spec, []):
            by_spec[part or spec].append(as_role)


async def _check_cli(provider: CliProvider, timeout_s: float) -> tuple[bool, str]:
    """A cli agent is checked by finding it and asking its version (no paid run)."""
    program = provider.executable()
    if program is None:
        return False, f"command not found: {provider.agent.argv[0]}"
    try:
        process = await asyncio.create_subprocess_exec(
            program,
            "--version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:  # not executable, a script whose interpreter is missing
        return False, f"cannot start {program}: {exc.strerror}"
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return False, f"{program} --version did not answer in {timeout_s:g}s"
    first = output.decode("utf-8", "replace").strip().splitlines()
    version = first[0][:80] if first else ""
    if process.returncode != 0:
        return False, f"{program} --version exited {process.returncode}: {version}"
    return True, f"found {program} ({version})"


async def check_model(
    spec: str,
    roles: list[str],
    *,
    timeout_s: float,
    playbook: Path | None,
    cli_agents: Mapping[str, CliAgent] | None = None,
) -> Check:
    """Build the provider for ``spec`` and send it one short request; ``cli_agents``: the
    config's ``[providers.cli.NAME]`` commands, which a ``cli:NAME`` spec runs."""
    options = ProviderOptions(
        max_retries=1,
        timeout_s=timeout_s,
        attempt_timeout_s=timeout_s * 2,
        cli_agents=dict(cli_agents or {}),
        usage_limit_wait_s=0.0,  # a check says a limit; it does not wait it out
    )
    if spec.strip() in ("sim", "sim:") and playbook is None:
        # The default without keys: nothing to reach. A playbook is needed to run, not to check.
        detail = "SIM: offline, scripted by a playbook at run time; no call made"
        return Check(spec, tuple(roles), True, "sim", "-", detail=detail)
    try:
        provider: Provider = make_provider(spec, playbook=playbook, options=options)
    except (ProviderError, ValueError, OSError) as exc:
        return Check(spec, tuple(roles), False, detail=str(exc).splitlines()[0])
    family, model = provider.family, provider.model
    try:
        if provider.simulated:
            return Check(
                spec, tuple(roles), True, family, model, detail="SIM: offline, no call made"
            )
        if isinstance(provider, CliProvider):
            ok, detail = await _check_cli(provider, timeout_s)
            return Check(spec, tuple(roles), ok, family, model, detail=detail)
        started = time.monotonic()
        completion = await provider.complete(PING)
        latency = time.monotonic() - started
        usage = completion.usage
        tokens = f"{usage.input_tokens + usage.cache_read_tokens}/{usage.output_tokens}"
        reply = completion.text.strip().replace("\n", " ")[:40]
        return Check(
            spec,
            tuple(roles),
            True,
            family,
            completion.model or model,
            latency,
            tokens,
            f"replied {reply!r}" if reply else "empty reply",
        )
    except ProviderError as exc:
        return Check(spec, tuple(roles), False, family, model, detail=str(exc).splitlines()[0])
    finally:
        await close_provider(provider)


def _yes(flag: bool) -> str:
    return "installed" if flag else "NOT installed"


def _locate(repo: Path, configured: str | None) -> Candidates | tuple[bool, list[str]]:
    """The interpreters to try for ``repo``, or what doctor says when there is none to try."""
    if not repo.is_dir():
        return False, [f"python: repository not found: {repo}"]
    if not is_python_repo(repo):
        return True, [f"python: no Python project in {repo.resolve()} (--repo names one)"]
    return candidates(repo.resolve(), configured)


async def _python_lines(repo: Path, configured: str | None) -> tuple[bool, list[str]]:
    """Which Python the gates would use for ``repo``, and why; whether pytest and mypy are
    importable there. False when the configured one does not run (a run would refuse it)."""
    found = await asyncio.to_thread(_locate, repo, configured)
    if isinstance(found, tuple):
        return found
    sandbox = ProcessSandbox(extra_readable=found.readable_dirs())
    try:
        python = await find_project_python(found, sandbox)
    except InterpreterError as exc:
        return False, [f"python: {exc}"]
    finally:
        sandbox.close()
    mypy = "" if python.has_mypy else " (the types gate runs shopfloor's own on its packages)"
    lines = [
        f"python for the tests and mypy: {python.describe()}; pytest {_yes(python.has_pytest)}, "
        f"mypy {_yes(python.has_mypy).lower()}{mypy}"
    ]
    said = (python.warning, python.pytest_missing(), python.compile_advice())
    return True, [*lines, *(w for w in said if w)]


def git_refusal(repo: Path) -> str | None:
    """What git says when it refuses the repository at ``repo`` (a checkout owned by
    another user, which its safe.directory check turns away), or None: a run would be
    refused at once, and doctor said "1 of 1 model(s) OK" before it (python-slugify's sdist
    unpacked by root keeps its author's uid). A folder that is no repository is not said
    here: doctor also runs outside one."""
    if not repo.is_dir():
        return None
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--git-dir"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    said = [line.strip().removeprefix("fatal: ") for line in done.stderr.splitlines()]
    said = [line for line in said if line]
    if done.returncode == 0 or not said or "not a git repository" in said[0]:
        return None
    words = said[0]
    for line in said[1:]:  # "... call:" then the command: as git_complaint joins them
        words += (" " if words.endswith(":") else "; ") + line
    return f"repository: git refuses {repo.resolve()}: {words}"


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def data_home_line() -> str:
    """What the data home weighs on disk, in all and by what it holds, the heaviest first
    (``demos 1.9 MB, shopfloor.db 656.0 KB, ...``): the folders each run adds to."""
    try:
        home = home_location()
    except RuntimeError as exc:  # "~nosuchuser" in $SHOPFLOOR_HOME: a run says it too
        return f"data home: cannot find it ({exc})"
    try:
        with os.scandir(home) as listing:
            names = sorted(item.name for item in listing)
    except FileNotFoundError:
        return f"data home: {home} (not made yet: the first run makes it)"
    except OSError as exc:
        return f"data home: {home} (cannot read it: {exc.strerror})"
    sizes = sorted(((tree_size(home / n), n) for n in names), key=lambda s: (-s[0], s[1]))
    parts = ", ".join(f"{name} {_size(size)}" for size, name in sizes)
    total = sum(size for size, _ in sizes)
    return f"data home: {home}, {_size(total)}" + (f": {parts}" if parts else " (empty)")


def _sandbox_line() -> str:
    sandbox = ProcessSandbox()
    try:
        if sandbox.kind == "bwrap":
            return "sandbox: bwrap (read-only system, writable worktree, no network)"
        return f"sandbox: process (no jail: {sandbox.fallback_reason or 'unknown reason'})"
    finally:
        sandbox.close()


async def cmd_doctor(
    args: argparse.Namespace, console: Console, *, today: date | None = None
) -> int:
    """``today``: the date the retirement notes are said for (default: the wall clock's)."""
    models = configured_models(args)
    # The agents the config names run its commands: a configured agent was "unknown", and
    # a bundled one configured at its own path was looked for on PATH.
    settings = load_settings(args.config) if args.config is not None else None
    agents = settings.providers.cli_agents if settings is not None else {}
    python_ok, python_lines = await _python_lines(
        args.repo, settings.gates.python if settings is not None else None
    )
    checks = await asyncio.gather(
        *(
            check_model(
                spec, roles, timeout_s=args.timeout, playbook=args.playbook, cli_agents=agents
            )
            for spec, roles in models.items()
        )
    )
    redactor = Redactor.from_environ()
    for warning in [
        *(settings.providers.warnings() if settings is not None else []),
        *retirement_notes(models, today or date.today()),
    ]:
        console.print(Text(warning, style="bold red"), soft_wrap=True)
    for check in checks:
        status = ("OK  ", "green") if check.ok else ("FAIL", "bold red")
        latency = f"{check.latency_s:.2f}s" if check.latency_s is not None else "-"
        row = (
            f" {shown_spec(check.spec)}  roles={','.join(check.roles)}  provider={check.family}  "
            f"model={check.model}  latency={latency}  tokens={check.tokens}  {check.detail}"
        )
        console.print(Text.assemble(status, redactor.redact(row)), soft_wrap=True)
    console.print(_sandbox_line(), highlight=False)
    console.print(Text(await asyncio.to_thread(data_home_line)), soft_wrap=True)
    for line in python_lines:
        console.print(Text(redactor.redact(line)), soft_wrap=True)
    for line in uninstalled_warnings(args.repo) if args.repo.is_dir() else []:
        console.print(Text(f"node: {line}"), soft_wrap=True)
    refused = await asyncio.to_thread(git_refusal, args.repo)
    if refused is not None:
        console.print(Text(refused, style="bold red"), soft_wrap=True)
    console.print(f"event loop: {loop_name()}", highlight=False)
    failed = sum(1 for c in checks if not c.ok)
    console.print(
        f"{len(checks) - failed} of {len(checks)} model(s) OK" if checks else "no models to check",
        highlight=False,
    )
    return EXIT_FAILED if failed or not python_ok or refused is not None else EXIT_OK
