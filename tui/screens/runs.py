"""The runs screen: the history of runs from storage, and opening any of them.

A finished run opens as a :class:`ReplayScreen`: the run screen stepping through the stored
events (right/left one state event at a time, space to play, home/end to jump), agent
output folded along. A run still going opens as a run screen following the stored log
(``tail``), so a second terminal can watch a headless run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import ClassVar, Protocol

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from engine.events import AgentOutput, EventBase, Outcome
from engine.request_title import request_title
from storage.errors import StorageError
from storage.lease import live_runs
from storage.store import RunRecord, SqlEventStore
from tui.bridge import EventSource
from tui.decision_delivery import OnDecision
from tui.driver_watch import watch_driver
from tui.screens.run import RunScreen
from tui.screens.run_model import RunModel
from tui.stored_feed import EventLog, tail_store
from tui.text import clipped, one_line
from tui.widgets.key_bar import KeyBar
from tui.widgets.run_header import STOPPED_STYLE, WAITING, reading_the_log

PLAY_INTERVAL_S = 0.2
OFF_THE_REPLAY_BAR = {
    "escalations",  # the header says "press e" while one waits
    "next_agent",
    "pin_log",
    "unpin_log",
    "search_log",
    "filter_tasks",
}
"""The run screen's actions a replay keeps off its key bar, for its own."""
RUNS_SHOWN = 200

OUTCOME_STYLES = {
    Outcome.RUNNING: "bold yellow",
    Outcome.SHIPPED: "green",
    Outcome.REPORTED: "green",
    Outcome.FAILED: "red",
    Outcome.KILLED: "red",
}


class RunHistory(EventLog, Protocol):
    """What the runs screen needs from storage (``SqlEventStore`` has it)."""

    async def list_runs(self, limit: int = 100) -> list[RunRecord]: ...


def step_points(events: Sequence[EventBase]) -> list[int]:
    """Replay positions: after each state event (agent output is folded along, not a step)."""
    return [i + 1 for i, event in enumerate(events) if not isinstance(event, AgentOutput)]


class FollowedRunScreen(RunScreen):
    """A live run opened from the history: the run screen, and escape back to the list.

    With the store (``watch``), its lease is watched as ``attach`` watches it: the header
    says "stopped" while no process drives the run.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # The run screen's bar is 80 cells: "esc Back to runs" came after it, off the end
        # at 80 columns. ] stays a key, off the bar (the help lists [ and ]).
        *(
            replace(binding, show=False)
            for binding in RunScreen.BINDINGS
            if isinstance(binding, Binding) and binding.action == "next_agent"
        ),
        Binding("escape", "app.pop_screen", "Runs"),
    ]

    def __init__(
        self,
        *,
        source: EventSource,
        on_decision: OnDecision | None,
        watch: tuple[SqlEventStore, str] | None = None,
        waiting: str = WAITING,
    ) -> None:
        super().__init__(source=source, on_decision=on_decision, waiting=waiting)
        self._watch = watch

    def on_mount(self) -> None:
        # RunScreen's own on_mount runs too (Textual calls each class's handler).
        if self._watch is not None:
            store, run_id = self._watch
            self.run_worker(watch_driver(self, store, run_id), group="driver", exit_on_error=False)


class ReplayScreen(RunScreen):
    """A stored run, replayed by stepping through its events."""

    clocked: ClassVar[bool] = False

    BINDINGS: ClassVar[list[BindingType]] = [
        # The live run's keys for the log, the filter and the questions stay, off the key
        # bar (the help lists them): after them, the replay's own were off it at 80 columns
        # ("esc Back to runs" last) and all of them at 60.
        *(
            replace(binding, show=False)
            for binding in RunScreen.BINDINGS
            if isinstance(binding, Binding) and binding.action in OFF_THE_REPLAY_BAR
        ),
        Binding("right,l", "step(1)", "Step", key_display="→"),
        Binding("left,h", "step(-1)", "Back", key_display="←"),
        Binding("shift+right,L", "step(20)", "+20", show=False),
        Binding("shift+left,H", "step(-20)", "-20", show=False),
        # Before the focused graph's own (a Tree's space folds a level, its home and end
        # scroll it): they took these keys, so play, first and last did nothing. A text box
        # with the focus still gets them (_not_typing).
        Binding("space", "play", "Play", priority=True),
        Binding("home", "jump(0)", "Start", show=False, priority=True),
        Binding("end", "jump(-1)", "End", show=False, priority=True),
        Binding("escape", "app.pop_screen", "Runs"),
    ]

    position: reactive[int] = reactive(0, init=False)
    """How many steps are applied (0: nothing yet)."""
    playing: reactive[bool] = reactive(False, init=False)

    def __init__(self, events: Sequence[EventBase], *, start_at_end: bool = True) -> None:
        super().__init__(RunModel())
        self._events = list(events)
        self._points = step_points(self._events)
        self._applied = 0  # events folded into the model
        self._bar = Static(id="replay-bar")
        self._timer: Timer | None = None
        self._start_at_end = start_at_end

    @property
    def steps(self) -> int:
        """How many steps the replay has."""
        return len(self._points)

    def compose(self) -> ComposeResult:
        yield self._bar
        yield from super().compose()

    def on_mount(self) -> None:
        self._timer = self.set_interval(PLAY_INTERVAL_S, self._tick, pause=True)
        self.position = self.steps if self._start_at_end else min(1, self.steps)
        self._redraw_bar()

    def watch_position(self, position: int) -> None:
        target = self._points[position - 1] if position > 0 else 0
        if target < self._applied:
            self.model = RunModel(self.model.lines.maxlen)
            self._applied = 0
        self.model.apply(self._events[self._applied : target])
        self._applied = target
        # At its end, a log without an ending is a stopped run's: its agents without an end
        # were cut off, not running (before, they said "running" for good). On the way there,
        # a process drove the run.
        unfinished = self.model.state.outcome is Outcome.RUNNING
        self.show_stopped(position >= self.steps and unfinished and self._applied > 0)
        self.sync()
        self._redraw_bar()

    def watch_playing(self, playing: bool) -> None:
        if self._timer is not None:
            self._timer.resume() if playing else self._timer.pause()
        self._redraw_bar()

    def _tick(self) -> None:
        if self.position >= self.steps:
            self.playing = False
        else:
            self.position += 1

    def _redraw_bar(self) -> None:
        text = Text()
        text.append(" REPLAY ", style="bold reverse cyan")
        text.append(f" step {self.position}/{self.steps}")
        if 0 < self.position <= self.steps:
            event = self._events[self._points[self.position - 1] - 1]
            text.append(f"  #{event.seq} {type(event).__name__}", style="bold")
            text.append(f"  {event.ts:%H:%M:%S}", style="dim")
        text.append("  ▶ playing" if self.playing else "  ❚❚ paused", style="yellow")
        self._bar.update(text)

    def action_step(self, delta: int) -> None:
        """Move ``delta`` steps (negative: back)."""
        self.playing = False
        self.position = max(0, min(self.steps, self.position + delta))

    def _not_typing(self) -> None:
        """Leave the key to the search or filter box that has the focus."""
        if isinstance(self.focused, Input):
            raise SkipAction

    def action_jump(self, where: int) -> None:
        """To the start (0) or the end (-1)."""
        self._not_typing()
        self.playing = False
        self.position = self.steps if where < 0 else 0

    def action_play(self) -> None:
        """Play from here (from the start when at the end), or pause."""
        self._not_typing()
        if not self.playing and self.position >= self.steps:
            self.position = 0
        self.playing = not self.playing


REQUEST_CELLS = 70
"""The request column's width at most: a longer request ends in '…' (it was cut short
without a sign, and a Japanese one at 70 characters took 140 cells)."""


def run_row(record: RunRecord, *, stopped: bool = False) -> tuple[str | Text, ...]:
    """One line of the history table (``stopped``: unfinished, and no process drives it)."""
    if stopped and record.outcome is Outcome.RUNNING:
        outcome = Text("stopped", style=STOPPED_STYLE)
    else:
        outcome = Text(record.outcome.value, style=OUTCOME_STYLES.get(record.outcome, ""))
    if record.simulated:
        outcome.append(" SIM", style="bold magenta")
    request = one_line(request_title(record.request))
    return (
        record.run_id,
        outcome,
        f"{record.tasks_merged}/{record.tasks_total}",
        f"{record.created_at:%Y-%m-%d %H:%M}",
        clipped(Text(request), REQUEST_CELLS),  # a str cell would be read as markup
    )


class RunsScreen(Screen[None]):
    """Every stored run, newest first; enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("g", "reload", "Reload"),
    ]

    def __init__(
        self, store: RunHistory, *, decider: Callable[[str], OnDecision | None] | None = None
    ) -> None:
        """``decider(run_id)``: where decisions on a followed live run go (None: read-only)."""
        super().__init__()
        self._store = store
        self._decider = decider
        self._table: DataTable[str | Text] = DataTable(cursor_type="row", id="runs-table")
        self._records: dict[str, RunRecord] = {}
        self._stopped: set[str] = set()

    def compose(self) -> ComposeResult:
        yield self._table
        yield KeyBar()

    def on_mount(self) -> None:
        self._table.border_title = "runs"
        for label in ("run", "outcome", "tasks", "started", "request"):
            self._table.add_column(label, key=label)
        self.action_reload()
        self._table.focus()

    def action_reload(self) -> None:
        """Read the run list again."""
        self.run_worker(self._load(), group="runs", exclusive=True)

    async def _load(self) -> None:
        try:
            records = await self._store.list_runs(limit=RUNS_SHOWN)
        except Exception as exc:  # storage errors are one line already
            self.notify(str(exc), title="cannot list runs", severity="error", markup=False)
            return
        unfinished = [r.run_id for r in records if r.outcome is Outcome.RUNNING]
        driven = await self._driven(unfinished)
        self.show_records(records, stopped={r for r in unfinished if r not in driven})

    async def _driven(self, run_ids: list[str]) -> Collection[str]:
        """Of ``run_ids``, the runs a live process drives (all of them when the store
        cannot tell: the log's word, "running", is then shown)."""
        if not run_ids or not isinstance(self._store, SqlEventStore):
            return run_ids
        try:
            return await live_runs(self._store, run_ids)
        except StorageError:
            return run_ids

    def show_records(self, records: Sequence[RunRecord], stopped: Collection[str] = ()) -> None:
        """Fill the table; ``stopped``: the unfinished runs no process drives (a signal or
        a crash stopped them), shown as such, as ``shopfloor runs`` shows them."""
        self._table.clear()
        self._records = {r.run_id: r for r in records}
        self._stopped = set(stopped)
        for record in records:
            row = run_row(record, stopped=record.run_id in self._stopped)
            self._table.add_row(*row, key=record.run_id)
        self._table.border_subtitle = f"{len(records)} runs · enter opens · g reloads"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        run_id = event.row_key.value
        if run_id is not None and run_id in self._records:
            self.run_worker(self._open(self._records[run_id]), group="open-run", exclusive=True)

    async def _open(self, record: RunRecord) -> None:
        if record.outcome is Outcome.RUNNING:
            source = tail_store(self._store, record.run_id)
            decide = self._decider(record.run_id) if self._decider is not None else None
            store = self._store if isinstance(self._store, SqlEventStore) else None
            followed = FollowedRunScreen(
                source=source,
                on_decision=decide,
                watch=(store, record.run_id) if store is not None else None,
                waiting=reading_the_log(record.run_id),
            )
            followed.show_stopped(record.run_id in self._stopped)
            await self.app.push_screen(followed)
            return
        try:
            events = await self._store.read(record.run_id)
        except Exception as exc:  # storage errors are one line already
            self.notify(
                str(exc), title=f"cannot read run {record.run_id}", severity="error", markup=False
            )
            return
        await self.app.push_screen(ReplayScreen(events))
