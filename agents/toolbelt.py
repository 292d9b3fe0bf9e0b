"""The engineer's toolbelt: the only way an engineer agent touches its worktree.

Every path is confined to the worktree — no absolute paths, no ``..``, no ``.git``, no symlink
that resolves outside — and every output is bounded with a note saying so. Commands run
through the sandbox the composition root hands in (gates/sandbox.py), never directly, with the
Node packages the user installed in the checkout lent for their time
(:mod:`engine.borrowed_modules`); ``run_tests`` runs the tests where the gates do
(:mod:`agents.project_tests`).

Files are the user's, so an edit changes only what it says: a file with Windows line endings
keeps them (the model reads and writes ``\n``; a one-line edit must not rewrite every line,
which the shrinkage gate would refuse as a deletion), bytes that are not UTF-8 (a Latin-1
comment) survive an edit untouched, and a binary file is named as such instead of decoded.

What the tools answer goes to a third-party model, so it is masked as
:mod:`engine.secret_files` says: ``read_file`` of a ``.env``, a private key or a
``credentials.json`` shows its names and structure with the values as ``[REDACTED]`` (any
file's key-shaped values too, and the output of commands and tests), with a note that the file
keeps the real ones. What commands and tests print is cleaned of those files' values as well
(:class:`~engine.secret_values.WorktreeSecrets`: ``cat .env``, a test printing its settings),
once, whatever the sandbox: by the sandbox where its receipt proves it
(``CommandResult.cleaned``; it keeps one index per worktree, for the gates too, which the
toolbelt takes on), here otherwise, looked at in a thread, off the event loop every agent
shares. An edit or a write that would put ``[REDACTED]`` into a file is refused with the
reason: copied back, the mask would replace the user's real value.

The tools as the model is offered them are in :mod:`agents.tool_specs`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from agents.file_listing import listed_files
from agents.file_text import FileText, ToolError, load_text, shown_text
from agents.project_tests import (
    NODE_TEST_ENV,
    PlannedRun,
    ProjectTests,
    npm_test_argv,
    planned_runs,
    test_script,
)
from agents.provider import UNPARSED_ARGUMENTS, ToolCall
from agents.tool_specs import ToolResult
from engine.beneath import LeavesRoot, read_beneath, relative_parts, write_beneath
from engine.borrowed_modules import NODE_MODULES, lent_node_modules
from engine.layout import (
    NO_PYTEST,
    PYTEST_PLAIN_OUTPUT,
    pytest_missing_line,
    with_project_python,
    with_src_on_path,
)
from engine.protocols import CommandResult, Sandbox
from engine.pytest_addopts import left_out_note, run_pytest
from engine.secret_files import (
    MASK_NOTE,
    is_secret_file,
    mask_text,
    masked_for_model,
    writes_mask,
)
from engine.secret_values import WorktreeSecrets, replace_values
from engine.secrets import REDACTED

MAX_OUTPUT = 12_000
MAX_FILE_BYTES = 1_000_000
MAX_ARGS = 64
MAX_ARG_CHARS = 4000


def _bounded(text: str, limit: int = MAX_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    cut = len(text) - limit
    return f"{text[:head]}\n... [{cut} characters cut] ...\n{text[-tail:]}"


@dataclass
class Toolbelt:
    """Tools bound to one worktree."""

    root: Path
    sandbox: Sandbox
    python: str = sys.executable
    test_timeout_s: float = 300.0
    test_env: dict[str, str] = field(default_factory=dict)
    tests: ProjectTests = field(default_factory=ProjectTests)
    """Where the gates run the project's tests (pytest's projects, the Node packages):
    ``run_tests`` runs each the same way, so an agent sees the failures the gates will see,
    and ``run`` lends the Node packages their installed dependencies."""
    written: list[str] = field(default_factory=list)
    finished: bool = False
    summary: str = ""
    test_runs: int = 0
    command_timeout_s: float = 120.0
    commands_run: int = 0

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self._secrets = WorktreeSecrets(self.root)  # walked at its first look, if any

    async def _output(self, result: CommandResult, since: float) -> str:
        """What the command run from ``since`` (``time.monotonic()``) printed, cleaned of the
        values of the worktree's secret files once: by the sandbox when its receipt shows it
        (:meth:`~engine.secret_values.Cleaned.covers`), whose index is then the toolbelt's;
        here when not (a sandbox that does not clean, or claims it unprovably), in a thread:
        a first look walks the worktree, the later ones the folders that changed."""
        receipt = result.cleaned
        if receipt is not None and receipt.covers(result.output, self.root, since):
            self._secrets = receipt.index
            return result.output
        return (await asyncio.to_thread(self._secrets.clean, result.output)).text

    def _known_cleaned(self, text: str) -> str:
        """``text`` the toolbelt shows beside an output (the argv, a test run's arguments)
        cleaned of the secret values known at the last look."""
        return replace_values(text, self._secrets.forms)

    def resolve(self, raw: object) -> Path:
        """The path inside the worktree for ``raw``, or :class:`ToolError`: a check of the
        spelling and of where it resolves now. The file tools open the file by
        :mod:`engine.beneath` all the same, never by this path: a command can swap a link in
        between this check and the open."""
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("path must be a non-empty string")
        if "\0" in raw:
            raise ToolError(f"a path may not hold a null byte: {raw!r}")
        pure = PurePosixPath(raw.replace("\\", "/"))
        if pure.is_absolute():
            raise ToolError(f"absolute paths are not allowed: {raw}")
        if ".." in pure.parts:
            raise ToolError(f"paths may not leave the repository: {raw}")
        if pure.parts and pure.parts[0] == ".git":
            raise ToolError(f"the .git directory is off limits: {raw}")
        candidate = self.root.joinpath(*pure.parts)
        real = candidate.resolve()
        if real != self.root and not real.is_relative_to(self.root):
            raise ToolError(f"{raw} resolves outside the repository (symlink)")
        return candidate

    async def execute(self, call: ToolCall) -> ToolResult:
        """Run one tool call; refusals and errors come back as error results, never raise."""
        handler = getattr(self, f"_tool_{call.name}", None)
        if handler is None:
            return ToolResult(f"unknown tool {call.name!r}", is_error=True)
        if UNPARSED_ARGUMENTS in call.arguments:
            sent = str(call.arguments[UNPARSED_ARGUMENTS])
            return ToolResult(
                f"the arguments of {call.name} were not a JSON object: {sent[:200]!r}; "
                "call it again with its arguments as one JSON object",
                is_error=True,
            )
        try:
            result: ToolResult = await handler(call.arguments)
        except ToolError as exc:
            return ToolResult(str(exc), is_error=True)
        except (OSError, UnicodeError) as exc:
            return ToolResult(f"{call.name} failed: {exc}", is_error=True)
        return result

    async def _tool_list_files(self, args: dict[str, Any]) -> ToolResult:
        files = await listed_files(self.root)  # in a thread, by git's index where it can
        return ToolResult(_bounded("\n".join(files) or "(empty repository)"))

    def _checked(self, raw: object) -> str:
        """The path ``raw`` checked (:meth:`resolve`), as the file tools name and open it."""
        self.resolve(raw)
        return "/".join(relative_parts(str(raw)))

    def _read(self, rel: str) -> tuple[bytes, str] | None:
        """The bytes of the file ``rel`` (:meth:`_checked`) and its real name inside the
        worktree (:func:`~engine.beneath.read_beneath`); None when there is no such file."""
        try:
            return read_beneath(self.root, relative_parts(rel), shown=rel)
        except LeavesRoot as exc:
            raise ToolError(str(exc)) from None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _write(self, rel: str, data: bytes) -> None:
        """Write ``data`` to the file ``rel`` (:func:`~engine.beneath.write_beneath`)."""
        try:
            write_beneath(self.root, relative_parts(rel), data, shown=rel)
        except LeavesRoot as exc:
            raise ToolError(str(exc)) from None
        self.written.append(rel)

    async def _tool_read_file(self, args: dict[str, Any]) -> ToolResult:
        rel = self._checked(args.get("path"))
        found = self._read(rel)
        if found is None:
            raise ToolError(f"no such file: {args.get('path')}")
        data, real = found
        text = shown_text(load_text(data, PurePosixPath(rel).name))
        name = rel if is_secret_file(rel) else real  # a link's target inside the worktree
        shown = masked_for_model(name, text)
        if shown != text:
            shown = f"{MASK_NOTE}\n{shown}"
        return ToolResult(_bounded(shown))

    def _refuse_mask(self, rel: str, before: str, after: str) -> None:
        """:class:`ToolError` for a change that would write the mask into ``rel``."""
        if writes_mask(before, after):
            raise ToolError(
                f"refused: this would write {REDACTED} into {rel}. {REDACTED} stands for a "
                "secret value hidden from you; the file keeps the real one. Edit around it "
                "(leave that value out of search and replace), or read the secret from an "
                "environment variable"
            )

    async def _tool_write_file(self, args: dict[str, Any]) -> ToolResult:
        rel = self._checked(args.get("path"))
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        if len(content.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            raise ToolError(f"content over {MAX_FILE_BYTES} bytes")
        crlf = False
        before = ""
        found = self._read(rel)
        if found is not None:
            try:
                loaded = load_text(found[0], PurePosixPath(rel).name)
                crlf, before = loaded.crlf, loaded.text  # an overwritten file keeps its line ends
            except ToolError:
                crlf = False
        self._refuse_mask(rel, before, content)
        self._write(rel, FileText("", crlf, True).encode(content))
        return ToolResult(f"wrote {rel} ({len(content.splitlines())} lines)")

    async def _tool_edit_file(self, args: dict[str, Any]) -> ToolResult:
        rel = self._checked(args.get("path"))
        search, replace = args.get("search"), args.get("replace")
        if not isinstance(search, str) or not search or not isinstance(replace, str):
            raise ToolError("search must be a non-empty string and replace a string")
        found = self._read(rel)
        if found is None:
            raise ToolError(f"no such file: {args.get('path')}")
        loaded = load_text(found[0], PurePosixPath(rel).name)
        if loaded.crlf or ("\r\n" in search and search not in loaded.text):
            # The text is read with LF line ends (a CRLF file is written back as CRLF); a
            # model writing CRLF into an LF file's search meant the same lines.
            search, replace = search.replace("\r\n", "\n"), replace.replace("\r\n", "\n")
        self._refuse_mask(rel, search, replace)
        count = loaded.text.count(search)
        if count == 0 and REDACTED in search and REDACTED not in loaded.text:
            raise ToolError(
                f"search text not found in {args.get('path')}: it holds {REDACTED}, which "
                "stands for a secret value hidden from you and is not in the file; search for "
                "the text around it"
            )
        if count != 1:
            raise ToolError(
                f"search text found {count} times in {args.get('path')}; it must be exactly once"
            )
        self._write(rel, loaded.encode(loaded.text.replace(search, replace, 1)))
        return ToolResult(f"edited {rel}")

    async def _tool_run_tests(self, args: dict[str, Any]) -> ToolResult:
        extra = args.get("args") or []
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise ToolError("args must be a list of strings")
        if any("\0" in arg for arg in extra):
            raise ToolError("an argument may not hold a null byte")
        for arg in extra:
            if not arg.startswith("-"):
                self.resolve(arg.split("::")[0])
        self.test_runs += 1
        spent = 0.0
        sections: list[str] = []
        runs = planned_runs(self.root, self.tests, extra)
        if not runs:
            sections.append(
                "[nothing to run: no Python tests, and no package.json here has a test script]"
            )
        for run in runs:
            left = self.test_timeout_s - spent  # the places share the time for tests
            if left <= 0:
                shown = self._known_cleaned(self._shown(run))
                sections.append(f"{shown}\n[not run: the time for tests ran out]")
                continue
            runner = {"pytest": self._pytest, "npm": self._npm_test}.get(run.runner, self._command)
            text, duration = await runner(run, left)
            spent += duration
            sections.append(f"{self._known_cleaned(self._shown(run))}\n{text}")
        # A failing test may print a key (a fixture's, a config's): the output goes to a model.
        return ToolResult(_bounded(mask_text("\n\n".join(sections))))

    @staticmethod
    def _shown(run: PlannedRun) -> str:
        where = "" if run.folder == "." else f"  (in {run.folder})"
        if run.runner == "pytest":
            shown = " ".join(a for a in run.args if not a.startswith("--ignore="))
            return f"$ pytest {shown}{where}"
        if run.runner == "command":
            return f"$ {' '.join(run.args)}"
        return f"$ npm test{' -- ' if run.args else ''}{' '.join(run.args)}{where}"

    async def _pytest(self, run: PlannedRun, left: float) -> tuple[str, float]:
        since = time.monotonic()
        result, dropped = await run_pytest(  # as the tests gate runs it
            self.sandbox,
            [
                # Set, not added to the project's addopts: "-qq" and -q printed no counts.
                *(self.python, "-m", "pytest", "--verbosity=-1", "-p", "no:cacheprovider"),
                *(*PYTEST_PLAIN_OUTPUT, *run.args),
            ],
            self.root,
            run.folder,
            timeout_s=left,
            env=with_project_python(
                with_src_on_path(self.test_env, self.root / run.folder), self.python
            )
            or None,
        )
        status = "timed out" if result.timed_out else f"exit code {result.returncode}"
        status += left_out_note(dropped, self.python) if dropped else ""
        if result.returncode == 1 and NO_PYTEST.search(result.output):
            status += f"; {pytest_missing_line(self.python)}"  # not the code's failure
        return f"{await self._output(result, since)}\n[{status}]", result.duration_s

    async def _command(self, run: PlannedRun, left: float) -> tuple[str, float]:
        """A configured test gate's command (``cargo test``), as the gate runs it."""
        since = time.monotonic()
        result = await self.sandbox.run(run.args, self.root, timeout_s=left, env=self.test_env)
        status = "timed out" if result.timed_out else f"exit code {result.returncode}"
        return f"{await self._output(result, since)}\n[{status}]", result.duration_s

    async def _npm_test(self, run: PlannedRun, left: float) -> tuple[str, float]:
        """The package's test script, as the Node gate runs it, with the dependencies the
        user installed in the checkout borrowed for its time."""
        place = self.root / run.folder
        argv, note = npm_test_argv(test_script(self.root, run.folder) or "", run.args)
        with lent_node_modules(self.root, self.tests.checkout, [run.folder]):
            since = time.monotonic()
            result = await self.sandbox.run(
                argv, place, timeout_s=left, env={**NODE_TEST_ENV, **self.test_env}
            )
            installed = (place / NODE_MODULES).is_dir()
        status = "timed out" if result.timed_out else f"exit code {result.returncode}"
        if result.returncode == 127 and not installed:
            status += (
                "; the package's dependencies are not installed in the checkout: the user "
                "must run npm ci there"
            )
        output = await self._output(result, since)
        said = [self._known_cleaned(note), output, f"[{status}]"]
        return "\n".join(filter(None, said)), result.duration_s

    async def _tool_run(self, args: dict[str, Any]) -> ToolResult:
        argv = args.get("argv")
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, str) and a for a in argv)
        ):
            raise ToolError("argv must be a non-empty list of non-empty strings")
        if any("\0" in arg for arg in argv):
            raise ToolError("an argument may not hold a null byte")
        if len(argv) > MAX_ARGS or any(len(a) > MAX_ARG_CHARS for a in argv):
            raise ToolError(
                f"argv is limited to {MAX_ARGS} arguments of {MAX_ARG_CHARS} characters"
            )
        program = argv[0]
        if "/" in program or "\\" in program:
            program = str(self.resolve(program))  # a script of the worktree, never outside it
        timeout = args.get("timeout_s", self.command_timeout_s)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
            raise ToolError("timeout_s must be a positive number")
        self.commands_run += 1
        # npx vitest, npm test: the Node packages' installed dependencies, for the command's
        # time (a worktree has none; the borrowed folders are gone before anything commits).
        with lent_node_modules(self.root, self.tests.checkout, self.tests.node_packages):
            since = time.monotonic()
            result = await self.sandbox.run(
                [program, *argv[1:]],
                self.root,
                timeout_s=min(float(timeout), self.command_timeout_s),
                env=self.test_env or None,
            )
        status = "timed out" if result.timed_out else f"exit code {result.returncode}"
        output = await self._output(result, since)
        shown = f"$ {self._known_cleaned(' '.join(argv))}\n{output}\n[{status}]"
        return ToolResult(
            _bounded(mask_text(shown)),
            is_error=result.returncode != 0,
        )

    async def _tool_finish(self, args: dict[str, Any]) -> ToolResult:
        summary = args.get("summary")
        self.summary = summary.strip() if isinstance(summary, str) else ""
        self.finished = True
        return ToolResult("attempt finished")
