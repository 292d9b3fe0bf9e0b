"""The run screen's escalation queue: which questions wait, the modal that answers them,
and the decisions on their way.

``e`` opens the queue at its oldest question. After an answer the next question opens by
itself, whether it waits already or is raised after (a change note sends the plan back to
the planner, and the twin asks again on the revised one), once the screen is on top and no
text box has the keys. Decisions leave through the ``on_decision`` the run screen was
given (none: the queue is read-only); one that is not delivered is said, and waits again.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Input

from engine.events import Outcome
from tui.decision_delivery import OnDecision
from tui.messages import Decision
from tui.screens.escalation import EscalationScreen
from tui.screens.run_model import RunModel


class RunEscalations(Screen[None]):
    """The run screen's escalation queue and the delivery of its decisions."""

    model: RunModel
    _on_decision: OnDecision | None
    _sent: set[str]
    _queue: EscalationScreen | None
    _answering: bool

    def waiting_escalations(self) -> list[str]:
        """Ids of the escalations still waiting (not yet decided here or elsewhere); none
        once the run finished, as nothing will take a decision any more."""
        state, sent = self.model.state, self._sent
        if state.outcome is not Outcome.RUNNING:
            return []
        return [e.escalation_id for e in state.open_escalations if e.escalation_id not in sent]

    def action_escalations(self) -> None:
        """Open the escalation queue at its oldest question."""
        self._open_queue(settle=False)

    def _queue_open(self) -> bool:
        # The queue this screen opened, unless it went without a result (its screens popped).
        if self._queue is not None and self._queue not in self.app.screen_stack:
            self._queue = None
        return self._queue is not None

    def _open_queue(self, *, settle: bool) -> None:
        if self._queue_open():
            return  # already open (a reopen queued behind a key that opened it)
        waiting = self.waiting_escalations()
        if not waiting:
            if not settle:
                self.notify("no escalation waits for a decision", timeout=3, markup=False)
            return
        read_only = self._on_decision is None
        self._answering = False
        self._queue = EscalationScreen(
            self.model.state, waiting, read_only=read_only, settle=settle
        )
        self.app.push_screen(self._queue, self._decided)

    def _decided(self, decision: Decision | None) -> None:
        self._queue = None
        if decision is None or self._on_decision is None:
            self._answering = False  # closed without an answer: the questions wait for e
            return
        self._sent.add(decision.escalation_id)
        self.run_worker(self._deliver(decision), group="decisions")
        # The next question replaces the answered one, now or when it is raised; a key
        # already on its way (a double press) must not answer it unseen.
        self._answering = True
        self.call_later(self._reopen_queue)

    def _reopen_queue(self) -> None:
        # Once this screen is on top and no box takes the keys (the task filter, the log's
        # search): the queue must not take keys typed for something else.
        if not self._answering or self.app.screen is not self:
            return
        if isinstance(self.focused, Input) or not self.waiting_escalations():
            return
        self._open_queue(settle=True)

    def on_screen_resume(self) -> None:
        self._reopen_queue()

    def on_descendant_blur(self) -> None:
        self.call_later(self._reopen_queue)  # a text box let go of the keys, maybe

    async def _deliver(self, decision: Decision) -> None:
        assert self._on_decision is not None
        try:
            await self._on_decision(decision)
        except Exception as exc:  # shown to the person, who can try again
            self._sent.discard(decision.escalation_id)
            self._answering = False  # the question waits again: for e, not on its own
            self.notify(
                f"{type(exc).__name__}: {exc}",
                title="decision not delivered",
                severity="error",
                markup=False,
            )
            return
        self.notify(
            f"{decision.decision} → {decision.escalation_id}",
            title="decision sent",
            timeout=4,
            markup=False,
        )
