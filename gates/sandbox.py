"""Runs one command in a workspace with a time limit, an output cap and no secrets.

Every gate command and agent tool command goes through here. The command gets its own process
group (so a timeout or a cancelled task kills the whole tree, never leaving orphans), a
scrubbed environment built from an allow-list (:mod:`gates.sandbox_env`: API keys never reach
it), a private ``HOME``, and — when bubblewrap works on this machine — a jail with a read-only
system, a writable worktree and no network. A failing command is a result, never an exception.

Without the jail a command still runs as the user, and can read the factory's own
``/proc/<pid>/environ`` with every key in it: its output is cleaned of the environment's secret
values before anyone sees it (the gate's result, its cache entry, the run's log, the model
that asked for the command). So it is of the values the worktree's secret files hold
(:mod:`engine.secret_values`: ``cat .env``), and both before the output is cut to its cap
(:mod:`gates.sandbox_output`): cleaned after the cut, a value the cut went through kept its
first characters, which no later masking (the toolbelt's, the event bus's) could recognise.
The worktree's secret files are looked at once a command, after it ended (a ``.env`` it wrote
is found too), with the index kept per worktree, and the result carries that look's receipt
(``CommandResult.cleaned``): the toolbelt, which checks it, needs no index of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from engine.build_dirs import BuildDirs
from engine.parent_death import dying_with_us, setpriv_wrapper
from engine.protocols import CommandResult
from engine.secret_values import WorktreeSecrets, checkout_secret_files
from engine.secrets import secret_env_values
from engine.strays import MARK, kill_group, kill_marked, new_mark
from gates.bwrap import bwrap_argv, git_common_dir, git_read_only, interpreter_paths, probe_bwrap
from gates.home_toolchains import home_toolchains
from gates.private_dir import make_private_dir, remove_private_dir
from gates.sandbox_env import JAILED_ENV, scrubbed_environment
from gates.sandbox_output import Collector

DRAIN_TIMEOUT_S = 2.0
"""How long to wait for output after the command ended and its group was killed."""

SandboxKind = Literal["bwrap", "process"]


class _Refused(Exception):
    """A command that cannot start: 127 when not found, 126 when not executable."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _resolve(program: str, cwd: Path, path: str) -> str:
    """The executable to start for ``program``, looked up like a shell would."""
    if os.sep in program:
        candidate = Path(program) if os.path.isabs(program) else cwd / program
        if not candidate.is_file():
            raise _Refused(127, f"command not found: {program}")
        if not os.access(candidate, os.X_OK):
            raise _Refused(126, f"not executable: {program}")
        return str(candidate)
    found = shutil.which(program, path=path)
    if found is None:
        raise _Refused(127, f"command not found: {program}")
    return found


def _exited(pid: int) -> bool:
    """Whether our child ``pid`` has ended, left for the loop's watcher to reap.

    The command runs in a session of its own, so it goes on while this process is stopped
    (Ctrl-Z, SIGSTOP) and may end meanwhile; after ``fg`` its time limit fires at once,
    and a gate that passed within it was reported "did not finish within 600s and was
    killed": a red verdict, a retry of the task.
    """
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True
    except OSError:
        return False


async def _kill_spawned(
    spawn: asyncio.Future[tuple[asyncio.SubprocessTransport, Any]], mark: str | None
) -> None:
    """Take down the process group of a command whose caller was cancelled while it started,
    and (``mark``, without the jail) what it put in a session of its own.

    Cancelled inside ``subprocess_exec``, once the process is forked, asyncio kills the
    process it started and nothing else: what that shell had already put in the background
    (``sleep 60 & wait``, a test server) lived on. Here the start is let finish, and the
    whole group is killed. On a loaded machine the command may have run a while before this
    task resumed to take its start: a ``setsid`` daemon it started lived on, unswept."""
    try:
        transport, _ = await spawn
    except (OSError, asyncio.CancelledError):
        return  # it never started
    kill_group(transport.get_pid())
    if mark is not None:
        kill_marked(mark)
    transport.close()


class ProcessSandbox:
    """Implements ``engine.protocols.Sandbox`` with subprocesses, under bwrap when it works.

    ``use_bwrap`` asks for the jail when bwrap is present and passes its self-test; otherwise
    commands run as plain process groups and :attr:`fallback_reason` says why. ``hide_home``
    lays a tmpfs over the real home inside the jail; ``extra_readable`` lists paths under a
    hidden area (``/tmp``, the real home) that commands still need to read.

    ``build_dirs``: the run's cargo target folders; a command in a worktree gets its slot's
    (:meth:`engine.build_dirs.BuildDirs.lend`), writable in the jail, and no other.
    """

    def __init__(
        self,
        *,
        output_limit: int = 200_000,
        use_bwrap: bool = True,
        kill_grace_s: float = 2.0,
        hide_home: bool = True,
        extra_readable: Sequence[Path] = (),
        build_dirs: BuildDirs | None = None,
    ) -> None:
        self.output_limit = output_limit
        self.kill_grace_s = kill_grace_s
        self.extra_readable = tuple(extra_readable)
        self.build_dirs = build_dirs
        self.interpreter_dir = Path(sys.executable).parent
        self._real_home = Path.home() if hide_home else None
        self.toolchains = home_toolchains(Path.home(), os.environ)
        self._bwrap: str | None = None
        self.fallback_reason: str | None = "bwrap disabled by configuration"
        if use_bwrap:
            probe = probe_bwrap()
            self._bwrap = probe.path if probe.usable else None
            self.fallback_reason = probe.reason
        # Those of processes killed meanwhile go, and what their commands left running.
        private, held, abandoned = make_private_dir()
        for name in abandoned:
            kill_marked(f"{name}.", prefix=True)
        self._cleanup = weakref.finalize(self, remove_private_dir, str(private), held)
        self._marks = f"{private.name}."
        self.home = private / "home"
        self.tmpdir = private / "tmp"
        self.home.mkdir()
        self.tmpdir.mkdir()
        setpriv_wrapper()  # tried now, not on the event loop at the first command
        self._file_secrets: dict[Path, WorktreeSecrets] = {}
        self._checkout_secrets: dict[Path, WorktreeSecrets] = {}

    @property
    def kind(self) -> SandboxKind:
        """``"bwrap"`` when commands run jailed, ``"process"`` otherwise."""
        return "bwrap" if self._bwrap is not None else "process"

    def close(self) -> None:
        """Remove the private home and temp directories. The sandbox is not used afterwards."""
        self._cleanup()

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The scrubbed environment a command run now would get."""
        env = scrubbed_environment(
            os.environ,
            extra,
            home=self.home,
            interpreter_dir=self.interpreter_dir,
            tmpdir=Path("/tmp") if self._bwrap else self.tmpdir,
        )
        env.update(self.toolchains.env)  # rustup's, found from the private home
        if self._bwrap is not None:
            env.update(JAILED_ENV)
        return env

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run ``argv`` in ``cwd``; kill its whole process tree after ``timeout_s``."""
        started = time.monotonic()
        args = tuple(argv)
        in_files = self._worktree_secrets(cwd)

        async def refuse(code: int, message: str) -> CommandResult:
            output = f"shopfloor sandbox: {message}\n"  # ours, and said cleaned of the files
            cleaned = None if in_files is None else await asyncio.to_thread(in_files.clean, output)
            return CommandResult(args, code, output, time.monotonic() - started, cleaned=cleaned)

        full_env = self.environment(env)
        # The jail's PID namespace ends what left the group; without it, the mark finds it.
        mark = None if self._bwrap is not None else self._marks + new_mark()
        if mark is not None:
            full_env[MARK] = mark
        slot = None if self.build_dirs is None else self.build_dirs.lend(cwd, full_env)
        try:
            command = self._command(args, cwd, full_env["PATH"], slot)
        except _Refused as refusal:
            return await refuse(refusal.code, refusal.message)
        loop = asyncio.get_running_loop()
        secrets = [value.strip() for value in secret_env_values(os.environ)]
        if in_files is not None:  # the values known; the files are looked at after it ran
            secrets += in_files.forms
            secrets += await self._checkout_values(in_files.root)
        protocol = Collector(self.output_limit, secrets)
        start = dying_with_us(command, full_env)  # with the jail's start-up, and without one
        spawn = asyncio.ensure_future(
            loop.subprocess_exec(
                lambda: protocol,
                *start.argv,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=start.preexec_fn,  # None through setpriv: the loop waits less
            )
        )
        try:
            transport, _ = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            await _kill_spawned(spawn, mark)
            raise
        except FileNotFoundError:
            return await refuse(127, f"command not found: {args[0]}")
        except OSError as exc:
            return await refuse(126, f"cannot execute {args[0]}: {exc.strerror or exc}")

        pgid = transport.get_pid()
        timed_out = False
        try:
            try:
                await asyncio.wait_for(protocol.exited.wait(), timeout_s)
            except TimeoutError:
                if _exited(pgid):  # in time, seen late: this process was stopped (Ctrl-Z)
                    await protocol.exited.wait()
                else:
                    timed_out = True
                    await self._terminate(pgid, protocol)
            # The command is over: take down anything it left running in its group, and
            # outside it (a session of its own), whose end also closes the output.
            kill_group(pgid)
            if mark is not None:
                await asyncio.to_thread(kill_marked, mark)
            try:
                await asyncio.wait_for(protocol.closed.wait(), DRAIN_TIMEOUT_S)
            except TimeoutError:
                protocol.note("output still open after exit; stopped reading")
        except asyncio.CancelledError:
            kill_group(pgid)
            if mark is not None:
                kill_marked(mark)
            raise
        finally:
            transport.close()
        returncode = transport.get_returncode()
        if returncode is None:
            returncode = -signal.SIGKILL
        if timed_out:
            protocol.note(f"timed out after {timeout_s:g}s; its processes were killed")
        cleaned = None
        if in_files is None:
            output = protocol.capture.result()[0]  # cleaned of the secrets
        else:  # and of a secret file the command wrote (``echo X >> .env``): the look after
            known = set(secrets)  # it, and the receipt the caller checks (engine.protocols)

            def cut(forms: list[str]) -> str:
                protocol.capture.add_secrets(form for form in forms if form not in known)
                return protocol.capture.result()[0]

            cleaned = await asyncio.to_thread(in_files.clean, cut)
            output = cleaned.text
        if self._bwrap is not None and returncode == 1 and output.startswith("bwrap: execvp"):
            returncode = 127
        return CommandResult(
            argv=args,
            returncode=returncode,
            output=output,
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            truncated=protocol.capture.truncated,
            cleaned=cleaned,
        )

    def _worktree_secrets(self, cwd: Path) -> WorktreeSecrets | None:
        """The secret values of the git worktree ``cwd`` is in (a project below its top, as
        a monorepo's tests gate runs), kept per worktree; None outside one.

        A run's sandbox sees every attempt's worktree: the indexes of worktrees removed
        since are let go when a new one is made (one of a 30,000-file tree holds ~4.6 MB;
        kept, a long run's sandbox grew by one per attempt)."""
        for folder in (cwd.absolute(), *cwd.absolute().parents):
            if (folder / ".git").exists():
                found = self._file_secrets.get(folder)
                if found is None:
                    for gone in [f for f in self._file_secrets if not f.exists()]:
                        del self._file_secrets[gone]
                    found = self._file_secrets[folder] = WorktreeSecrets(folder)
                return found
        return None

    async def _checkout_values(self, worktree: Path) -> list[str]:
        """The secret values (:func:`~engine.secret_values.quoted_forms`) of the user's
        checkout the git worktree ``worktree`` belongs to, its secret files listed once: a
        command reads them by their absolute path (an ignored ``.env``, in no worktree)
        wherever the checkout is not hidden (outside the home, or without a jail)."""
        common = git_common_dir(worktree)
        if common is None or common.name != ".git":
            return []
        checkout = common.parent
        found = self._checkout_secrets.get(checkout)
        if found is None:
            files = await asyncio.to_thread(checkout_secret_files, checkout)
            found = self._checkout_secrets[checkout] = WorktreeSecrets(checkout, files)
        await asyncio.to_thread(found.values)
        return found.forms

    def _command(
        self, args: tuple[str, ...], cwd: Path, path: str, slot: Path | None = None
    ) -> list[str]:
        """The argv to start, jailed when bwrap is in use; raise _Refused when it cannot run."""
        if not args:
            raise _Refused(127, "empty command")
        if not cwd.is_dir():
            raise _Refused(126, f"working directory does not exist: {cwd}")
        command = [_resolve(args[0], cwd, path), *args[1:]]
        if self._bwrap is None:
            return command
        hidden = [Path(tempfile.gettempdir()), Path("/tmp")]
        if self._real_home is not None:
            hidden.append(self._real_home)
        readable = [*interpreter_paths(), *self.toolchains.readable, *self.extra_readable]
        readable += git_read_only(cwd)
        return bwrap_argv(
            self._bwrap,
            command,
            cwd=cwd,
            home=self.home,
            hidden=hidden,
            readable=readable,
            writable=() if slot is None else (slot,),
        )

    async def _terminate(self, pgid: int, protocol: Collector) -> None:
        """SIGTERM the group, give it a short grace, then SIGKILL what is left."""
        kill_group(pgid, signal.SIGTERM)
        try:
            await asyncio.wait_for(protocol.exited.wait(), self.kill_grace_s)
        except TimeoutError:
            kill_group(pgid)
            await protocol.exited.wait()
