"""The secrets gate: ``detect-secrets scan`` over the workspace; a hard-coded secret is refused.

Agents paste keys into code surprisingly often. The whole-tree scan (verify, audits, the
baseline of an update run) covers every file (not only the ones git tracks, so an attempt's
new files count) except tool caches and vendored trees. A task's own gate only has to ask
what the task brought in: given ``since`` (the task's base, ``HEAD~1``), it scans the text
files changed against it (added, modified, untracked), which on a real repository is a few
files instead of thousands (detect-secrets was the slowest gate: 9.6 s on click, 61 s on
rich). Such a gate judges a revision, like the shrinkage gate: baselines and audits use the
whole-tree one. The whole-tree scan reads only the files whose bytes it has not judged
before (``gates.secrets_memo``: each file's answer kept by path, bytes and the scan's
settings): on a 7,373-file tree the baseline's scan took 7 to 12 minutes, and verify's and
every later run's as long again. The files it has no answer for are scanned in batches
(:data:`BATCH_FILES` a call), each batch's answers kept as it ends, all within the gate's one
time limit: a first scan longer than that (7,373 files: some 450 s of detect-secrets on two
cores, against 180 s) fails saying how far it got, and the next check goes on from there
instead of starting over, until one check judges the whole tree.

The repository's own ``.secrets.baseline`` (detect-secrets' standard file) is honoured as
detect-secrets honours it: its settings (the plugins it uses, the files and lines it
excludes, which is how a project documents its test fixtures) apply to the scan, and the
secrets it lists (matched by hash) do not block; nor does a line marked
``# pragma: allowlist secret``. The finding names the file, the line and the kind of secret
— never the secret itself.

Symlinks: git keeps a link as the path it points at. A link inside the repository is a second
name for one of its files, whose secrets are found in that file, under its name (the change
scan reads the target when the revision changed it; the link adds no file to read). A link
the branch ships that leads out of the repository (an absolute target, or one climbing above
its root: ``~/.aws/credentials``, the ``../.env`` beside the checkout) fails the gate, named
by its path alone: whoever checks the branch out reads that file of their machine through it,
a leak path wherever the branch goes. The gate never reads or reports the file outside
(``gates.escaping_links``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from engine.beneath import read_text_beneath
from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from gates.changes import SKIPPED, ChangeScanGate
from gates.escaping_links import escaping_links, failed_by_links
from gates.secrets_memo import Answer, FileFindings, Listed, list_tree
from gates.tool_gate import Parsed, ReportFile, ToolOutputError, extract_json, relative

BASELINE = ".secrets.baseline"
DEFAULT_MEMO = FileFindings(max_entries=0)
"""Stands for "a memo of the gate's own" in :class:`SecretsGate`'s signature."""
EXCLUDED = SKIPPED.pattern
PINNED_REVISION = r"""^\s*-?\s*rev:\s*["']?[0-9a-f]{40}["']?\s*(#.*)?$"""
"""A ``rev:`` line pinning a git commit (pre-commit's configuration): a commit name, not a
secret; click's four pinned hooks failed the gate as "Hex High Entropy String"."""

BATCH_FILES = 200
"""At most how many files one detect-secrets call of the whole-tree scan reads: some 10 s on
two busy cores (about 0.5 s of it starting detect-secrets), so a scan cut by the time limit
loses seconds of work, not the minutes of a whole tree."""
BATCH_BYTES = 1_000_000
"""At most how many bytes one call reads (a lone bigger file is a call of its own): the time
goes with the bytes, some 11 to 15 s a megabyte on two busy cores, and 200 files of a real
tree held from 130 KB (generated API types) to 5 MB (vendored libraries)."""

REPORT_OPTION = "--shopfloor-report"
FILES_OPTION = "--shopfloor-files"
_SCAN = f"""
import json, os, sys
from detect_secrets.core import baseline
from detect_secrets.filters import regex
from detect_secrets.main import parse_args
from detect_secrets.settings import get_filters, get_settings
args = sys.argv[1:]
out = sys.stdout
if args[-2:-1] == [{REPORT_OPTION!r}]:
    out = open(args.pop(), "w", encoding="utf-8")
    args.pop()
if args[-2:-1] == [{FILES_OPTION!r}]:
    with open(args.pop(), encoding="utf-8") as listed:
        names = [name for name in listed.read().split("\\0") if name]
    args.pop()
    args += ["./" + name for name in names]
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
listed, here = baseline.get_files_to_scan, os.getcwd()
def inside(*paths, **options):
    # detect-secrets names a file by cutting the working folder's length off its real path;
    # through a symlink leading out, that can name any file of the machine: only files of
    # the workspace, under their own names, are read.
    for name in listed(*paths, **options):
        real = os.path.join(here, os.path.normpath(name))
        if not os.path.isabs(name) and os.path.realpath(name) == real:
            yield name
baseline.get_files_to_scan = inside
found = baseline.create(*parsed.path, should_scan_all_files=parsed.all_files,
                        root=parsed.custom_root, num_processors=parsed.num_cores)
out.write(json.dumps(baseline.format_for_output(found)))
out.close()
"""
"""detect-secrets' scan, with what it found written to the gate's report file (named last
after :data:`REPORT_OPTION`) and never into the repository's baseline: ``scan --baseline``
rewrites that file, and the gate only reads it. The files to scan may be listed in a file
(NUL-separated, after :data:`FILES_OPTION`): a whole tree's names overflow a command line.
Only files of the workspace are read, each under its own name: detect-secrets names a file
by cutting the working folder's length off its real path, and through a symlink leading out
(one padded to that length, dangling or not) it read and reported a file of the machine."""


def read_baseline(workspace: Path) -> dict[str, Any] | None:
    """The repo's baseline file, when it reads as one (else None: it is not used)."""
    try:
        data = json.loads(read_text_beneath(workspace, BASELINE))  # never through a link out
    except (OSError, ValueError):  # LeavesRoot and UnicodeDecodeError are ValueErrors
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


def scan_settings(workspace: Path, argv: Sequence[str]) -> str:
    """Everything besides a file's path and bytes that decides what detect-secrets finds in
    it: its version, the scan's command (options, script, interpreter), the settings of the
    repository's baseline file (not the secrets it lists, which only :meth:`parse` reads) and
    the code of any plugin or filter of the repository's own that file names."""
    try:
        version = metadata.version("detect-secrets")
    except metadata.PackageNotFoundError:
        version = "absent"
    data = read_baseline(workspace)
    settings = {k: v for k, v in (data or {}).items() if k not in ("results", "generated_at")}
    own: list[str] = []
    for key in ("plugins_used", "filters_used"):
        entries = settings.get(key)
        for item in entries if isinstance(entries, list) else []:
            path = item.get("path") if isinstance(item, dict) else None
            if isinstance(path, str) and path.startswith("file://"):
                try:
                    own.append(hashlib.sha256(Path(path[7:]).read_bytes()).hexdigest())
                except OSError:
                    own.append(f"unreadable {path}")
    text = json.dumps([version, sys.version, list(argv), settings, own], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def batches(todo: Sequence[Listed], files: int, size: int) -> Iterator[Sequence[Listed]]:
    """``todo`` in order, cut into runs of at most ``files`` files and ``size`` bytes (a
    bigger file alone)."""
    start, held = 0, 0
    for end, item in enumerate(todo):
        if end > start and (end - start == files or held + item.size > size):
            yield todo[start:end]
            start, held = end, 0
        held += item.size
    if start < len(todo):
        yield todo[start:]


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
        memo: FileFindings | None = DEFAULT_MEMO,
        batch_files: int = BATCH_FILES,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        """``since``: scan only the files changed against this revision (a task's base,
        ``HEAD~1``); None scans the whole tree. ``memo``: where the whole-tree scan keeps
        each file's answer (``gates.secrets_memo``; one in memory unless told, None: none).
        ``batch_files``, ``batch_bytes``: how many files, and bytes, it reads at most in one
        call of detect-secrets; ``timeout_s`` bounds the whole check, all of its calls
        together."""
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        if batch_files < 1:
            raise ValueError(f"gate {name!r}: batch_files must be positive, got {batch_files}")
        self.batch_files = batch_files
        self.batch_bytes = batch_bytes
        self.since = since
        self.memo = FileFindings() if memo is DEFAULT_MEMO else memo
        self.judges_revision = since is not None
        for pattern in exclude_files:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"gate {name!r}: bad exclude pattern {pattern!r}: {exc}") from None
        self.exclude_files = tuple(exclude_files)

    def settings(self) -> Sequence[object]:
        return [list(self.exclude_files), PINNED_REVISION, self.since, 3]

    def wants(self, path: str) -> bool:
        return not path.endswith(BASELINE)

    def options(self, workspace: Path, count: int | None = None) -> list[str]:
        """The scan's command without the files it reads (``count`` of them; None: a tree)."""
        # A pool of processes (detect-secrets' default) costs more than it saves on a few.
        cores = ["--cores", "1"] if count is not None and count < 8 else []
        argv = [sys.executable, "-c", _SCAN, *cores, "scan", "--exclude-files", EXCLUDED]
        argv += ["--exclude-files", re.escape(BASELINE) + "$", "--exclude-lines", PINNED_REVISION]
        for pattern in self.exclude_files:
            argv += ["--exclude-files", pattern]
        if read_baseline(workspace) is not None:
            argv += ["--baseline", BASELINE]
        return argv

    def argv_for(self, workspace: Path, files: Sequence[str] | None) -> list[str]:
        if files is None:
            return [*self.options(workspace), "--all-files", "."]
        return [*self.options(workspace, len(files)), *(f"./{name}" for name in files)]

    async def check(self, workspace: Path) -> GateResult:
        """The scan (:meth:`scan`), failed besides by each symlink the branch ships that
        leads out of the repository (``gates.escaping_links``)."""
        verdict = await self.scan(workspace)
        links = await asyncio.to_thread(
            escaping_links, workspace, self.since, SKIPPED, self.exclude_files
        )
        return failed_by_links(verdict, links)

    async def scan(self, workspace: Path) -> GateResult:
        """The scan of what a revision changed (``since``) as :class:`ChangeScanGate` runs it;
        the whole tree's with each file's answer taken from the memo when it has one."""
        if self.since is not None or self.memo is None:
            return await super().check(workspace)
        started = time.monotonic()
        memo = self.memo
        settings = await asyncio.to_thread(scan_settings, workspace, self.options(workspace))
        listed = await asyncio.to_thread(list_tree, workspace, SKIPPED)
        keys = {item.path: FileFindings.key(settings, item) for item in listed}
        known: dict[str, Answer] = await asyncio.to_thread(
            memo.known, keys
        )  # one hop, not one a file
        todo = [item for item in listed if item.path not in known]
        data: dict[str, Any] = {"results": {}}
        result = CommandResult(("detect-secrets",), 0, "", 0.0)
        deadline = started + self.timeout_s
        done = 0
        for batch in batches(todo, self.batch_files, self.batch_bytes):
            left = deadline - time.monotonic()
            if left <= 0:  # the last batch ended at the limit
                return self.cut(workspace, started, (len(known), done, len(listed)))
            try:
                result, report = await self.scan_listed(workspace, batch, left)
            except OSError:  # no report folder: the plain scan says what is wrong there
                return await self.run_tool(workspace, self.argv(workspace), started)
            if result.timed_out:
                return self.cut(workspace, started, (len(known), done, len(listed)), result)
            kept = None
            if result.returncode == 0:
                kept = await asyncio.to_thread(self.kept, report, batch, keys)
            if kept is None:  # the call failed or wrote no report: the gate says so
                verdict = self.judge(result, workspace, time.monotonic() - started, report)
                return verdict.model_copy(update={"counts": {**verdict.counts, "scanned": done}})
            data = {**kept, "results": {**data["results"], **kept["results"]}}
            done += len(batch)
        results = {**data["results"], **{path: found for path, found in known.items() if found}}
        merged = json.dumps({**data, "results": results})
        verdict = self.judge(result, workspace, time.monotonic() - started, merged)
        return verdict.model_copy(update={"counts": {**verdict.counts, "scanned": len(todo)}})

    def cut(
        self,
        workspace: Path,
        started: float,
        progress: tuple[int, int, int],
        result: CommandResult | None = None,
    ) -> GateResult:
        """The verdict of a whole-tree scan the time limit cut (``result``: the call it
        killed); ``progress``: the files answered from the memo, those this check scanned, and
        the tree's. A failure, never a pass on part of a tree, whose summary says how far it
        got; its finding is the plain time-out's, the same however far a scan got."""
        known, scanned, total = progress
        killed = result or CommandResult(("detect-secrets",), -9, "", 0.0, timed_out=True)
        verdict = self.judge(killed, workspace, time.monotonic() - started)
        summary = (
            f"{verdict.summary}: {known + scanned} of {total} files judged (their answers "
            "kept: the next check goes on from there)"
        )
        counts = {"judged": known + scanned, "files": total, "scanned": scanned}
        return verdict.model_copy(update={"summary": summary, "counts": counts})

    async def scan_listed(
        self, workspace: Path, todo: Sequence[Listed], timeout_s: float
    ) -> tuple[CommandResult, str | None]:
        """detect-secrets run over ``todo`` (named in a file) within ``timeout_s``, and the
        report it wrote; OSError when the workspace has no room for those files."""
        listing = ReportFile(workspace, "detect-secrets-files", ".txt")
        report = ReportFile(workspace, self.tool, ".out")
        try:
            listing.prepare().write_text("\0".join(item.path for item in todo), encoding="utf-8")
            argv = [*self.options(workspace, len(todo)), FILES_OPTION, str(listing.path)]
            argv += [REPORT_OPTION, str(report.prepare())]
            result = await self.sandbox.run(
                argv, workspace, timeout_s=timeout_s, env=self.env or None
            )
        finally:
            await asyncio.to_thread(listing.collect)
            written = await asyncio.to_thread(report.collect)
        return result, written

    def kept(
        self, report: str | None, batch: Sequence[Listed], keys: Mapping[str, str | None]
    ) -> dict[str, Any] | None:
        """The report of one call over ``batch``, each of its files' answers stored in the
        memo; None when the report cannot be read (the gate then says so)."""
        try:
            data = extract_json(report or "")
        except ToolOutputError:
            return None
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict) or self.memo is None:
            return None
        for item in batch:
            key = keys[item.path]
            answer = results.get(item.path, [])
            if key is not None and isinstance(answer, list):
                self.memo.put(key, answer)
        return {**data, "results": results}

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
