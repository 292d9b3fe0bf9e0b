"""Where a human's decision on an escalation goes, and who it says took it.

The escalation modal returns a :class:`~tui.messages.Decision`; an :data:`OnDecision`
delivers it: straight to the engine's broker when the TUI runs the factory in its own
process (:func:`broker_decider`), or to storage's inbox when it watches a run another
process drives (:func:`storage_decider`). Either adds ``human:<login>``
(:func:`decided_by_human`). No Textual here: these are plain callables the screens are given.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from typing import Protocol, cast

from tui.messages import Decision

OnDecision = Callable[[Decision], Awaitable[None]]
"""Delivers a human's decision (to the engine's broker, or to storage when attached)."""


def decided_by_human() -> str:
    """``human:<login>`` for the person at this terminal."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password database
        user = "unknown"
    return f"human:{user}"


class DecisionInbox(Protocol):
    """Storage's side of decisions made outside the run's process."""

    async def post_decision(
        self, run_id: str, escalation_id: str, decision: str, decided_by: str, note: str = ""
    ) -> None: ...


def storage_decider(store: object) -> Callable[[str], OnDecision | None]:
    """For a run id, a callable posting a human's decisions to ``store``'s inbox (the run's
    engine takes them from there); None for every run when the store has no inbox."""

    def for_run(run_id: str) -> OnDecision | None:
        if not hasattr(store, "post_decision"):
            return None
        inbox = cast(DecisionInbox, store)

        async def post(decision: Decision) -> None:
            await inbox.post_decision(
                run_id,
                decision.escalation_id,
                decision.decision,
                decided_by_human(),
                decision.note,
            )

        return post

    return for_run


class DecisionBroker(Protocol):
    """The engine's escalation broker, as the in-process TUI uses it."""

    def decide(self, escalation_id: str, decision: str, decided_by: str, note: str = "") -> bool:
        """Take a decision; False when the escalation is unknown or already decided."""
        ...


def broker_decider(broker: DecisionBroker) -> OnDecision:
    """Deliver decisions straight to the engine's broker (engine and TUI in one process)."""

    async def decide(decision: Decision) -> None:
        taken = broker.decide(
            decision.escalation_id, decision.decision, decided_by_human(), decision.note
        )
        if not taken:
            raise ValueError(f"escalation {decision.escalation_id} is no longer waiting")

    return decide
