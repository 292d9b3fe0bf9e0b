"""The secrets gate: ``detect-secrets scan`` over the workspace; a hard-coded secret is refused.

Agents paste keys into code surprisingly often. The scan covers every file (not only the ones
git tracks, so an attempt's new files count) except tool caches and vendored trees. Secrets
the repo has already accepted in its ``.secrets.baseline`` (matched by hash) do not block.
The finding names the file, the line and the kind of secret — never the secret itself.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.protocols import CommandResult, Finding, Sandbox
from gates.tool_gate import Parsed, ToolGate, ToolOutputError, extract_json, relative

BASELINE = ".secrets.baseline"
EXCLUDED = (
    r"(^|/)(\.git|\.venv|venv|node_modules|\.shopfloor|__pycache__|\.mypy_cache|"
    r"\.ruff_cache|\.pytest_cache)/"
)
PINNED_REVISION = r"""^\s*-?\s*rev:\s*["']?[0-9a-f]{40}["']?\s*(#.*)?$"""
"""A ``rev:`` line pinning a git commit (pre-commit's configuration): a commit name, not a
secret; click's four pinned hooks failed the gate as "Hex High Entropy String"."""

REPORT_OPTION = "--shopfloor-report"
_SCAN = f"""
import sys
from detect_secrets.main import main
args = sys.argv[1:]
if args[-2:-1] == [{REPORT_OPTION!r}]:
    sys.stdout = open(args.pop(), "w", encoding="utf-8")
    args.pop()
sys.exit(main(args))
"""
"""detect-secrets only prints its report: this runs it with what it prints sent to the
gate's report file, named last after :data:`REPORT_OPTION`."""


def accepted_hashes(workspace: Path) -> set[str]:
    """The hashed secrets the repo's baseline file accepts (empty when there is none)."""
    path = workspace / BASELINE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        return set()
    return {
        str(item.get("hashed_secret"))
        for items in results.values()
        if isinstance(items, list)
        for item in items
        if isinstance(item, dict)
    }


class SecretsGate(ToolGate):
    """Implements ``engine.protocols.Gate`` with detect-secrets."""

    tool = "detect-secrets"
    ok_codes = frozenset({0})
    report_option = REPORT_OPTION

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "secrets",
        exclude_files: Sequence[str] = (),
        timeout_s: float = 180.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        for pattern in exclude_files:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"gate {name!r}: bad exclude pattern {pattern!r}: {exc}") from None
        self.exclude_files = tuple(exclude_files)

    def settings(self) -> Sequence[object]:
        return [list(self.exclude_files), PINNED_REVISION]

    def argv(self, workspace: Path) -> list[str]:
        argv = [sys.executable, "-c", _SCAN, "scan", "--all-files", "--exclude-files", EXCLUDED]
        argv += ["--exclude-files", re.escape(BASELINE) + "$", "--exclude-lines", PINNED_REVISION]
        for pattern in self.exclude_files:
            argv += ["--exclude-files", pattern]
        return [*argv, "."]

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        data = extract_json(result.output)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict):
            raise ToolOutputError("expected a JSON object with a 'results' mapping")
        accepted = accepted_hashes(workspace)
        findings: list[Finding] = []
        baseline = 0
        for filename, items in sorted(results.items()):
            for item in items:
                if item.get("hashed_secret") in accepted:
                    baseline += 1
                    continue
                findings.append(
                    Finding(
                        message=f"possible secret ({item.get('type', 'unknown kind')}) "
                        "hard-coded; read it from the environment or a secrets store instead",
                        file=relative(str(filename), workspace),
                        line=item.get("line_number"),
                    )
                )
        summary = f"{len(findings)} possible secret(s) in the code" if findings else ""
        return Parsed(findings, counts={"baseline": baseline}, summary=summary)
