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

import asyncio
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from engine.repo_guard import git_run
from engine.workspace import JUNK_PATHSPECS
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
MAX_LISTED_FILES = 2000
"""A revision changing more files than this is scanned whole (the command line stays short)."""


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


_SKIPPED = re.compile(EXCLUDED)
TEXT_SNIFF_BYTES = 8000
"""How much of an untracked file is read to tell text from binary (git's own measure)."""


def changed_text_files(workspace: Path, since: str) -> list[str] | None:
    """The text files of ``workspace`` that differ from ``since``: added, modified or
    retyped (``git diff``: what its numstat does not call binary) and untracked ones git
    does not ignore; tool caches and vendored trees left out. None when ``since`` is not a
    revision of the workspace or git cannot tell."""
    diff = git_run(
        workspace,
        "-c",
        "core.quotepath=off",
        "diff",
        "--numstat",
        "-z",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--diff-filter=AMT",
        since,
        "--",
        ".",
        *JUNK_PATHSPECS,
    )
    others = git_run(
        workspace, "ls-files", "-z", "--others", "--exclude-standard", "--", ".", *JUNK_PATHSPECS
    )
    if diff.returncode != 0 or others.returncode != 0:
        return None
    files: list[str] = []
    for record in diff.stdout.split("\0"):
        added, _, rest = record.partition("\t")
        _deleted, _, path = rest.partition("\t")
        if path and added != "-":  # "-": a binary file
            files.append(path)
    for path in others.stdout.split("\0"):
        if not path:
            continue
        try:
            with (workspace / path).open("rb") as handle:
                if b"\0" in handle.read(TEXT_SNIFF_BYTES):
                    continue
        except OSError:
            continue
        files.append(path)
    return sorted(
        p
        for p in set(files)
        if not _SKIPPED.search(p) and not p.endswith(BASELINE) and (workspace / p).is_file()
    )


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
        since: str | None = None,
    ) -> None:
        """``since``: scan only the files changed against this revision (a task's base,
        ``HEAD~1``); None scans the whole tree."""
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        self.since = since
        self.judges_revision = since is not None
        """A scan of what a revision changed has no baseline (``engine.recon``)."""
        for pattern in exclude_files:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"gate {name!r}: bad exclude pattern {pattern!r}: {exc}") from None
        self.exclude_files = tuple(exclude_files)

    def on_changes(self, since: str = "HEAD~1") -> SecretsGate:
        """This gate scanning only what a revision changed against ``since``."""
        return SecretsGate(
            self.sandbox,
            name=self.name,
            exclude_files=self.exclude_files,
            timeout_s=self.timeout_s,
            env=self.env,
            since=since,
        )

    def settings(self) -> Sequence[object]:
        return [list(self.exclude_files), PINNED_REVISION, self.since, 2]

    async def cache_context(self, workspace: Path) -> str | None:
        """What decides the verdict beside the tree: for a scan of the changes, the tree of
        the revision they are taken against (see gates.cache)."""
        if self.since is None:
            return "whole tree"
        done = await asyncio.to_thread(
            git_run, workspace, "rev-parse", "--verify", "--quiet", f"{self.since}^{{tree}}"
        )
        if done.returncode not in (0, 1):
            return None
        return done.stdout.strip() if done.returncode == 0 else "<no base>"

    def argv(self, workspace: Path) -> list[str]:
        return self._argv(workspace, None)

    def _argv(self, workspace: Path, files: Sequence[str] | None) -> list[str]:
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

    async def check(self, workspace: Path) -> GateResult:
        """Scan the whole tree, or (``since``) the text files changed against ``since``."""
        if self.since is None:
            return await super().check(workspace)
        started = time.monotonic()
        files = await asyncio.to_thread(changed_text_files, workspace, self.since)
        if files is None or len(files) > MAX_LISTED_FILES:
            return await self.run_tool(workspace, self._argv(workspace, None), started)
        if not files:
            return GateResult(
                gate=self.name,
                passed=True,
                summary=f"clean: no text file changed since {self.since}",
                counts={"findings": 0, "blocking": 0, "scanned": 0},
                duration_s=time.monotonic() - started,
            )
        result = await self.run_tool(workspace, self._argv(workspace, files), started)
        return result.model_copy(update={"counts": {**result.counts, "scanned": len(files)}})

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
