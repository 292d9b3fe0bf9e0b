"""The Textual messages the event bridge posts to the app.

These are the only way engine events reach the TUI: the bridge (:mod:`tui.bridge`) turns each
batch of events into one :class:`EventsArrived` for the run screen, which folds it into its
own :class:`~engine.state.RunState`. They are small dataclasses. The bridge keeps at most
two batches unfolded (the screen acknowledges each), so a flood waits in the source and
arrives as bigger batches rather than as a long queue in front of the keyboard and the
redraws; should two still queue up, ``EventsArrived`` coalesces through ``can_replace``.

:class:`Decision` is not a message: it is what the escalation modal returns and what the
app hands to its ``on_decision`` callable (the engine's broker in process, storage when
attached).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from textual.message import Message

from engine.events import AgentOutput, EventBase

OUTPUT_PREFIX: dict[str, str] = {
    "text": "",
    "tool": "$ ",
    "result": "> ",
    "error": "! ",
    "notice": "» ",
}
"""How each kind of agent output is marked in a plain-text log line (the agent log also
colours ``error`` and ``notice`` lines by their mark)."""


def output_lines(output: AgentOutput) -> list[str]:
    """The log lines one AgentOutput shows as (multi-line text gives several lines)."""
    prefix = OUTPUT_PREFIX.get(output.kind, "")
    parts = output.text.splitlines() or [""]
    return [prefix + part for part in parts]


@dataclass
class EventsArrived(Message):
    """A batch of events of one run (state changes and agent output), in order."""

    events: list[EventBase]
    handled: asyncio.Event | None = field(default=None, compare=False, repr=False)
    """Set by :meth:`acknowledge` once the screen folded the batch (the bridge's window)."""

    def acknowledge(self) -> None:
        """Tell the bridge this batch is folded: it may post another."""
        if self.handled is not None:
            self.handled.set()

    def can_replace(self, message: Message) -> bool:
        # Textual asks the *earlier* message whether the next queued one supersedes it and,
        # if so, drops the earlier one. Events must not be lost, so the earlier events are
        # moved to the front of the later message before saying yes.
        if isinstance(message, EventsArrived):
            message.events[:0] = self.events
            self.acknowledge()  # its events now travel in the later message
            return True
        return False


@dataclass
class EventStreamEnded(Message):
    """The bus closed and every event was delivered; nothing more will arrive."""

    delivered: int
    """How many events the bridge delivered in total."""
    error: str = ""
    """Why the source stopped early (e.g. the database went away); empty if it just ended."""


@dataclass(frozen=True)
class Decision:
    """A human's answer to one escalation, as the escalation modal returns it.

    ``decision`` is one of the escalation's options; ``note`` is what the person typed for
    a ``change``. Who decided is added by whoever delivers it (``human:<user>``).
    """

    escalation_id: str
    decision: str
    note: str = ""
