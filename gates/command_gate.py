"""Gates that run a command the repo defines: a custom command from config, or a package
script of a Node project.

Any language gets a gate this way: ``pass`` is exit 0, and whatever ``file:line`` locations
the output names (compilers, linters and test runners nearly all print them) become Findings.
The Node gate runs a ``package.json`` script (``test``, ``lint``) through npm, only when the
package defines it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from gates.tool_gate import (
    Parsed,
    ToolGate,
    last_meaningful_line,
    located_lines,
    without_workspace,
)

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
        return [list(self.command), self.timeout_s]

    def argv(self, workspace: Path) -> list[str]:
        return list(self.command)

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        if result.returncode == 0:
            return Parsed(summary="passed (exit 0)")
        located = located_lines(result.output, workspace)
        headline = Finding(
            message=f"{' '.join(self.command)[:120]} exited {result.returncode}: "
            f"{without_workspace(last_meaningful_line(result.output), workspace)}"
        )
        return Parsed(
            [headline, *located],
            counts={"exit": result.returncode},
            blocking=1 + len(located),
            summary=f"exit {result.returncode}",
        )


def package_scripts(workspace: Path) -> dict[str, str]:
    """The ``scripts`` of the workspace's package.json (empty when absent or unreadable)."""
    try:
        data = json.loads((workspace / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
    """``npm run --silent <script>`` for one script of the package (``test``, ``lint``)."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        script: str,
        name: str | None = None,
        timeout_s: float = 600.0,
        env: Mapping[str, str] | None = None,
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

    async def check(self, workspace: Path) -> GateResult:
        """Run the script; a package without it passes with a note (the tree has no such check)."""
        scripts = await asyncio.to_thread(package_scripts, workspace)
        if self.script not in scripts:
            return GateResult(
                gate=self.name,
                passed=True,
                summary=f"no {self.script!r} script in package.json; nothing to run",
            )
        return await super().check(workspace)
