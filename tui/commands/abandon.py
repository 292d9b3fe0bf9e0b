"""``shopfloor abandon RUN_ID``: end a stopped run for good.

A run stopped by a signal or a crash stays ``running`` in its log until it is resumed: the
runs list, ``status``, the metrics and the escalations go on showing it as under way.
Abandoning it writes the ending the engine would have written — the attempts cut short
failed, then RunFinished (failed, "abandoned: ...") — under the run's lease, so no resume
drives it meanwhile; its open escalations stop waiting with it. The worktrees a killed
process left behind are removed. The integration branch stays: what the run merged is
there to read or build on, and the command that deletes it is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
from collections.abc import Mapping
from pathlib import Path

import git
from rich.console import Console

from engine.bus import EventBus
from engine.events import EventBase, Outcome
from engine.resume import emit_ending, emit_found_merged, plan_resume, tasks_in_log
from engine.state import RunState
from engine.workspace import GitWorkspaces, WorkspaceError
from storage.errors import StorageError
from storage.lease import RunLease
from storage.paths import data_home
from tui.commands.common import EXIT_OK, UsageError, add_db_option, open_store
from tui.commands.history import load_stopped_run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("abandon", help="end a stopped run for good (it is not resumed)")
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    p.add_argument("--reason", default="", help="why, kept as the run's reason")
    add_db_option(p)
    p.set_defaults(handler=cmd_abandon)


def ending(
    state: RunState, reason: str, found_merged: Mapping[str, str] | None = None
) -> list[EventBase]:
    """The events that end ``state``'s run as abandoned, stamped after its last one: first
    the merges ``found_merged`` on its integration branch that its log lacks, as a resume
    would log them (task -> commit)."""
    bus = EventBus(state.run_id, state=copy.deepcopy(state))
    stamped: list[EventBase] = []
    bus.listen(stamped.append)
    emit_found_merged(bus, found_merged or {})
    emit_ending(bus, Outcome.FAILED, f"abandoned: {reason}" if reason else "abandoned")
    return stamped


def merged_on_branch(state: RunState) -> dict[str, str]:
    """The tasks the run's integration branch holds that its log does not say were merged
    (the process was killed between moving the branch and logging it): task -> commit.
    Nothing when the repository cannot be read; the ending then goes by the log alone."""
    if state.mode == "audit" or not state.repo or not state.base_commit:
        return {}
    try:
        workspaces = GitWorkspaces(Path(state.repo), state.run_id, data_home() / "worktrees")
        tip = workspaces.branch_tip(workspaces.integration_branch)
        if tip is None or not workspaces.has_commit(state.base_commit):
            return {}
        found = tasks_in_log(workspaces.task_log(state.base_commit, tip))
    except (WorkspaceError, OSError, git.GitCommandError):
        return {}
    return plan_resume(state, found).merged_from_repo


async def cmd_abandon(args: argparse.Namespace, console: Console) -> int:
    state = await load_stopped_run(args, args.run_id, "abandoned")
    if state.outcome is not Outcome.RUNNING:
        raise UsageError(f"run {state.run_id} already finished: {state.outcome.value}")
    reason = " ".join(args.reason.split())
    async with await open_store(args) as store:
        lease = await RunLease.take(store, state.run_id)  # a resume started meanwhile waits
        try:
            if await store.count_events(state.run_id) > state.last_seq:
                raise StorageError(
                    f"run {state.run_id} moved on while it was being abandoned; "
                    "see `shopfloor status` before abandoning it again"
                )
            found = await asyncio.to_thread(merged_on_branch, state)
            await store.append(ending(state, reason, found))
        finally:
            await lease.release()
    console.print(f"run {state.run_id} abandoned: it will not be resumed", highlight=False)
    if state.mode != "audit" and state.repo:
        await _leave_repository(state, console)
    return EXIT_OK


async def _leave_repository(state: RunState, console: Console) -> None:
    """Remove the worktrees a killed process left; say where the run's work stays."""
    try:
        workspaces = GitWorkspaces(Path(state.repo), state.run_id, data_home() / "worktrees")
        await workspaces.cleanup()
        tip = await asyncio.to_thread(workspaces.branch_tip, workspaces.integration_branch)
    except (WorkspaceError, OSError, git.GitCommandError) as exc:
        console.print(f"its worktrees were not removed: {exc}", highlight=False, markup=False)
        return
    if tip is not None:
        branch = workspaces.integration_branch
        console.print(
            f"what it merged stays on {branch} ({tip[:10]}); "
            f"`git -C {workspaces.path} branch -D {branch}` deletes it",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
