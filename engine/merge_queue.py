"""The merge queue: red never lands, and merges are tested in parallel (Zuul-style).

A finished task's commit is applied on top of the integration tip in a merge worktree, the
merge gates run on that merged tree, and only when they pass does the integration branch move
(guarded by its expected old value). A conflict or a red merge goes back to the task with its
context.

Serial merging makes every task wait for the gates of all the tasks ahead of it. So the queue
speculates: with tasks A, B, C queued, it builds A on the tip, B on top of A's merged commit
and C on top of B's, and runs all three candidates' gates at once (at most ``window`` of
them). Candidates land strictly in queue order. When one fails, every candidate behind it was
tested on a tree that will never exist: they are discarded (their gates cancelled, their
worktrees removed) and rebuilt on the new tip. With ``window=1`` the queue is serial.

The integration branch only ever moves to a candidate whose own gates passed, and whose base
is where the run last put the branch — so it never points at a commit whose merge gates
failed.

Nor does it move under someone else: while a checkout of the user's has the branch checked
out, or once the branch holds commits the run did not make, landing waits or asks
(:mod:`engine.merge_wait`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.escalations import EscalationBroker
from engine.events import AgentOutput, MergeConflict, Merged, MergeQueued
from engine.gate_runner import failure_context, run_gates
from engine.merge_candidate import MergeCandidate
from engine.merge_wait import AGENT_ID, RELEASE_POLL_S, MergeWait, StopRequested
from engine.protocols import EmitFn, EmitNewFn, Gate, GateResult, emit_new_via
from engine.workspace import GitWorkspaces

__all__ = ["DEFAULT_WINDOW", "MergeOutcome", "MergeQueue", "StopRequested"]

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 3
"""Candidates whose merge gates may run at once."""


@dataclass(frozen=True)
class MergeOutcome:
    """How one submission ended: landed (with its commit) or refused (with the reason)."""

    merged: bool
    commit: str | None = None
    failure: str = ""


@dataclass(eq=False)
class _Entry:
    task_id: str
    attempt: int
    commit: str
    message: str
    outcome: asyncio.Future[MergeOutcome]


@dataclass(eq=False)
class _Speculation:
    entry: _Entry
    candidate: MergeCandidate
    gates: asyncio.Task[list[GateResult]]


class MergeQueue:
    """Lands task commits on the integration branch in order, behind the merge gates."""

    def __init__(
        self,
        workspaces: GitWorkspaces,
        gates: Sequence[Gate],
        emit: EmitFn,
        *,
        keep_worktrees: bool = False,
        window: int = DEFAULT_WINDOW,
        emit_new: EmitNewFn | None = None,
        release_poll_s: float = RELEASE_POLL_S,
        broker: EscalationBroker | None = None,
        checkout_wait_s: float | None = None,
    ) -> None:
        """``emit`` reports events (the merge gates' too); ``emit_new``, when the caller has
        the bus's (``EventBus.emit_new``), builds the queue's own events stamped.
        ``release_poll_s``: how often a queue paused on a checked-out integration branch
        looks whether it was released; ``checkout_wait_s``: how long it waits before it
        asks ``broker`` whether to go on waiting or stop the run (None: for ever). Without a
        broker, a question takes its default at once: stop."""
        if window < 1:
            raise ValueError(f"merge window must be at least 1, got {window}")
        self._ws = workspaces
        self._gates = list(gates)
        self._emit = emit
        self._emit_new = emit_new or emit_new_via(emit)
        self._keep = keep_worktrees
        self.window = window
        self._pending: deque[_Entry] = deque()
        self._active: list[_Speculation] = []
        self._wake = asyncio.Event()
        self._driver: asyncio.Task[None] | None = None
        self._names = itertools.count(1)
        self.depth = 0
        self.discarded = 0
        """Speculative candidates thrown away because one ahead of them failed."""
        self.landed = 0
        self._wait = MergeWait(
            workspaces,
            self._notice,
            broker=broker,
            release_poll_s=release_poll_s,
            checkout_wait_s=checkout_wait_s,
        )

    @property
    def paused_on(self) -> Path | None:
        """The checkout holding the integration branch while the queue waits for it."""
        return self._wait.paused_on

    async def submit(self, task_id: str, attempt: int, commit: str, message: str) -> MergeOutcome:
        """Queue ``commit`` and wait until it landed or was refused."""
        self._emit_new(MergeQueued, task_id=task_id, attempt=attempt)
        entry = _Entry(
            task_id, attempt, commit, message, asyncio.get_running_loop().create_future()
        )
        self._pending.append(entry)
        self.depth += 1
        self._wake.set()
        if self._driver is None or self._driver.done():
            self._driver = asyncio.create_task(self._drive(), name="merge-queue")
        try:
            # Not shielded: a submitter cancelled gives up its entry (below) in any case, so
            # the cancellation reaching the outcome changes nothing the queue reads.
            return await entry.outcome
        except asyncio.CancelledError:
            if entry in self._pending:
                self._pending.remove(entry)
            if not entry.outcome.done():
                entry.outcome.cancel()
            elif not entry.outcome.cancelled():
                entry.outcome.exception()  # a stop no one is left to hear: retrieved
            if self._nobody_waiting() and self._driver is not None:
                self._driver.cancel()
            raise
        finally:
            self.depth -= 1

    def _nobody_waiting(self) -> bool:
        entries = [*self._pending, *(s.entry for s in self._active)]
        return all(e.outcome.done() for e in entries)

    # -- the driver ---------------------------------------------------------------------------

    async def _drive(self) -> None:
        # The head taken off the window to land: a failure there must answer it too.
        landing: _Speculation | None = None
        try:
            while self._pending or self._active:
                await self._fill()
                if not self._active:
                    if self._pending:
                        continue
                    break
                head = self._active[0]
                if not head.gates.done():
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                landing = self._active.pop(0)
                await self._land_or_refuse(head)
                landing = None
        except asyncio.CancelledError:
            raise
        except StopRequested as exc:  # every submitter hears it: the run stops
            stranded = [*self._pending, *(s.entry for s in self._active)]
            if landing is not None:
                stranded.insert(0, landing.entry)
            for entry in stranded:
                if not entry.outcome.done():
                    entry.outcome.set_exception(StopRequested(str(exc)))
            self._pending.clear()
        except Exception as exc:  # never leave a submitter waiting forever
            # One line where the user reads it (each task gets the failure too); the
            # traceback only for a debug log.
            log.error("merge queue failed: %s: %s", type(exc).__name__, " ".join(str(exc).split()))
            log.debug("merge queue failure", exc_info=True)
            stranded = [*self._pending, *(s.entry for s in self._active)]
            if landing is not None:
                stranded.insert(0, landing.entry)
            for entry in stranded:
                if not entry.outcome.done():
                    entry.outcome.set_result(
                        MergeOutcome(
                            False, failure=f"merge queue error: {type(exc).__name__}: {exc}"
                        )
                    )
            self._pending.clear()
        finally:
            await self._discard(self._active)
            self._active.clear()

    async def _fill(self) -> None:
        """Start candidates for queued entries until the window is full."""
        while self._pending and len(self._active) < self.window:
            entry = self._pending[0]
            if entry.outcome.done():  # its submitter gave up
                self._pending.popleft()
                continue
            speculative = bool(self._active)
            base = self._active[-1].candidate.commit if speculative else None
            name = f"merge-{entry.task_id}-{next(self._names)}"
            candidate = await self._ws.prepare_merge(
                entry.task_id, entry.commit, entry.message, base=base, name=name
            )
            if candidate.commit is None:
                await self._remove(candidate)
                if speculative:
                    # It may only conflict with a candidate ahead that will not land: wait
                    # until it is at the head of the queue to judge it.
                    return
                self._pending.popleft()
                self._emit_new(
                    MergeConflict,
                    task_id=entry.task_id,
                    attempt=entry.attempt,
                    detail=candidate.conflict,
                )
                self._resolve(
                    entry, MergeOutcome(False, failure=f"Merge conflict:\n{candidate.conflict}")
                )
                continue
            self._pending.popleft()
            gates = asyncio.create_task(self._run_gates(entry, candidate), name=name)
            gates.add_done_callback(lambda _: self._wake.set())
            self._active.append(_Speculation(entry, candidate, gates))

    async def _run_gates(self, entry: _Entry, candidate: MergeCandidate) -> list[GateResult]:
        return await run_gates(
            self._gates,
            candidate.worktree,
            scope="merge",
            emit=self._emit,
            task_id=entry.task_id,
            attempt=entry.attempt,
        )

    async def _land_or_refuse(self, head: _Speculation) -> None:
        entry, candidate = head.entry, head.candidate
        try:
            results = head.gates.result()
        except Exception as exc:
            results = [GateResult(gate="merge", passed=False, summary=f"gates crashed: {exc}")]
        if all(r.passed for r in results) and candidate.commit is not None:
            try:
                landed = await self._wait.land(entry.task_id, candidate.commit, candidate.base)
            finally:
                await self._remove(candidate)
            if not landed:
                # The branch took commits that are not the run's, and the run takes them in:
                # this candidate and those behind it were built without them. Rebuild.
                behind = list(self._active)
                self._active.clear()
                await self._discard(behind)
                self.discarded += len(behind)
                for spec in reversed(behind):
                    self._pending.appendleft(spec.entry)
                self._pending.appendleft(entry)
                return
            self.landed += 1
            self._emit_new(
                Merged, task_id=entry.task_id, attempt=entry.attempt, commit=candidate.commit
            )
            self._resolve(entry, MergeOutcome(True, commit=candidate.commit))
            return
        # Red: everything behind was built on this candidate. Throw it away, rebuild later.
        behind = list(self._active)
        self._active.clear()
        await self._discard([head, *behind])
        self.discarded += len(behind)
        for spec in reversed(behind):
            self._pending.appendleft(spec.entry)
        self._resolve(
            entry,
            MergeOutcome(
                False,
                failure="Your change passed alone but fails merged onto the integration "
                "branch (other tasks landed meanwhile):\n"
                + failure_context(results, self._ws.root),
            ),
        )

    def _notice(self, text: str) -> None:
        self._emit_new(AgentOutput, agent_id=AGENT_ID, kind="notice", text=text)

    async def _discard(self, speculations: Sequence[_Speculation]) -> None:
        for spec in speculations:
            spec.gates.cancel()
        for spec in speculations:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await spec.gates
            await self._remove(spec.candidate)

    async def _remove(self, candidate: MergeCandidate) -> None:
        if not self._keep:
            await self._ws.remove_worktree(candidate.worktree)
        else:  # kept to look at: its cargo target folder goes on to the next candidate
            self._ws.build_dirs.release(candidate.worktree)

    @staticmethod
    def _resolve(entry: _Entry, outcome: MergeOutcome) -> None:
        if not entry.outcome.done():
            entry.outcome.set_result(outcome)
