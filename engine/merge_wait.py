"""Landing a green merge when someone else has the integration branch: wait, then ask.

The merge queue moves the integration branch only to a candidate built on the run's tip. Two
things a user does with ``git checkout shopfloor/wip/RUN`` stand in the way, and this module
is what the queue does about them.

The branch is checked out. Moved there, it would leave that checkout's index and files behind
its HEAD, ``git status`` showing the reverse of every merge as the user's own edits, for their
next commit to record. So landing waits with the green candidate in hand, says once (a notice,
printed without ``-v``) which checkout holds the branch and the ``git checkout -`` that
releases it, and lands by itself once it is released: the same guarded move, so nothing is
lost or merged twice. Attempts and the candidates behind it go on meanwhile. A look at the
branch is no decision to take, so the wait asks nothing at first; but a branch left checked
out (an owner gone for the night) would hold the run for ever. Past ``checkout_wait_s``
(``[engine]``, :class:`~engine.config.EngineConfig`) the wait becomes an escalation —
``retry`` (look again, and wait that long again) or ``stop`` (the default) — answered as any
other: by a person, the twin, the ``reject`` policy (stop) or the escalation timeout (stop).
Released while it is open, the queue answers it ``retry`` itself and lands. A stop ends the
run as Ctrl-C does (:class:`StopRequested`: no RunFinished, resumable), and ``resume``
refuses until the branch is released.

The branch holds commits the run did not make: the user committed on their checkout of it.
They are theirs: the branch is never moved off them (the guarded move fails:
:class:`~engine.workspace_errors.BranchMoved`), nor is the run's work built on them unasked (it goes
on from the run's own tip, :meth:`~engine.workspace.GitWorkspaces.integration_tip`). The queue
asks, naming them: ``accept`` (the candidate and those behind it are rebuilt on them, their
merge gates run again, and they ship with the run) or ``stop`` (the default; they stay on the
branch, and the notice says how to keep them out before resuming). A branch that no longer
holds the run's work (reset, rewritten, deleted) stops the run at once, with the command that
puts it back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from engine.escalations import EscalationBroker
from engine.workspace import GitWorkspaces
from engine.workspace_errors import BranchCheckedOut, BranchMoved, release_hint

RELEASE_POLL_S = 1.0
"""How often a queue waiting for a checkout to let go of the integration branch looks again."""

AGENT_ID = "merge-queue"
"""The agent id of the queue's notices (and of its own answer to a release escalation)."""

ESCALATION_KIND = "merge"
"""The kind of the queue's escalations: the branch held too long, commits not the run's."""


class StopRequested(Exception):
    """A decision stopped the run part way (an escalation answered ``stop``): it ends as a
    Ctrl-C stop does, with no RunFinished, so it stays resumable. The message is one line."""


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 120 else f"{seconds:g}s"


class MergeWait:
    """Lands one green candidate at a time for the merge queue, waiting or asking as needed."""

    def __init__(
        self,
        workspaces: GitWorkspaces,
        notice: Callable[[str], object],
        *,
        broker: EscalationBroker | None = None,
        release_poll_s: float = RELEASE_POLL_S,
        checkout_wait_s: float | None = None,
    ) -> None:
        """``notice`` says a line to the user; ``broker`` takes the questions (without one,
        each takes its default at once: stop); ``checkout_wait_s``: how long a checked-out
        branch is waited for before the question (None: for ever)."""
        if checkout_wait_s is not None and not checkout_wait_s > 0:
            raise ValueError(f"checkout wait must be positive, got {checkout_wait_s}")
        self._ws = workspaces
        self._notice = notice
        self._broker = broker
        self.release_poll_s = release_poll_s
        self.checkout_wait_s = checkout_wait_s
        self.paused_on: Path | None = None
        """The checkout holding the integration branch while landing waits for it."""

    async def land(self, task_id: str, commit: str, base: str) -> bool:
        """Move the integration branch from ``base`` to the green candidate ``commit``;
        False when it cannot land as built, because the branch took commits the run now
        accepts (rebuild it on :meth:`GitWorkspaces.integration_tip`). Raises
        :class:`StopRequested` when the answer to a question is to stop."""
        loop = asyncio.get_running_loop()
        since: float | None = None
        while True:
            try:
                await self._ws.advance(commit, base)
            except BranchCheckedOut as exc:
                if exc.checkout != self.paused_on:
                    self.paused_on = exc.checkout
                    self._notice(f"merging paused before task {task_id}: {exc}")
                since = loop.time() if since is None else since
                wait = self.checkout_wait_s
                if wait is not None and loop.time() - since >= wait:
                    await self._ask_release(task_id, exc.checkout, wait)
                    since = loop.time()  # "retry": look now, and wait that long again
                    continue
                await asyncio.sleep(self.release_poll_s)
                continue
            except BranchMoved as exc:
                await self._ask_moved(task_id, exc)
                return False
            break
        if self.paused_on is not None:
            self._notice(
                f"merging goes on: {self._ws.integration_branch} is no longer checked out "
                f"in {self.paused_on}"
            )
            self.paused_on = None
        return True

    async def _ask_release(self, task_id: str, checkout: Path, waited: float) -> None:
        """The branch stayed checked out ``waited`` seconds: ask whether to retry (go on
        waiting) or stop. Released while the question is open, the queue answers it
        ``retry`` itself; an answer ``stop`` raises :class:`StopRequested`."""
        branch = self._ws.integration_branch
        question = (
            f"Merging has waited over {_duration(waited)} before task {task_id}: "
            f"{branch} is checked out in {checkout}. Retry (after "
            f"{release_hint(checkout)}), or stop the run (it stays resumable)?"
        )
        stop = (
            f"the run stops before merging task {task_id}: {branch} is checked out in "
            f"{checkout}; {release_hint(checkout)}, then resume it"
        )
        if self._broker is None:
            raise self._stop(stop)
        asking = asyncio.ensure_future(
            self._broker.ask(
                ESCALATION_KIND,
                question,
                ["retry", "stop"],
                default="stop",
                task_id=task_id,
                context=str(checkout),
            )
        )
        try:
            while not asking.done():
                await asyncio.wait({asking}, timeout=self.release_poll_s)
                if asking.done():
                    break
                if await asyncio.to_thread(self._ws.checked_out_at, branch) is None:
                    self._answer(task_id, question, "retry", f"{branch} was released")
            decision = asking.result()
        finally:
            if not asking.done():
                asking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asking
        if decision.decision == "stop":
            raise self._stop(stop)

    async def _ask_moved(self, task_id: str, exc: BranchMoved) -> None:
        """The branch holds commits the run did not make: ask whether the run accepts them
        (and builds on them) or stops; they stay on the branch either way. A branch that no
        longer holds the run's work stops the run at once."""
        branch, path = self._ws.integration_branch, self._ws.path
        if not exc.added:
            where = "was deleted" if exc.tip is None else f"was moved to {exc.tip[:10]}"
            raise self._stop(
                f"the run stops before merging task {task_id}: {branch} {where}, "
                f"without {exc.expected[:10]} where the run left it; put it back with "
                f"`git -C {path} branch -f {branch} {exc.expected}`, then resume it"
            )
        commits = ", ".join(exc.added[:3]) + (", ..." if len(exc.added) > 3 else "")
        question = (
            f"{branch} holds {len(exc.added)} commit(s) the run did not make, on top of what "
            f"it merged: {commits}. Accept them (the run's tasks merge on top of them and "
            "ship with them), or stop the run (it stays resumable)?"
        )
        stop = (
            f"the run stops before merging task {task_id}: {branch} holds "
            f"{len(exc.added)} commit(s) it did not make ({commits}); they stay there. "
            f"Resumed as it is, the run builds on them; to leave them out, keep them on a "
            f"branch of yours (`git -C {path} branch NAME {exc.tip}`), put {branch} back "
            f"with `git -C {path} branch -f {branch} {exc.expected}`, then resume"
        )
        if self._broker is None:
            raise self._stop(stop)
        decision = await self._broker.ask(
            ESCALATION_KIND,
            question,
            ["accept", "stop"],
            default="stop",
            task_id=task_id,
            context="\n".join(exc.added),
        )
        if decision.decision != "accept":
            raise self._stop(stop)
        assert exc.tip is not None  # commits were added: the branch is there
        await self._ws.adopt(exc.tip)
        self._notice(
            f"merging goes on on top of {len(exc.added)} commit(s) on {branch} that the run "
            f"did not make ({commits}): they ship with the run"
        )

    def _answer(self, task_id: str, question: str, decision: str, note: str) -> None:
        """Answer the queue's own open escalation (once it is raised)."""
        assert self._broker is not None
        for view in self._broker.bus.state.open_escalations:
            if (view.kind, view.question, view.task_id) == (ESCALATION_KIND, question, task_id):
                self._broker.decide(view.escalation_id, decision, AGENT_ID, note)

    def _stop(self, text: str) -> StopRequested:
        self._notice(text)
        return StopRequested(text)
