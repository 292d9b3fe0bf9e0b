"""``cli:NAME`` — an external coding agent (Claude Code, Codex, Gemini CLI, Aider) run in the
worktree.

The agent does the whole task in one call: it reads and edits the files itself. We start it
in the task's worktree (``labels["workspace"]``, or the provider's ``cwd``) in its own process
group with a time limit, read its output line by line — Claude Code's ``stream-json``, Codex's
``exec --json`` events, Gemini CLI's ``stream-json``, or plain text — stream what it says to
``on_text``, and add up its usage. The completion carries a ``finish`` tool call with the
agent's summary, so the engineer's loop ends cleanly on the same path as a tool-calling
model. The call costs what the agent billed (Claude Code's ``total_cost_usd``), and a failed
run (an error result, a crash, the time limit) still carries what it used in
``ProviderError.spent``. A line of output is cut to a readable size for the log, however long
the agent printed it; a prompt too long for one argument goes to the agent's stdin or a file
(:mod:`agents.providers.cli_prompt`).

The agent keeps the host environment it needs for its own login, but only its own key
(:mod:`agents.providers.cli_agents`). What it does see, it may echo, and a withheld key may
still come its way: the secret-looking values of the factory's environment are redacted from
its output before anything reaches the event log (:mod:`agents.providers.cli_secret_files`).
Where bubblewrap works, the user's checkout and its git config and hooks are read-only to the
agent (:mod:`agents.providers.cli_fence`). The Node packages' installed dependencies are lent
to its worktree for its run (:mod:`engine.borrowed_modules`), so it can run their tests.

This module is the provider: it builds the command, runs it
(:mod:`agents.providers.cli_process`) within its time limit
(:mod:`agents.providers.cli_running_time`), folds its output
(:mod:`agents.providers.cli_streams`) and says a failed run as one line
(:mod:`agents.providers.cli_failures`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from agents.project_tests import labelled_packages
from agents.provider import (
    BUILD_DIR_LABEL,
    Completion,
    CompletionRequest,
    ProviderError,
    ToolCall,
)
from agents.providers.cli_agents import DEFAULT_AGENTS, CliAgent, agent_env, argv_keys
from agents.providers.cli_failures import exit_said, failure
from agents.providers.cli_fence import checkout_of, fence_argv, fence_said
from agents.providers.cli_process import Capped, exit_code, feed, finished, lines
from agents.providers.cli_prompt import CommandLine, agent_prompt, command_line
from agents.providers.cli_running_time import within_running_time
from agents.providers.cli_secret_files import (
    checkout_secret_values,
    masked_copies,
    secret_values,
    secrets_said,
    skip_worktree,
    worktree_secret_files,
)
from agents.providers.cli_streams import FOLDS, Transcript, as_drawn, reply_ended, text_line
from agents.providers.provider_errors import AFTER_LIMIT
from engine.borrowed_modules import lent_node_modules
from engine.parent_death import dying_with_us, setpriv_wrapper
from engine.secret_index import LOOK_BUDGET_S
from engine.secret_values import (
    WorktreeSecrets,
    checkout_secret_files,
    quoted_forms,
    replace_values,
)
from engine.strays import MARK, kill_group, kill_marked, new_mark

FILES_LOOK_S = 0.5
"""Seconds between the looks at the worktree's secret files while the agent's output is read
(a ``.env`` it writes is masked in what it prints after)."""
MAX_SAID = 4000
"""Characters of one line of the agent's log (and of its summary, the commit message's body)."""


class CliProvider:
    """Runs ``agent`` once per call in the task's worktree."""

    family = "cli"
    simulated = False

    def __init__(
        self,
        name: str,
        agent: CliAgent | None = None,
        *,
        cwd: Path | None = None,
        model: str = "",
        env: Mapping[str, str] | None = None,
    ) -> None:
        if agent is None:
            if name not in DEFAULT_AGENTS:
                raise ProviderError(
                    f"unknown cli agent {name!r}: configure its command or use one of "
                    f"{', '.join(DEFAULT_AGENTS)}"
                )
            agent = DEFAULT_AGENTS[name]
        if not agent.argv:
            raise ProviderError(f"cli agent {name!r} has an empty command")
        if model and not agent.model_args and not any("{model}" in a for a in agent.argv):
            raise ProviderError(
                f"cli:{name}@{model}: the agent's command takes no model; put {{model}} in "
                f"[providers.cli.{name}] argv where its model option goes"
            )
        self.name = name
        self.agent = agent
        setpriv_wrapper()  # tried now, not on the event loop at the agent's first start
        self.cwd = cwd
        self._model = model
        self._env = dict(env) if env is not None else None
        self._failed: set[tuple[str, str, str, str]] = set()
        """The attempts (worktree, task, attempt) the agent failed: in a fallback chain a
        model takes over, and its next turns must not start the agent from the task again."""

    @property
    def model(self) -> str:
        return self._model or self.name

    @property
    def spec(self) -> str:
        return f"cli:{self.name}@{self._model}" if self._model else f"cli:{self.name}"

    @property
    def bills(self) -> bool:
        """Whether the agent says what each run cost (Claude Code's ``total_cost_usd``);
        Codex, Gemini CLI and Aider say only tokens, which the price table prices."""
        return self.agent.output == "claude-stream-json"

    def executable(self) -> str | None:
        """The agent's program as found on PATH, or None."""
        program = self.agent.argv[0]
        return program if os.path.isfile(program) else shutil.which(program)

    def _argv(self, prompt: str, prompt_file: Path | None = None) -> CommandLine:
        """The command line, and where the prompt goes (:mod:`agents.providers.cli_prompt`)."""
        return command_line(self.agent, self.name, self._model, prompt, prompt_file)

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        """Run the agent to its end; a failure is one ProviderError line."""
        started = time.monotonic()
        raw_cwd = request.labels.get("workspace")
        cwd = Path(raw_cwd) if raw_cwd else self.cwd
        if cwd is None or not cwd.is_dir():
            raise ProviderError(f"{self.spec}: no worktree to run in (label 'workspace')")
        attempt = request.labels.get("attempt")
        again = request.labels.get(AFTER_LIMIT, "")  # the agent, started again after its limit
        tried = (str(cwd), request.labels.get("task", ""), attempt, again) if attempt else None
        if tried in self._failed:
            raise ProviderError(f"{self.spec}: failed this attempt already; not started again")
        program = self.executable()
        if program is None:
            raise ProviderError(
                f"{self.spec}: command not found: {self.agent.argv[0]}", missing=True
            )
        if os.sep in program and not os.access(program, os.X_OK):  # said as Popen would
            raise ProviderError(
                f"{self.spec}: cannot start {program}: Permission denied", missing=True
            )
        prompt = agent_prompt(request)
        scratch = Path(tempfile.mkdtemp(prefix="shopfloor-masked-"))
        try:  # the prompt's file, where it goes in one, is the scratch folder's (private)
            argv, via = self._argv(prompt, scratch / "prompt.md")
        except ProviderError:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        argv[0] = program
        out = Transcript()
        say = Capped(on_text or (lambda _text: None))
        hidden: list[str] = []
        shown_masked = False
        try:
            if via == "file":
                await asyncio.to_thread((scratch / "prompt.md").write_text, prompt, "utf-8")
            secret_files = await asyncio.to_thread(worktree_secret_files, cwd)
            checkout = await checkout_of(cwd)  # readable to the agent, fenced or not
            theirs = await asyncio.to_thread(checkout_secret_files, checkout) if checkout else []
            if self.agent.fence:
                unfenced = argv
                masks = await asyncio.to_thread(masked_copies, cwd, secret_files, scratch)
                in_checkout: list[tuple[Path, Path]] = []
                if checkout is not None and theirs:
                    (scratch / "checkout").mkdir()
                    in_checkout = await asyncio.to_thread(
                        masked_copies, checkout, theirs, scratch / "checkout", links=True
                    )
                argv = await fence_argv(argv, cwd, masked=[*masks, *in_checkout])
                fenced = argv is not unfenced
                if said := fence_said(argv, fenced=fenced, worktree=cwd):
                    say(said)
                shown_masked = fenced and bool(masks)
                if shown_masked:
                    names = [target.relative_to(cwd).as_posix() for _, target in masks]
                    hidden = await asyncio.to_thread(skip_worktree, cwd, names, True)
            if said := secrets_said(secret_files, masked=shown_masked):
                say(said)
            host = self._env if self._env is not None else os.environ
            env = agent_env(self.agent, host)
            if build_dir := request.labels.get(BUILD_DIR_LABEL):  # the attempt's slot
                env["CARGO_TARGET_DIR"] = build_dir
            stdin = prompt.encode("utf-8") if via == "stdin" else None
            # The host's secrets, not only the agent's: a key withheld from it can still come
            # its way (the factory's /proc/<pid>/environ where no fence stands, a token file).
            # And the keys its own argv holds (argv_keys), which are in no environment. And
            # the values of the worktree's secret files: it reads the real ones unfenced, and
            # fenced too through git (``git show HEAD:.env``).
            # The worktree's are looked at again while the agent runs (a ``.env`` it writes),
            # at most every FILES_LOOK_S, by an index of its folders (a bounded look).
            files = WorktreeSecrets(cwd, every_s=FILES_LOOK_S, look_s=LOOK_BUDGET_S)
            secrets = [
                *secret_values(host, (value for _, value in argv_keys(self.agent.argv))),
                *quoted_forms(await asyncio.to_thread(files.values)),
            ]
            if checkout is not None and theirs:  # the checkout's, as the fence masks them
                secrets += await asyncio.to_thread(checkout_secret_values, checkout, theirs)
            secrets.sort(key=len, reverse=True)  # a value inside a longer one goes after it
            # The Node packages' installed dependencies, read-only in the fence (the checkout's),
            # for the agent's run only: the borrowed folders are gone before the commit.
            packages = labelled_packages(request.labels)
            try:
                with lent_node_modules(cwd, checkout, packages):
                    returncode, timed_out = await self._run(
                        argv, cwd, env, stdin, out, say, secrets, files
                    )
            finally:
                say.end()
        finally:
            if hidden:
                await asyncio.to_thread(skip_worktree, cwd, hidden, False)
            shutil.rmtree(scratch, ignore_errors=True)
        if tried is not None and (timed_out or out.failed is not None or returncode != 0):
            self._failed.add(tried)
        spent = Completion(
            text="",
            usage=out.spent(),
            stop_reason="error",
            model=out.model or self.model,
            latency_s=time.monotonic() - started,
            cost_usd=out.cost_usd,
        )
        if timed_out:
            raise ProviderError(
                f"{self.spec}: timed out after {self.agent.timeout_s:g}s", spent=spent
            )
        if out.failed is not None:
            raise failure(self.spec, "the agent failed", out.failed, out, spent)
        if returncode != 0:
            tail = " / ".join(out.tail[-3:]) or "no output"
            raise failure(self.spec, exit_said(returncode), tail, out, spent)
        summary = _cut(out.summary or "\n".join(out.tail[-10:]) or f"{self.name} finished")
        return replace(
            spent,
            text=summary,
            tool_calls=(ToolCall(f"{self.name}-finish", "finish", {"summary": summary}),),
            stop_reason="tool_use",
        )

    async def _run(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        stdin: bytes | None,
        out: Transcript,
        say: Callable[[str], None],
        secrets: Sequence[str],
        files: WorktreeSecrets | None = None,
    ) -> tuple[int, bool]:
        # A SIGKILLed run leaves no agent calling its model: through ``setpriv`` where it
        # works, so no Python runs in the child and the loop does not wait for its ``exec``.
        # What it starts in a session of its own (a dev server, a watcher) ends with it too.
        mark = new_mark()
        env = {**env, MARK: mark}
        start = dying_with_us(argv, env)
        try:
            process = await asyncio.create_subprocess_exec(
                *start.argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=start.preexec_fn,
            )
        except OSError as exc:
            message = f"{self.spec}: cannot start {argv[0]}: {exc.strerror}"
            raise ProviderError(message, missing=True) from None
        try:
            # The prompt is fed while the output is read, both within the time limit: an
            # agent that does not read its stdin (or prints a pipe's worth first) must not
            # hold the attempt past it.
            reading = asyncio.gather(
                feed(process, stdin), self._read(process, out, say, secrets, files)
            )
            done = asyncio.ensure_future(finished(process, reading))
            try:
                if not await within_running_time(done, self.agent.timeout_s):
                    raise TimeoutError
            finally:
                if not done.done():
                    done.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await done
            return done.result(), False
        except TimeoutError:
            kill_group(process.pid)
            await exit_code(process)
            return -signal.SIGKILL, True
        except asyncio.CancelledError:
            kill_group(process.pid)
            raise
        finally:
            kill_group(process.pid)
            kill_marked(mark)

    async def _read(
        self,
        process: asyncio.subprocess.Process,
        out: Transcript,
        say: Callable[[str], None],
        secrets: Sequence[str] = (),
        files: WorktreeSecrets | None = None,
    ) -> None:
        assert process.stdout is not None

        def clean(text: str) -> str:
            # What a fold says may join several lines, each cleaned alone: Gemini CLI's reply
            # streamed in pieces, a key split across them.
            text = replace_values(text, secrets)
            return files.mask(text) if files is not None else text

        def show(text: str) -> None:  # one line of the log stays a line, however long
            say(_cut(clean(text)))

        def as_text(line: str) -> None:
            # Cleaned again as a terminal draws it: a colour code inside a value (``grep
            # --color=always``) split it where the line was cleaned.
            text_line(_cut(clean(as_drawn(line))), out, say)

        # The agent echoed its own key (a command's output, an error), or one it read.
        async for raw, cut in lines(process.stdout, [s.encode("utf-8") for s in secrets]):
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if files is not None:  # values of the worktree's secret files, a cut one's start
                line = files.mask(line, cut=cut)
            if not line.strip():
                continue
            if self.agent.output == "text":
                as_text(line)
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if not isinstance(event, dict):
                as_text(line)  # a warning or log line between the events
                continue
            fold = FOLDS[self.agent.output]
            try:
                fold(event, out, show)
            except (AttributeError, TypeError, ValueError):  # a shape we do not know
                as_text(line)
        reply_ended(out, show)
        out.summary = clean(out.summary)


def _cut(text: str, limit: int = MAX_SAID) -> str:
    """``text``, or its start and how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more characters]"
