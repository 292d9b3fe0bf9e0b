"""The TUI's copy of one run: the folded state and every agent's recent lines.

Fed only by bridge messages (or, in a replay, by the stored events themselves); read by the
run screen and the task detail screen. Keeping it apart from the screens lets a replay
refold it from scratch and a followed run build it in the background.

What the model folds is made safe to draw on the way in (:func:`drawable`): a request, a
task title, an escalation's question or a gate's output may hold terminal escape sequences,
and every screen shows the model's words. Agent output, the flood, is kept as it came and
cleaned line by line as the log draws it.

No event reaches it holding an API key: an agent's line, a gate's output or a run's reason
may quote one, and the bus cleans the free text of what it emits (a live run), the store of
what it reads back (attach, replay, a resumed run's past: a log stored before the bus cleaned
events included). Cleaning each event here again cost the fold a second scan of every line;
the model's redactor is for the words that are no event (an engine's crash, a failed feed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from engine.events import AgentOutput, EventBase
from engine.redaction import Redactor
from engine.run_views import AgentView
from engine.state import RunState
from tui.messages import output_lines
from tui.text import drawable
from tui.widgets.agent_log import DEFAULT_MAX_LINES, AgentLineBuffer

ENGINEER_ROLE = "engineer"

T = TypeVar("T")


class RunModel:
    """One run as the TUI knows it: the folded state and every agent's recent lines."""

    def __init__(
        self, max_lines: int = DEFAULT_MAX_LINES, redactor: Redactor | None = None
    ) -> None:
        """``redactor`` (for error messages; default: one for this process's secret-looking
        variables)."""
        self.redactor = redactor if redactor is not None else Redactor.from_environ()
        self.state = RunState()
        self.lines = AgentLineBuffer(max_lines)
        self.factory_notices: list[AgentOutput] = []
        """Notices of the factory's own voices (the merge queue, the shipper: agents no
        model plays) folded since the screen last took them, to be shown as toasts."""

    def apply(self, events: Iterable[EventBase]) -> None:
        """Fold events of any kind (agent output goes to the line buffer as well)."""
        apply, extend = self.state.apply, self.lines.extend
        for event in events:
            if isinstance(event, AgentOutput):
                apply(event)
                extend(event.agent_id, output_lines(event))
                if event.kind == "notice" and event.agent_id not in self.state.agents:
                    self.factory_notices.append(event)
            else:
                apply(drawable(event))

    def take_notices(self) -> list[AgentOutput]:
        """The factory notices folded since the last call."""
        taken, self.factory_notices = self.factory_notices, []
        return taken


def latest_agent_for_task(state: RunState, task_id: str | None) -> AgentView | None:
    """The agent whose log a task shows: its latest engineer (highest attempt, then the one
    started last); if no engineer worked on it yet, the latest agent of any role on it."""
    if task_id is None:
        return None
    on_task = [agent for agent in state.agents.values() if agent.task_id == task_id]
    pool = [agent for agent in on_task if agent.role == ENGINEER_ROLE] or on_task
    if not pool:
        return None
    _, latest = max(enumerate(pool), key=lambda pair: (pair[1].attempt, pair[0]))
    return latest
