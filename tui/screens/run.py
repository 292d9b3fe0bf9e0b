"""The run screen: everything about one run on one screen, and the model it views.

:class:`RunModel` is the screen's copy of a run — a :class:`~engine.state.RunState` folded
from the bridge's messages plus every agent's recent lines. :class:`RunScreen` shows it:
pipeline strip, escalation banner, the task graph, the agent table, score gauges, the
selected agent's log and the budget strip. The live run (the app's main screen), a run
followed from the runs screen and a replay are all this screen; only the feed differs.

The screen is a view: widgets never touch the engine. Events arrive as messages from the
bridge; the screen folds them, then redraws once per burst (``call_later`` runs after every
message already queued, so a flood costs one redraw). Decisions leave through the
``on_decision`` callable the screen was given (none: read-only). Two parts live beside it:
which agent's log shows (tui/screens/run_log_follow.py), the boxes typed into (the task
filter and the log's search: tui/screens/run_typed_boxes.py) and the escalation queue
(tui/screens/run_escalations.py); this module builds the panels and keeps them current.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input

from engine.events import AgentOutput, Outcome, TaskState
from engine.state import RunState
from tui.bridge import EventSource, start_bridge
from tui.decision_delivery import OnDecision
from tui.messages import EventsArrived, EventStreamEnded
from tui.screens.escalation import EscalationScreen
from tui.screens.plan import PlanScreen
from tui.screens.run_escalations import RunEscalations
from tui.screens.run_model import RunModel, latest_agent_for_task
from tui.screens.run_toasts import toasts_over_the_log
from tui.screens.run_typed_boxes import TypedBoxes
from tui.screens.task_detail import TaskDetailScreen
from tui.text import printable
from tui.widgets.agent_log import AgentLog
from tui.widgets.agent_table import AgentTable
from tui.widgets.dag_view import DagView, TaskFilter
from tui.widgets.key_bar import KeyBar
from tui.widgets.pipeline_strip import EscalationBanner, PipelineStrip
from tui.widgets.run_header import WAITING, BudgetStrip, RunHeader
from tui.widgets.score_gauges import ScoreGauges

NARROW_WIDTH = 100
SHORT_HEIGHT = 32
THIN_WIDTH = 60
"""Below it the graph and the log are stacked, and the agent table folds away."""
LOW_HEIGHT = 20
"""Below it the agent table, the pipeline strip and the gauges line fold away."""
NOTICE_NEWS = timedelta(seconds=60)
"""A factory notice younger than this is news, shown as a toast; an older one (a stored log
replayed on resume or attach) stays in its agent's log."""
SYNC_INTERVAL_S = 0.1
"""Least time between two redraws of the panels while events flood in."""
STATE_FILTERS: tuple[TaskState | None, ...] = (
    None,
    TaskState.RUNNING,
    TaskState.FAILED,
    TaskState.PENDING,
    TaskState.MERGED,
)
"""What ``s`` cycles through on the task graph."""


class RunScreen(TypedBoxes, RunEscalations):
    """Pipeline, graph, agents, gauges, log and budget of one run."""

    clocked: ClassVar[bool] = True
    """The run is shown as it stands now (a replay's is as it stood at its step)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # The app's quit and help, first on the key bar: after the screen's keys, they were
        # off it below 80 columns (the help lists what the bar cannot show).
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help"),
        Binding("e", "escalations", "Escalations"),
        Binding("b", "plan", "Plan", show=False),
        Binding("enter", "task_detail", "Task detail", show=False),
        Binding("j", "next_task", "Next task", show=False),
        Binding("k", "previous_task", "Prev task", show=False),
        Binding("right_square_bracket", "next_agent", "Next agent"),
        Binding("left_square_bracket", "previous_agent", "Prev agent", show=False),
        Binding("p", "pin_log", "Pin log"),
        Binding("p", "unpin_log", "Unpin"),  # "Unpin log" pushed "? Help" off 80 columns
        Binding("slash", "search_log", "Search log"),
        Binding("f", "filter_tasks", "Filter"),
        Binding("s", "cycle_state_filter", "State filter", show=False),
        Binding("minus", "collapse_levels", "Collapse levels", show=False),
        Binding("plus", "expand_levels", "Expand levels", show=False),
        Binding("tab", "app.focus_next", "Focus", show=False),
    ]

    @dataclass
    class RunEnded(Message):
        """The run this screen shows finished (its RunFinished arrived)."""

        screen: RunScreen
        outcome: Outcome

        @property
        def control(self) -> RunScreen:
            """The screen whose run ended."""
            return self.screen

    def __init__(
        self,
        model: RunModel | None = None,
        *,
        on_decision: OnDecision | None = None,
        source: EventSource | None = None,
        name: str | None = None,
        waiting: str = WAITING,
    ) -> None:
        """``source``: events to follow (started on mount); ``on_decision``: where decisions
        go (None: the escalation queue is read-only); ``waiting``: what the header says
        before the run's first event."""
        super().__init__(name=name)
        self.model = model or RunModel()
        self._on_decision = on_decision
        self._source = source
        self._sent: set[str] = set()
        self._sync_pending = False
        self._last_sync = 0.0
        self.synced_seq = 0
        """The last event (sequence number) every panel has been redrawn for."""
        self._announced = False
        self._stopped = False
        self._stopped_why = ""
        self._follow_task = True
        """The log shows the cursor's task (unpinned, until an agent is chosen)."""
        self._pinned_task: str | None = None
        """The task whose latest agent a pinned log shows (None: a pinned agent)."""
        self._queue: EscalationScreen | None = None
        self._answering = False
        """A decision was sent from the queue: the next question to wait opens it again,
        whether it waits already or is raised after (a change note sends the plan back to
        the planner, and the twin asks again on the revised one)."""
        self._applied_filter = ""
        self._header = RunHeader(id="run-header")
        self._header.waiting = waiting
        self._pipeline = PipelineStrip(id="pipeline")
        self._banner = EscalationBanner(id="banner")
        self._dag = DagView(id="dag")
        self._filter = TaskFilter(
            placeholder="filter tasks by id or title", id="dag-filter", select_on_focus=False
        )
        self._typed_into: Input | None = None
        """The box / or f opened, until it has the focus (see on_key)."""
        self._agents = AgentTable(id="agents")
        self._gauges = ScoreGauges(id="gauges")
        self._gauges_line = ScoreGauges(compact=True, id="gauges-line")
        self._log = AgentLog(id="agent-log")
        self._budget = BudgetStrip(id="budget")
        self._dag.border_title = "tasks by level"
        self._agents.border_title = "agents"
        self._gauges.border_title = "scores"
        self._log.border_title = "agent log"

    @property
    def state(self) -> RunState:
        """The run as folded so far."""
        return self.model.state

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._pipeline
        yield self._banner
        yield self._gauges_line
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield self._filter
                yield self._dag
                yield self._agents
            with Vertical(id="right"):
                yield self._gauges
                yield self._log
        yield self._budget
        yield KeyBar()

    def on_mount(self) -> None:
        # After each layout: the log's lines move with the terminal and its search box.
        self.screen_layout_refresh_signal.subscribe(self, toasts_over_the_log)
        self.sync()
        self._dag.focus()
        if self._source is not None:
            start_bridge(self, self._source, target=self)
        if self.clocked:
            self.set_interval(1, self._clock_budget)  # the time driven runs on between events

    def _clock_budget(self) -> None:
        """Each second, the budget line of a run with a time budget (without one, nothing on
        the line moves between events: it is not redrawn)."""
        budget = self.model.state.budget
        if budget is not None and budget.max_duration_s:
            self._show_budget()

    def _show_budget(self) -> None:
        """The budget line; a run a process drives counts its time to now (a night waiting
        on a person's answer logs nothing)."""
        now = datetime.now(UTC) if self.clocked and self.driven else None
        self._budget.show(self.model.state, stopped=self._stopped, now=now)

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        self.set_class(width < NARROW_WIDTH, "-narrow")
        self.set_class(height < SHORT_HEIGHT, "-short")
        self.set_class(width < THIN_WIDTH, "-thin")
        self.set_class(height < LOW_HEIGHT, "-low")
        # The palette's hint gives way on a narrow terminal, so "? Help" stays on an
        # 80-column footer (ctrl+p still opens it, and the help lists it).
        self.query_one(KeyBar).show_command_palette = width >= NARROW_WIDTH

    # -- feed -------------------------------------------------------------------------

    def on_events_arrived(self, message: EventsArrived) -> None:
        message.stop()
        try:
            self.model.apply(message.events)
        finally:
            message.acknowledge()  # the bridge may post the next batch
        for notice in self.model.take_notices():
            # The factory's own word that needs the user (the merge queue waits for a
            # checkout to let go of the integration branch, say) shows as a toast, not only
            # in a log nobody has open; the news only, not a stored log's old notices.
            if datetime.now(UTC) - notice.ts.replace(tzinfo=notice.ts.tzinfo or UTC) < NOTICE_NEWS:
                self.notify(printable(notice.text), title=notice.agent_id, timeout=15, markup=False)
        # Output of agents not shown changes nothing on screen until one of them is shown.
        if self._log.unseen or any(not isinstance(e, AgentOutput) for e in message.events):
            self._schedule_sync()
        elif not self._sync_pending:
            self.synced_seq = self.model.state.last_seq  # the screen is current for these

    def on_event_stream_ended(self, message: EventStreamEnded) -> None:
        if message.error:
            self.notify(
                printable(self.model.redactor.redact(message.error)),  # an exception's words
                title="event feed stopped",
                severity="error",
                timeout=30,
                markup=False,
            )
        if self._source is not None:
            message.stop()  # a followed run's end concerns this screen only

    def _schedule_sync(self) -> None:
        # At most one redraw per burst (call_later runs after the messages already queued)
        # and per SYNC_INTERVAL_S, the log's new lines included (one redraw for every panel,
        # not one per panel on its own clock): a flood must not starve the keyboard.
        if self._sync_pending:
            return
        self._sync_pending = True
        wait = self._last_sync + SYNC_INTERVAL_S - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self.sync)
        else:
            self.call_later(self.sync)

    def sync(self) -> None:
        """Redraw every panel from the model (cheap: widgets update what changed)."""
        self._sync_pending = False
        self._last_sync = time.monotonic()
        if not self._dag.is_mounted:
            return  # on_mount draws the then-current state
        state = self.model.state
        self._header.show(state, stopped=self._stopped, why=self._stopped_why)
        self._pipeline.show(state)
        self._banner.show(state)
        self._gauges.show(state)
        self._gauges_line.show(state)
        self._show_budget()
        self._dag.sync(state.tasks)
        self._agents.sync(state.agents, live=state.agents_live(self.driven))
        if self.selected_task not in state.tasks:
            self.selected_task = self._dag.highlighted_task_id
        followed = self._followed_task()
        if followed is not None:
            agent = latest_agent_for_task(state, followed)
            if agent is not None:
                self.selected_agent = agent.agent_id
        elif self.selected_agent is None and state.agents:
            self.selected_agent = next(iter(state.agents))
        self._show_log()
        if self._queue_open():
            assert self._queue is not None
            self._queue.follow(state, self.waiting_escalations())
        elif self._answering:
            self._reopen_queue()
        self.synced_seq = state.last_seq
        if state.outcome is not Outcome.RUNNING and not self._announced:
            self._announced = True
            self.post_message(self.RunEnded(self, state.outcome))

    def show_stopped(self, stopped: bool, why: str = "") -> None:
        """Whether no process drives this unfinished run (``attach`` watches its lease; the
        run's own view, its engine): the header says "stopped" (and ``why`` when given)
        instead of "running", and the agents without an end "cut off", until a process
        takes it again."""
        why = why if stopped else ""
        if stopped != self._stopped or why != self._stopped_why:
            self._stopped = stopped
            self._stopped_why = why
            if self._header.is_mounted:
                self._header.show(self.model.state, stopped=stopped, why=why)
                self._show_budget()
                self._schedule_sync()  # the agents without an end: cut off, or running again

    # -- widgets' messages --------------------------------------------------------------

    def on_dag_view_task_chosen(self, message: DagView.TaskChosen) -> None:
        self.open_task(message.task_id)

    # -- actions ------------------------------------------------------------------------

    def open_task(self, task_id: str) -> None:
        """Push the detail screen of ``task_id``."""
        if task_id in self.model.state.tasks:
            self.app.push_screen(TaskDetailScreen(self.model, task_id, driven=self.driven))

    def action_plan(self) -> None:
        """Read the plan: spec, acceptance criteria, every task as the planner wrote it."""
        self.app.push_screen(PlanScreen(self.model))

    def action_task_detail(self) -> None:
        """Open the selected task."""
        if self.selected_task is not None:
            self.open_task(self.selected_task)

    def action_next_task(self) -> None:
        """Move the graph's cursor to the next task."""
        self._dag.step_task(1)

    def action_previous_task(self) -> None:
        """Move the graph's cursor to the previous task."""
        self._dag.step_task(-1)

    def action_cycle_state_filter(self) -> None:
        """Show only running, failed, pending, merged tasks, then all again."""
        index = STATE_FILTERS.index(self._dag.state_filter)
        new = STATE_FILTERS[(index + 1) % len(STATE_FILTERS)]
        self._dag.state_filter = new
        self.notify(f"tasks shown: {new.value if new else 'all'}", timeout=2, markup=False)

    def action_collapse_levels(self) -> None:
        """Fold every level of the graph."""
        self._dag.collapse_levels()

    def action_expand_levels(self) -> None:
        """Unfold every level of the graph."""
        self._dag.expand_levels()
