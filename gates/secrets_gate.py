"""The secrets gate: ``detect-secrets scan`` over the workspace; a hard-coded secret is refused.

Agents paste keys into code surprisingly often. The whole-tree scan (verify, audits, the
baseline of an update run) covers every file (not only the ones git tracks, so an attempt's
new files count) except tool caches and vendored trees. A task's own gate only has to ask
what the task brought in: given ``since`` (the task's base, ``HEAD~1``), it scans the text
files changed against it (added, modified, untracked), which on a real repository is a few
files instead of thousands (detect-secrets was the slowest gate: 9.6 s on click, 61 s on
rich). Such a gate judges a revision, like the shrinkage gate: baselines and audits use the
whole-tree one.

The repository's own ``.secrets.baseline`` (detect-secrets' standard file) is honoured as
detect-secrets honours it: its settings (the plugins it uses, the files and lines it
excludes, which is how a project documents its test fixtures) apply to the scan, and the
secrets it lists (matched by hash) do not block; nor does a line marked
``# pragma: allowlist secret``. The finding names the file, the line and the kind of secret
— never the secret itself.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.protocols import CommandResult, Finding, Sandbox
from gates.changes import SKIPPED, ChangeScanGate
from gates.tool_gate import Parsed, ToolOutputError, extract_json, relative

BASELINE = ".secrets.baseline"
EXCLUDED = SKIPPED.pattern
PINNED_REVISION = r"""^\s*-?\s*rev:\s*["']?[0-9a-f]{40}["']?\s*(#.*)?$"""
"""A ``rev:`` line pinning a git commit (pre-commit's configuration): a commit name, not a
secret; click's four pinned hooks failed the gate as "Hex High Entropy String"."""

REPORT_OPTION = "--shopfloor-report"
_SCAN = f"""
import json, sys
from detect_secrets.core import baseline
from detect_secrets.filters import regex
from detect_secrets.main import parse_args
from detect_secrets.settings import get_filters, get_settings
args = sys.argv[1:]
out = sys.stdout
if args[-2:-1] == [{REPORT_OPTION!r}]:
    out = open(args.pop(), "w", encoding="utf-8")
    args.pop()
parsed = parse_args(args)
if getattr(parsed, "baseline_filename", None):
    # The baseline's settings are loaded; the command line's exclusions replaced its own:
    # both apply.
    with open(parsed.baseline_filename, encoding="utf-8") as file:
        used = json.load(file).get("filters_used", [])
    filters = get_settings().filters
    for item in used:
        path, patterns = item.get("path", ""), item.get("pattern")
        if path.startswith("detect_secrets.filters.regex.") and isinstance(patterns, list):
            mine = filters.setdefault(path, {{"pattern": []}}).get("pattern", [])
            filters[path] = {{"pattern": [*mine, *(p for p in patterns if p not in mine)]}}
    get_filters.cache_clear()
    for cached in (regex._get_file_exclusion_regex, regex._get_line_exclusion_regex,
                   regex._get_secret_exclusion_regex):
        cached.cache_clear()
found = baseline.create(*parsed.path, should_scan_all_files=parsed.all_files,
                        root=parsed.custom_root, num_processors=parsed.num_cores)
out.write(json.dumps(baseline.format_for_output(found)))
out.close()
"""
"""detect-secrets' scan, with what it found written to the gate's report file (named last
after :data:`REPORT_OPTION`) and never into the repository's baseline: ``scan --baseline``
rewrites that file, and the gate only reads it."""


def read_baseline(workspace: Path) -> dict[str, Any] | None:
    """The repo's baseline file, when it reads as one (else None: it is not used)."""
    try:
        data = json.loads((workspace / BASELINE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not {"version", "plugins_used", "results"} <= set(data):
        return None
    return data


def accepted_hashes(workspace: Path) -> set[str]:
    """The hashed secrets the repo's baseline file accepts (empty when there is none)."""
    data = read_baseline(workspace)
    results = data.get("results") if data is not None else None
    if not isinstance(results, dict):
        return set()
    return {
        str(item.get("hashed_secret"))
        for items in results.values()
        if isinstance(items, list)
        for item in items
        if isinstance(item, dict)
    }


class SecretsGate(ChangeScanGate):
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
        since: str | None = None,
    ) -> None:
        """``since``: scan only the files changed against this revision (a task's base,
        ``HEAD~1``); None scans the whole tree."""
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        self.since = since
        self.judges_revision = since is not None
        for pattern in exclude_files:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"gate {name!r}: bad exclude pattern {pattern!r}: {exc}") from None
        self.exclude_files = tuple(exclude_files)

    def settings(self) -> Sequence[object]:
        return [list(self.exclude_files), PINNED_REVISION, self.since, 2]

    def wants(self, path: str) -> bool:
        return not path.endswith(BASELINE)

    def argv_for(self, workspace: Path, files: Sequence[str] | None) -> list[str]:
        # A pool of processes (detect-secrets' default) costs more than it saves on a few.
        cores = ["--cores", "1"] if files is not None and len(files) < 8 else []
        argv = [sys.executable, "-c", _SCAN, *cores, "scan", "--exclude-files", EXCLUDED]
        argv += ["--exclude-files", re.escape(BASELINE) + "$", "--exclude-lines", PINNED_REVISION]
        for pattern in self.exclude_files:
            argv += ["--exclude-files", pattern]
        if read_baseline(workspace) is not None:
            argv += ["--baseline", BASELINE]
        if files is None:
            return [*argv, "--all-files", "."]
        return [*argv, *(f"./{name}" for name in files)]

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
