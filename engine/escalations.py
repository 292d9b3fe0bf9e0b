"""Escalations: a question for a human, and the one place that waits for its answer.

A stage that cannot decide alone calls :meth:`EscalationBroker.ask`. The broker emits
EscalationRaised, makes sure the log holds it (``await bus.durable()``), then takes the first
decision that arrives from:

- the policy: ``twin`` asks :meth:`Twin.answer` (never about a budget: a limit the owner set
  is loosened only by a person, and a model raising it would double it each time it is
  crossed); ``reject`` takes the reject-like option at once; ``wait`` leaves it to people;
- people: :meth:`EscalationBroker.decide` (the TUI, in process) or the run's
  :class:`~engine.protocols.DecisionSource` (another shell or host, through storage), which
  the broker lets read only while the run has an escalation open;
- the clock: after the timeout, the escalation's default (decided by ``timeout``).

It then emits EscalationResolved itself, so the run's log keeps a single writer. A resumed run
that asks the same question again re-attaches to the escalation still open in its log, so a
decision posted while the process was down is not lost; so does work in this process that asks
again after the one asking was cancelled, and it takes an answer that reached the cancelled
asker before it could read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from engine.bus import EventBus
from engine.config import EscalationPolicy
from engine.events import EscalationRaised, EscalationResolved, EventBase
from engine.protocols import DecisionSource
from engine.roles import Twin

log = logging.getLogger(__name__)

EscalationKind = str
REJECT_LIKE = ("reject", "stop", "skip", "abort")
"""Options the ``reject`` policy takes, first present wins."""
ESCALATION_CONTEXT_CHARS = 8000
"""The tail of an escalation's context its event keeps."""
PEOPLE_ONLY = frozenset({"budget"})
"""Kinds the ``twin`` policy leaves to people (and the timeout): the twin decides as the owner
would about the product, but spending past a limit the owner set is the owner's own call."""


@dataclass(frozen=True)
class Decision:
    """The answer to an escalation."""

    escalation_id: str
    decision: str
    decided_by: str
    note: str = ""


class EscalationBroker:
    """Raises escalations for one run and resolves each exactly once."""

    def __init__(
        self,
        bus: EventBus,
        *,
        policy: EscalationPolicy = "wait",
        timeout_s: float | None = None,
        twin: Twin | None = None,
        decisions: DecisionSource | None = None,
    ) -> None:
        self.bus = bus
        self.policy = policy
        self.timeout_s = timeout_s
        self.twin = twin
        self.source = decisions
        self._waiting: dict[str, asyncio.Future[Decision]] = {}
        self._early: dict[str, Decision] = {}
        self._listener: asyncio.Task[None] | None = None
        self._asked = asyncio.Event()
        """Set while the run's log has an escalation open: the decision source reads only
        then (a resumed run's log may hold one from before)."""
        self._track_open()
        bus.listen(self._on_event)

    # -- decisions from outside -----------------------------------------------------------

    def decide(self, escalation_id: str, decision: str, decided_by: str, note: str = "") -> bool:
        """Answer an open escalation (the TUI calls this). False if it is not open or the
        decision is not one of its options."""
        view = self.bus.state.escalations.get(escalation_id)
        if view is not None and view.decision is not None:
            return False
        if view is not None and view.options and decision not in view.options:
            log.warning("escalation %s: %r is not one of %s", escalation_id, decision, view.options)
            return False
        answer = Decision(escalation_id, decision, decided_by, note)
        fut = self._waiting.get(escalation_id)
        if fut is None:  # not asked yet in this process (a resumed run asks again)
            self._early[escalation_id] = answer
            return True
        if fut.done():
            return False
        fut.set_result(answer)
        return True

    def _on_event(self, event: EventBase) -> None:
        if isinstance(event, EscalationRaised | EscalationResolved):
            self._track_open()

    def _track_open(self) -> None:
        if self.bus.state.open_escalations:
            self._asked.set()
        else:
            self._asked.clear()

    def start(self) -> None:
        """Start listening to the decision source (idempotent)."""
        if self.source is None or self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen(self.source), name="decisions")

    async def _listen(self, source: DecisionSource) -> None:
        try:
            async for ext in source.decisions(self.bus.run_id, until_asked=self._asked.wait):
                self.decide(ext.escalation_id, ext.decision, ext.decided_by, ext.note)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one line on the console; the traceback for a debug log
            why = " ".join(str(exc).split()) or type(exc).__name__
            log.error("the decision source of run %s failed: %s", self.bus.run_id, why)
            log.debug("decision source failure", exc_info=True)

    async def close(self) -> None:
        """Stop listening; escalations still waiting are cancelled."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    # -- asking ----------------------------------------------------------------------------

    def _reuse(self, kind: str, question: str, task_id: str | None) -> str | None:
        for view in self.bus.state.open_escalations:
            if (view.kind, view.question, view.task_id) == (kind, question, task_id):
                return view.escalation_id
        return None

    def _next_id(self) -> str:
        return f"esc-{len(self.bus.state.escalations) + 1}"

    async def ask(
        self,
        kind: str,
        question: str,
        options: Sequence[str],
        *,
        default: str | None = None,
        task_id: str | None = None,
        context: str = "",
        timeout_s: float | None = None,
    ) -> Decision:
        """Raise an escalation and wait for its decision (one of ``options``)."""
        if not options:
            raise ValueError("an escalation needs at least one option")
        if default is not None and default not in options:
            raise ValueError(f"default {default!r} is not one of {list(options)}")
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        escalation_id = self._reuse(kind, question, task_id)
        if escalation_id is None:
            escalation_id = self._next_id()
            self.bus.emit(
                EscalationRaised(
                    escalation_id=escalation_id,
                    kind=kind,
                    question=question,
                    options=list(options),
                    default=default,
                    timeout_s=timeout,
                    task_id=task_id,
                    context=context[-ESCALATION_CONTEXT_CHARS:],
                )
            )
        await self.bus.durable()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Decision] = loop.create_future()
        self._waiting[escalation_id] = fut
        try:
            early = self._early.pop(escalation_id, None)
            if early is not None and early.decision in options:
                fut.set_result(early)
            if not fut.done():
                answer = await self._policy_answer(escalation_id, kind, question, options, context)
                if answer is not None and not fut.done():
                    fut.set_result(answer)
            if timeout is not None and default is not None and not fut.done():
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the
                    # answer and drops a cancellation that lands in the same step (a stop
                    # as the person answers), and the asker carried on.
                    async with asyncio.timeout(timeout):
                        decision = await asyncio.shield(fut)
                except TimeoutError:
                    note = f"no answer in {timeout:g}s"
                    decision = Decision(escalation_id, default, "timeout", note)
            else:
                decision = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Answered, but the asker was cancelled before it read the answer (the
                # person was told it was taken): whoever asks this escalation next takes it.
                self._early[escalation_id] = fut.result()
            raise
        finally:
            self._waiting.pop(escalation_id, None)
            if not fut.done():
                fut.cancel()
        self.bus.emit(
            EscalationResolved(
                escalation_id=escalation_id,
                decision=decision.decision,
                decided_by=decision.decided_by,
                note=decision.note,
            )
        )
        return decision

    async def _policy_answer(
        self,
        escalation_id: str,
        kind: str,
        question: str,
        options: Sequence[str],
        context: str,
    ) -> Decision | None:
        if self.policy == "reject":
            for option in REJECT_LIKE:
                if option in options:
                    return Decision(escalation_id, option, "policy:reject")
            return None
        if self.policy == "twin" and self.twin is not None and kind not in PEOPLE_ONLY:
            try:
                choice = await self.twin.answer(question, options, context, self.bus.emit)
            except Exception as exc:
                log.warning("the twin could not answer %s: %s", escalation_id, exc)
                return None
            if choice in options:
                return Decision(escalation_id, choice, "twin")
            log.warning("the twin answered %r, not one of %s", choice, list(options))
        return None
