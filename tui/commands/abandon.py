"""``shopfloor abandon RUN_ID``: end a stopped run for good.

A run stopped by a signal or a crash stays ``running`` in its log until it is resumed: the
runs list, ``status``, the metrics and the escalations go on showing it as under way.
Abandoning it writes the ending the engine would have written — the attempts cut short
failed, then RunFinished (failed, "abandoned: ...") — under the run's lease, so no resume
drives it meanwhile; its open escalations stop waiting with it. The worktrees a killed
process left behind are removed. The integration branch stays: what the run merged is
there to read or build on, and the command that deletes it is printed. What the process did
in the repository but did not live to log — a merge on the integration branch, the shipped
branch — is read from the repository first, as ``resume`` reads it, so the log agrees with
the branches that stay.

With tracing configured (``--trace-file``, an OTLP endpoint in the environment), the run's
trace ends as a resume that ended the run would end it: the spans the stopped process left
open are written, then this process's ``abandon MODE`` span and the root, with the outcome
and the reason (``telemetry.tracing``), and the run's request with ``--otel-content``, as
a run's. Without, the trace keeps no root, and nothing of OpenTelemetry is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import git
from rich.console import Console

from engine.bus import EventBus
from engine.events import EventBase, Outcome, Stage
from engine.resume import emit_ending, emit_found_merged, merges_on_branch, plan_resume
from engine.state import RunState
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError
from storage.errors import StorageError
from storage.lease import RunLease
from storage.paths import data_home
from storage.store import SqlEventStore
from telemetry.otlp_env import otlp_configured
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_OK, UsageError
from tui.commands.history import load_stopped_run
from tui.text import one_line

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from telemetry.tracing import RunTracer


@dataclass(frozen=True)
class LeftInRepository:
    """What the killed process did in the repository that the run's log does not say."""

    merged: dict[str, str] = field(default_factory=dict)
    """Tasks the integration branch holds that the log lacks (killed between moving the
    branch and logging Merged): task -> commit, as a resume would find them."""
    shipped: tuple[str, str] | None = None
    """The branch (and commit) it shipped before its RunFinished was logged."""


def ending(state: RunState, reason: str, left: LeftInRepository | None = None) -> list[EventBase]:
    """The events that end ``state``'s run as abandoned, stamped after its last one: first
    the merges ``left`` on its integration branch that its log lacks, as a resume would log
    them; the ending names the branch it shipped, if it had."""
    left = left or LeftInRepository()
    bus = EventBus(state.run_id, state=copy.deepcopy(state))
    stamped: list[EventBase] = []
    bus.listen(stamped.append)
    emit_found_merged(bus, left.merged)
    branch, commit = left.shipped or (None, None)
    text = f"abandoned: {reason}" if reason else "abandoned"
    emit_ending(bus, Outcome.FAILED, text, branch, commit)
    return stamped


def left_in_repository(state: RunState) -> LeftInRepository:
    """Read the run's repository for what its log lacks; nothing when it cannot be read
    (moved away, its history rewritten): the ending then goes by the log alone."""
    if state.mode == "audit" or not state.repo or not state.base_commit:
        return LeftInRepository()
    try:
        workspaces = GitWorkspaces(Path(state.repo), state.run_id, data_home() / "worktrees")
        if not workspaces.has_commit(state.base_commit):
            return LeftInRepository()
        tip = workspaces.branch_tip(workspaces.integration_branch)
        merged = plan_resume(state, merges_on_branch(state, workspaces)).merged_from_repo
        last = state.tasks[state.merged[-1]].merged_commit if state.merged else None
        shipped = None
        if state.stage in (Stage.SHIP, Stage.LEARN) and (tip or last):
            shipped = _shipped_branch(workspaces, state.run_id, tip or str(last))
    except (WorkspaceError, OSError, git.GitCommandError):
        return LeftInRepository()
    return LeftInRepository(merged=merged, shipped=shipped)


def _shipped_branch(workspaces: GitWorkspaces, run_id: str, commit: str) -> tuple[str, str] | None:
    """The branch the run shipped ``commit`` on: named ``…-RUNID8`` (or ``-RUNID8-N`` beside
    someone else's branch of that name) and pointing at the commit."""
    names = str(
        workspaces.repo.git.for_each_ref(
            f"--points-at={commit}", "--format=%(refname:short)", "refs/heads/"
        )
    ).split()
    ours = re.compile(rf"-{re.escape(run_id[:8])}(-[0-9]+)?$")
    for name in names:
        if name != workspaces.integration_branch and ours.search(name):
            return name, commit
    return None


async def cmd_abandon(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:  # read, then written: opened once
        return await _abandon(args, console, store)


async def _abandon(args: argparse.Namespace, console: Console, store: SqlEventStore) -> int:
    state = await load_stopped_run(store, args.run_id, "abandoned")
    if state.outcome is not Outcome.RUNNING:
        raise UsageError(f"run {state.run_id} already finished: {state.outcome.value}")
    reason = " ".join(one_line(args.reason).split())
    # A trace file that cannot be written: refused now.
    traced = open_trace(args.trace_file, content=args.otel_content)
    try:
        lease = await RunLease.take(store, state.run_id)  # a resume started meanwhile waits
        took = datetime.now(UTC)
        try:
            if await store.count_events(state.run_id) > state.last_seq:
                raise StorageError(
                    f"run {state.run_id} moved on while it was being abandoned; "
                    "see `shopfloor status` before abandoning it again"
                )
            history = await store.read(state.run_id) if traced is not None else []
            left = await asyncio.to_thread(left_in_repository, state)
            ended = ending(state, reason, left)
            await store.append(ended)
        finally:
            await lease.release()
        if traced is not None:
            trace_ending(traced[1], state, history, ended, took)
    finally:
        if traced is not None:
            await asyncio.to_thread(traced[0].shutdown)  # flushed to the file, the collector
    console.print(f"run {state.run_id} abandoned: it will not be resumed", highlight=False)
    if left.shipped is not None:
        branch, commit = left.shipped
        console.print(
            f"it had shipped {branch} ({commit[:10]}) before it stopped: that branch stays",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if state.mode != "audit" and state.repo:
        await _leave_repository(state, console, merged=bool(state.merged or left.merged))
    return EXIT_OK


def open_trace(
    trace_file: Path | None, *, content: bool = False
) -> tuple[TracerProvider, RunTracer] | None:
    """The run's tracer and its provider when tracing is configured (``trace_file``, an OTLP
    endpoint), else None, with OpenTelemetry not loaded; a UsageError when ``trace_file``
    cannot be written. ``content`` (``--otel-content``) puts the run's request on its root,
    as a run's or a resume's does."""
    if trace_file is None and not otlp_configured():
        return None
    from telemetry.session import TelemetryError, open_run_tracer

    try:
        return open_run_tracer(trace_file, content=content)
    except TelemetryError as exc:
        raise UsageError(str(exc)) from exc


def trace_ending(
    tracer: RunTracer,
    state: RunState,
    history: Sequence[EventBase],
    ended: Sequence[EventBase],
    took: datetime,
) -> None:
    """Finish ``state``'s trace with the events that ``ended`` it, as a resume that ended the
    run would: the spans ``history`` (the run's stored events) says were left open are
    written, then this process's span (from ``took``, when it took the run's lease) and, at
    the RunFinished, the run's root, with its outcome and reason."""
    tracer.resume(state, history, took, abandoning=True)
    for event in ended:
        tracer.observe(event)
    tracer.close()


async def _leave_repository(state: RunState, console: Console, *, merged: bool) -> None:
    """Remove the worktrees a killed process left; say where the run's work stays
    (``merged``: whether the run merged anything at all)."""
    try:
        workspaces = GitWorkspaces(Path(state.repo), state.run_id, data_home() / "worktrees")
        await workspaces.cleanup()
        tip = await asyncio.to_thread(workspaces.branch_tip, workspaces.integration_branch)
    except (WorkspaceError, OSError, git.GitCommandError) as exc:
        left = data_home() / "worktrees" / state.run_id
        how = (
            f" (in {left}: delete that folder, then `git worktree prune` in the repository "
            "wherever it is now)"
            if left.is_dir()
            else ""
        )
        console.print(
            f"its worktrees were not removed: {exc}{how}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return
    if tip is not None:
        branch = workspaces.integration_branch
        what = (
            f"what it merged stays on {branch} ({tip[:10]})"
            if merged
            else f"it merged nothing: {branch} is at the commit it started from ({tip[:10]})"
        )
        console.print(
            f"{what}; `git -C {workspaces.path} branch -D {branch}` deletes it",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
