"""Which agent's log the run screen shows, and how it follows the task graph's cursor.

Unpinned, the log shows the latest agent of the task under the cursor, until an agent is
chosen by hand (``[``/``]`` or the agent table). Pinned (``p``), it stays on what it showed:
that task's latest agent (a retry's new attempt comes into view) or the agent chosen. The
run screen (tui/screens/run.py) is a :class:`LogFollowing`; it builds the widgets and the
model this part reads, and redraws the log when events arrive.
"""

from __future__ import annotations

from textual.reactive import var
from textual.screen import Screen

from tui.screens.run_model import RunModel, latest_agent_for_task
from tui.widgets.agent_log import AgentLog
from tui.widgets.agent_table import AgentTable
from tui.widgets.dag_view import DagView


class LogFollowing(Screen[None]):
    """The run screen's log: which agent it shows, pinned or following the cursor."""

    model: RunModel
    _log: AgentLog
    _agents: AgentTable
    _follow_task: bool
    _pinned_task: str | None
    _stopped: bool

    selected_task: var[str | None] = var[str | None](None, init=False)
    """The task under the graph's cursor."""
    selected_agent: var[str | None] = var[str | None](None, init=False)
    """The agent whose log is shown."""
    log_pinned: var[bool] = var(False, init=False)
    """The log stays on what it showed when pinned (``p``) while the graph's cursor moves:
    on that task's latest agent (a retry's new attempt comes into view), or on the agent
    chosen with ``[``/``]`` or in the agent table."""

    @property
    def driven(self) -> bool:
        """Whether a process drives this run, as far as this view knows (:meth:`show_stopped`):
        what the agents' standing follows here and on the task detail screen."""
        return not self._stopped

    def _followed_task(self) -> str | None:
        """The task whose latest agent the log shows (None: the log shows a chosen agent)."""
        if self.log_pinned:
            return self._pinned_task
        return self.selected_task if self._follow_task else None

    def _show_log(self) -> None:
        # Cheap when nothing changed: the log reads the agent's lines where the model keeps
        # them, so showing an agent costs one screenful whether it is new or not.
        state = self.model.state
        agent = state.agents.get(self.selected_agent) if self.selected_agent else None
        task_id = self._followed_task()
        if task_id is None:
            task_id = agent.task_id if agent is not None else self.selected_task
        agent_id = agent.agent_id if agent is not None else None
        switched = agent_id != self._log.agent_id
        lines = self.model.lines.ring(agent_id) if agent_id is not None else None
        self._log.show(agent, task_id, lines, live=state.agents_live(self.driven))
        if switched:
            self._agents.show_agent(agent_id)

    def watch_selected_task(self) -> None:
        if self._follow_task and not self.log_pinned:
            agent = latest_agent_for_task(self.model.state, self.selected_task)
            self.selected_agent = agent.agent_id if agent is not None else None
            self._show_log()

    def watch_selected_agent(self) -> None:
        if self._log.is_mounted:
            self._show_log()

    def watch_log_pinned(self, pinned: bool) -> None:
        self._log.border_title = "agent log · pinned" if pinned else "agent log"
        self._log.set_class(pinned, "-pinned")
        self.refresh_bindings()  # the footer offers the other of pin / unpin

    def on_dag_view_task_highlighted(self, message: DagView.TaskHighlighted) -> None:
        if not self.log_pinned:  # a pinned log stays where it is while the cursor looks around
            self._follow_task = True
        self.selected_task = message.task_id

    def on_agent_table_agent_highlighted(self, message: AgentTable.AgentHighlighted) -> None:
        self._choose_agent(message.agent_id)

    def _choose_agent(self, agent_id: str) -> None:
        # An agent chosen by hand: the log shows it (a pinned log is pinned to it now).
        self._follow_task = False
        self._pinned_task = None
        self.selected_agent = agent_id

    def action_next_agent(self) -> None:
        """Show the next agent's log (in the agent table's order)."""
        self._step_agent(1)

    def action_previous_agent(self) -> None:
        """Show the previous agent's log."""
        self._step_agent(-1)

    def _step_agent(self, step: int) -> None:
        ids = list(self.model.state.agents)
        if not ids:
            return
        current = ids.index(self.selected_agent) if self.selected_agent in ids else -step
        self._choose_agent(ids[(current + step) % len(ids)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer pin or unpin, whichever applies."""
        if action == "pin_log":
            return not self.log_pinned
        if action == "unpin_log":
            return self.log_pinned
        return True

    def action_pin_log(self) -> None:
        """Keep the log on what it shows while the graph's cursor moves: the shown task's
        latest agent (a retry comes into view), or the agent chosen by hand."""
        self._pinned_task = self.selected_task if self._follow_task else None
        self.log_pinned = True

    def action_unpin_log(self) -> None:
        """Let the log follow the graph's cursor again (it shows the cursor's task now)."""
        self.log_pinned = False
        self._pinned_task = None
        self._follow_task = True
        agent = latest_agent_for_task(self.model.state, self.selected_task)
        self.selected_agent = agent.agent_id if agent is not None else None
        self._show_log()

    def action_search_log(self) -> None:
        """Open the log's search box."""
        self._log.action_search()
