"""A run's start: the jail and the project's interpreter probed while the repository is read.

Before a run starts, its sandbox runs bubblewrap's self-test and the project's Python (when
it has one of its own) in the jail, and the repository is read: opened, a resumed run's
branch checked, the mode found, the warnings about the checkout (a rebase stopped half-way,
uncommitted files, a HEAD that moved on) worked out — about eight git commands. Neither
needs the other, so the probes run while git does (:class:`RepositoryReading`); one after
the other, the run waited for both (the probes ~40 ms on a quiet machine, the git commands
~150 ms). Kept out of tui/compose.py, which puts the run together from what this returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from engine.build_dirs import BuildDirs
from engine.recon import Mode
from engine.resume import check_repository
from engine.workspace import GitWorkspaces
from gates.interpreter import Candidates, InterpreterError, ProjectPython, find_project_python
from gates.sandbox import ProcessSandbox
from storage.paths import data_home
from tui.memory import ModeError, resolve_mode
from tui.run_checks import in_progress, moved_on, uncommitted
from tui.run_plan import RunPlan, SetupError


@dataclass(frozen=True)
class RepositoryRead:
    """The repository as the run found it: its workspaces (``agents_jailed`` is set once the
    sandbox is known), the run's mode, and the warnings about the checkout, in the order
    they are said (None: nothing to say)."""

    workspaces: GitWorkspaces
    mode: Mode
    in_progress: str | None
    uncommitted: str | None
    moved_on: str | None


def read_repository(plan: RunPlan, run_id: str, build_dirs: BuildDirs) -> RepositoryRead:
    """Open the run's repository, refuse a resume it cannot carry on
    (:func:`engine.resume.check_repository`) and a mode that cannot be used (SetupError),
    and work out the warnings about its checkout. Blocking: git runs here."""
    workspaces = GitWorkspaces(plan.repo, run_id, data_home() / "worktrees", build_dirs=build_dirs)
    if plan.resume is not None and plan.resume.mode != "audit":
        check_repository(plan.resume, workspaces)  # refused before anything starts or is said
    try:
        mode = resolve_mode(plan.mode, plan.settings, workspaces, plan.resume)
    except ModeError as exc:
        raise SetupError(str(exc)) from exc
    return RepositoryRead(
        workspaces,
        mode,
        in_progress(plan, workspaces, mode),
        uncommitted(plan, workspaces, mode),
        moved_on(plan, workspaces),
    )


async def jail_and_python(
    plan: RunPlan, found: Candidates, readable: list[Path], build_dirs: BuildDirs
) -> tuple[ProcessSandbox, ProjectPython]:
    """The run's sandbox (bubblewrap's self-test run in a thread: it blocked the event loop)
    showing ``readable``, and the interpreter its tests run on, probed in it; a SetupError
    when the configured interpreter does not run."""
    sandbox = await asyncio.to_thread(
        lambda: ProcessSandbox(extra_readable=readable, build_dirs=build_dirs)
    )
    try:
        return sandbox, await find_project_python(found, sandbox)
    except InterpreterError as exc:
        sandbox.close()
        source = f"{plan.settings.source}: " if plan.settings.source is not None else ""
        raise SetupError(f"{source}{exc}") from exc
    except BaseException:
        sandbox.close()
        raise


class RepositoryReading:
    """:func:`read_repository` under way in a thread from the moment this is made, while the
    event loop probes the jail and the interpreter (:func:`jail_and_python`) and makes the
    crew. Its refusal is raised by :meth:`read`, once those are done: a run refused for its
    interpreter or its crew (a playbook that cannot be read) is refused for that, as when the
    repository was read after them."""

    def __init__(self, plan: RunPlan, run_id: str, build_dirs: BuildDirs) -> None:
        self._task = asyncio.ensure_future(
            asyncio.to_thread(read_repository, plan, run_id, build_dirs)
        )

    async def read(self) -> RepositoryRead:
        """The repository as the run found it; the refusal of a repository the run cannot
        use (WorkspaceError, SetupError)."""
        return await self._task

    async def settled(self) -> None:
        """Wait for the git commands to end, whatever they found: the set-up failed
        elsewhere, and its one line is said once nothing of the run is left running."""
        with contextlib.suppress(Exception):
            await self._task
