"""Gates that run a command the repo defines: a custom command from config, or a package
script of a Node project.

Any language gets a gate this way: ``pass`` is exit 0, and whatever ``file:line`` locations
the output names (compilers, linters and test runners nearly all print them) become Findings.
The Node gate runs a ``package.json`` script (``test``, ``lint``) through npm, only when the
package defines it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from engine.beneath import read_text_beneath
from engine.borrowed_modules import NODE_MODULES, borrowed_node_modules
from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from gates.cargo_output import cargo_headline
from gates.home_toolchains import program_stamp
from gates.node_output import missing_package_manager, node_headline
from gates.node_packages import install_command
from gates.tool_gate import (
    MAX_FINDINGS,
    OUTPUT_TAIL_CHARS,
    Parsed,
    ToolGate,
    last_meaningful_line,
    located_lines,
    without_workspace,
)

TEST_TIMED_OUT = re.compile(
    r"Test timed out in \d+ ?ms|Exceeded timeout of \d+ ?ms|Timeout of \d+ ?ms exceeded",
    re.IGNORECASE,
)
"""A test runner's words for a test that ran out of its time (vitest, jest, mocha): on a
busy machine, luck rather than the code's verdict."""
TIMED_OUT_NOTE = "a test timed out"
NPM_PLACEHOLDER_TEST = 'echo "Error: no test specified" && exit 1'
"""What ``npm init`` writes as the test script: not a test suite."""


class CommandGate(ToolGate):
    """A custom gate: runs ``argv`` in the workspace; passes exactly when it exits 0."""

    ok_codes = frozenset(range(-64, 256))  # every exit is a verdict, not a tool failure
    reads_only = False  # a build or generate step may write what the next gate reads

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str,
        argv: Sequence[str],
        timeout_s: float = 600.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ValueError(f"gate {name!r}: argv must be a non-empty list of strings")
        self.command = tuple(argv)
        self.tool = self.command[0]

    def settings(self) -> Sequence[object]:
        """The command, its time limit and which installation of its program runs."""
        return [list(self.command), self.timeout_s, *program_stamp(self.command[0], os.environ)]

    def argv(self, workspace: Path) -> list[str]:
        return list(self.command)

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        if result.returncode == 0:
            return Parsed(summary="passed (exit 0)")
        located = located_lines(result.output, workspace)
        said = cargo_headline(result.output) or last_meaningful_line(result.output)
        headline = Finding(
            message=f"{' '.join(self.command)[:120]} exited {result.returncode}: "
            f"{without_workspace(said, workspace)}"
        )
        return Parsed(
            [headline, *located],
            counts={"exit": result.returncode},
            blocking=1 + len(located),
            summary=f"exit {result.returncode}",
        )


def package_scripts(root: Path, folder: str = ".") -> dict[str, str]:
    """The ``scripts`` of the package.json in ``folder`` of the workspace ``root`` (empty
    when absent, unreadable, or reached through a link leading out of ``root``: an agent may
    have linked the file or the folder to the host's, ``engine.beneath``)."""
    try:
        data = json.loads(read_text_beneath(root, PurePosixPath(folder, "package.json")))
    except (OSError, ValueError):  # LeavesRoot and UnicodeDecodeError are ValueErrors
        return {}
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not isinstance(scripts, dict):
        return {}
    return {
        str(k): str(v)
        for k, v in scripts.items()
        if isinstance(v, str) and v.strip() and v.strip() != NPM_PLACEHOLDER_TEST
    }


class NodeScriptGate(CommandGate):
    """``npm run --silent <script>`` for one script (``test``, ``lint``) of each Node package.

    ``packages`` are the package folders (``"."``, a front end's ``"web"``:
    ``gates.node_packages.node_packages``), each run in its own folder with the
    dependencies installed for it in ``checkout`` (the user's repository) borrowed, since a
    worktree has none (``engine.borrowed_modules.borrowed_node_modules``). A package's
    findings are named from the repository's top. A run in which a test timed out is run once
    more, and that run decides (a test runner's timeouts are a busy machine's more often than
    the code's; the script runs whole: npm passes no list of failing files through to it).
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        script: str,
        name: str | None = None,
        timeout_s: float = 600.0,
        env: Mapping[str, str] | None = None,
        packages: Sequence[str] = (".",),
        checkout: Path | None = None,
    ) -> None:
        env = {"CI": "1", "NO_COLOR": "1", "npm_config_update_notifier": "false", **(env or {})}
        super().__init__(
            sandbox,
            name=name or f"node-{script}",
            argv=["npm", "run", "--silent", script],
            timeout_s=timeout_s,
            env=env,
        )
        self.script = script
        self.tool = f"npm run {script}"
        self.packages = tuple(packages) or (".",)
        self.checkout = checkout

    def settings(self) -> Sequence[object]:
        return [*super().settings(), list(self.packages), *self._installed_state()]

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        parsed = super().parse(result, workspace)
        headline = None if result.returncode == 0 else node_headline(result.output)
        if headline is not None:
            # The script's last line is a runner's timing or a wrapper's exit; the headline
            # names the failing test, its error and the count (gates.node_output).
            said = f"{' '.join(self.command)[:120]} exited {result.returncode}: "
            first = Finding(message=said + without_workspace(headline, workspace))
            parsed = dataclasses.replace(parsed, findings=[first, *parsed.findings[1:]])
        if result.returncode != 0 and TEST_TIMED_OUT.search(result.output):
            # "timed out" keeps the verdict out of the gate cache (gates.cache): a retry of
            # the same tree runs the tests again instead of replaying a busy moment.
            return dataclasses.replace(parsed, summary=f"{parsed.summary}: {TIMED_OUT_NOTE}")
        return parsed

    def _installed_state(self) -> list[str]:
        """What npm last installed for each package in the checkout (its hidden lockfile's
        time and size): an upgraded dependency may judge the same tree otherwise."""
        if self.checkout is None:
            return []
        states = []
        for folder in self.packages:
            lock = self.checkout / folder / NODE_MODULES / ".package-lock.json"
            with contextlib.suppress(OSError):
                stat = lock.stat()
                states.append(f"{folder}:{stat.st_mtime_ns}:{stat.st_size}")
        return states

    async def check(self, workspace: Path) -> GateResult:
        """Run the script in each package that has it; a tree where none does passes with a
        note (the tree has no such check)."""
        started = time.monotonic()
        ran: list[tuple[str, GateResult]] = []
        for folder in self.packages:
            place = workspace / folder
            scripts = await asyncio.to_thread(package_scripts, workspace, folder)
            if self.script not in scripts:
                continue
            installed = None if self.checkout is None else self.checkout / folder / NODE_MODULES
            with borrowed_node_modules(place, installed):
                result = await self.run_tool(place, self.argv(place))
                if not result.passed and result.summary.endswith(TIMED_OUT_NOTE):
                    # A test out of its time is most often a busy machine's (path-to-regexp's
                    # 10 s redos tests): the script runs once more and that run decides.
                    result = _run_again(result, await self.run_tool(place, self.argv(place)))
                if result.counts.get("exit") == 127 and not (place / NODE_MODULES).is_dir():
                    result = _not_installed(result, installed or place / NODE_MODULES)
                elif result.counts.get("exit") == 127 and (
                    manager := missing_package_manager(scripts[self.script], result.output_tail)
                ):
                    result = _manager_missing(result, self.script, manager)
                ran.append((folder, result))
        if not ran:
            where = "package.json" if self.packages == (".",) else "any package.json"
            return GateResult(
                gate=self.name,
                passed=True,
                summary=f"no {self.script!r} script in {where}; nothing to run",
            )
        if [folder for folder, _ in ran] == ["."]:
            return ran[0][1]
        return _joined(self.name, ran, time.monotonic() - started)


def _run_again(first: GateResult, again: GateResult) -> GateResult:
    """The verdict of a script run again after a test of its first run timed out."""
    took = first.duration_s + again.duration_s
    if again.passed:
        summary = f"{again.summary}, when run again after {TIMED_OUT_NOTE} (flaky)"
    elif again.summary.endswith(TIMED_OUT_NOTE):
        summary = f"{again.summary} in each of two runs"
    else:
        summary = f"{again.summary}; run again after {TIMED_OUT_NOTE}"
    return again.model_copy(update={"summary": summary, "duration_s": took})


def _not_installed(result: GateResult, modules: Path) -> GateResult:
    """A script whose command was not found where no dependencies are installed, said as
    such: ``sh: vitest: not found`` was a finding of the code, red at the baseline and
    therefore never blocking again."""
    install = install_command(modules.parent)
    note = f"the package's dependencies are not installed (no {modules}): run {install} there"
    return result.model_copy(
        update={
            "summary": f"{result.summary}: {note}",
            "findings": [
                finding.model_copy(update={"message": f"{finding.message} ({note})"})
                if index == 0
                else finding
                for index, finding in enumerate(result.findings)
            ],
        }
    )


def _manager_missing(result: GateResult, script: str, manager: str) -> GateResult:
    """A script that calls a package manager the machine lacks, said as such: tiny-invariant's
    ``"test": "yarn jest"`` read "exit 127 — sh: 1: yarn: not found", as a failure of the
    code, red at the baseline and blocking nothing after it."""
    note = (
        f"the {script!r} script runs {manager}, which is not installed here: install it "
        "(or `corepack enable`, then run it once outside the sandbox, which has no network)"
    )
    return result.model_copy(update={"summary": f"{result.summary}: {note}"})


def _joined(name: str, ran: Sequence[tuple[str, GateResult]], duration: float) -> GateResult:
    """One verdict from each package's: passed when all did, findings named from the top."""
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    for folder, result in ran:
        prefix = "" if folder == "." else f"{folder}/"
        findings.extend(
            finding.model_copy(
                update={
                    "message": f"{folder}: {finding.message}",
                    "file": None if finding.file is None else prefix + finding.file,
                }
            )
            for finding in result.findings
        )
        for key, value in result.counts.items():
            counts[key] = counts.get(key, 0) + value
    return GateResult(
        gate=name,
        passed=all(result.passed for _, result in ran),
        summary="; ".join(f"{folder}: {result.summary}" for folder, result in ran),
        counts=counts,
        findings=findings[:MAX_FINDINGS],
        duration_s=duration,
        output_tail="\n".join(f"[{folder}]\n{result.output_tail}" for folder, result in ran)[
            -OUTPUT_TAIL_CHARS:
        ],
    )
