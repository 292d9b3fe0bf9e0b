"""One-line summaries of a run: the header above everything and the budget strip below.

Both render from a :class:`~engine.state.RunState` and nothing else. A simulated run is
marked SIM in both, so a sim run can never be mistaken for a real one. The header toggles
state classes (``-sim``, ``-running``, ``-shipped``, ``-failed``, ``-killed``, and
``-stopped`` for an unfinished run no process drives) that the CSS
colours.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from engine.durations import duration_text
from engine.events import Outcome, TaskState
from engine.request_title import split_request
from engine.spend import dollars
from engine.state import RunState
from tui.text import SIM_BADGE, UNPRICED, agents_text, compact_count, one_line

OUTCOME_STYLES: dict[Outcome, str] = {
    Outcome.RUNNING: "bold yellow",
    Outcome.SHIPPED: "bold green",
    Outcome.REPORTED: "bold green",
    Outcome.FAILED: "bold red",
    Outcome.KILLED: "bold red",
}


STOPPED_STYLE = "bold magenta"

WAITING = "waiting for the run to start…"
"""The header before the run's first event: a run this process starts."""


def reading_the_log(run_id: str) -> str:
    """The header of a view that follows a stored run (``attach``, a live run opened from
    the runs screen) until its log's first event is read: the run started long ago."""
    return f"reading the log of run {run_id}…"


def header_text(
    state: RunState, *, stopped: bool = False, why: str = "", waiting: str = WAITING
) -> Text:
    """The header line: SIM marker, run id, stage, outcome and the request (its heading alone
    when it starts with one).

    ``stopped``: the run is unfinished and no process drives it (an attached view learns
    it from the run's lease; the run's own view, from its engine having stopped with an
    error, ``why``): it says "stopped", as ``runs`` and ``status`` do, not "running".
    ``waiting``: what it says before the run's first event."""
    text = Text()
    if state.simulated:
        text.append(*SIM_BADGE)
        text.append(" ")
    if not state.run_id:
        text.append(waiting, style="dim")
        return text
    text.append("run ")
    text.append(state.run_id, style="bold")
    text.append("  stage ")
    text.append(state.stage.value, style="bold")
    text.append("  ")
    if stopped and state.outcome is Outcome.RUNNING:
        text.append("stopped", style=STOPPED_STYLE)
        # "stopped: the run stopped because X" says it twice: the reason alone follows.
        reason = one_line(why).removeprefix("the run stopped ").removeprefix("the run ")
        text.append(f": {reason}" if why else ": no process drives it", style="dim")
    else:
        text.append(state.outcome.value, style=OUTCOME_STYLES[state.outcome])
    if state.outcome is Outcome.SHIPPED and state.branch:
        text.append(f" → {one_line(state.branch)}")
    elif state.outcome is not Outcome.RUNNING and state.reason:
        text.append(f": {one_line(state.reason)}")
    text.append("  │ ", style="dim")
    title, _, heading = split_request(state.request)
    text.append(title if heading else one_line(state.request))
    return text


def bar(fraction: float, width: int = 10) -> str:
    """A bar of ``width`` cells filled to ``fraction`` (clamped to 0..1)."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def budget_text(state: RunState, *, stopped: bool = False, now: datetime | None = None) -> Text:
    """The budget line: merged/total tasks, how the agents stand, the time driven against
    the time budget, tokens and cost against their limits, the SIM marker first and a budget
    exceeded next. ``stopped``: no process drives the unfinished run, so its unfinished
    agents were cut off, not running; ``now``: the clock of one a process drives (its time
    runs on between its events; None: to its latest event)."""
    total = len(state.tasks)
    merged = sum(1 for task in state.tasks.values() if task.state is TaskState.MERGED)
    failed = sum(1 for task in state.tasks.values() if task.state is TaskState.FAILED)
    text = Text()
    budget = state.budget
    if state.simulated:  # first, so a line cut short on a narrow terminal keeps it
        text.append(*SIM_BADGE)
        text.append(" ")
    if budget is not None and budget.exceeded:  # the line is 140 cells with two budgets:
        # at its end, this was cut off at 80 columns and at 120
        text.append(f"{budget.exceeded} budget exceeded", style="bold red")
        text.append("  ")
    text.append(f"merged {merged}/{total}", style="bold green" if total and merged == total else "")
    if failed:
        text.append(f"  failed {failed}", style="bold red")
    # Before tokens and cost: what a person checks first, kept on an 80-column line.
    text.append("  agents ")
    text.append_text(agents_text(state.agent_tally(live=not stopped)))
    # The time against its budget next, on an 80-column line too (after tokens and cost it
    # began at column 95): an overnight run's owner looks for the hours left.
    if budget is not None and budget.max_duration_s:
        driven = state.driven_seconds(now)
        used = driven / budget.max_duration_s
        style = "red" if budget.exceeded == "time" or used >= 0.9 else "green"
        text.append(f"  time {duration_text(driven)}")
        text.append(f" {bar(used, 8)}", style=style)
        text.append(f" of {duration_text(budget.max_duration_s)}")
    text.append(
        f"  tokens {compact_count(state.input_tokens)} in"
        f" / {compact_count(state.output_tokens)} out"
    )
    if budget is not None and budget.max_tokens:
        used = budget.tokens / budget.max_tokens
        style = "red" if budget.exceeded == "tokens" or used >= 0.9 else "green"
        text.append(f" {bar(used, 8)}", style=style)
        text.append(f" {used:.0%} of {compact_count(budget.max_tokens)}")
    text.append(f"  {dollars(state.cost_usd)}")
    if state.unpriced_models:
        text.append(UNPRICED, style="yellow")
    if budget is not None and budget.max_cost_usd:
        used = budget.cost_usd / budget.max_cost_usd
        style = "red" if budget.exceeded == "cost" or used >= 0.9 else "green"
        text.append(f" {bar(used, 8)}", style=style)
        text.append(f" of {dollars(budget.max_cost_usd)}")
    return text


class TextLine(Static):
    """A Static that redraws only when its text really changed, and lays out only if needed.

    ``Static.update`` re-lays the screen out; the run screen redraws its panels many
    times a second during a flood, mostly with the same text, so unchanged text is skipped,
    and a line whose size the text cannot change (a fixed height, a width not ``auto``)
    is redrawn without a layout.
    """

    _shown: Text | str | None = None

    def show_text(self, text: Text | str) -> None:
        """Show ``text`` unless it is what is shown already."""
        if text != self._shown:
            self._shown = text
            self.update(text, layout=not self._fixed_size)

    @property
    def _fixed_size(self) -> bool:
        height, width = self.styles.height, self.styles.width
        return height is not None and height.is_cells and (width is None or not width.is_auto)


class RunHeader(TextLine):
    """The run's header line; ``waiting``: what it says before the run's first event."""

    waiting: str = WAITING

    DEFAULT_CSS = """
    RunHeader {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    RunHeader.-shipped {
        background: $success 30%;
    }
    RunHeader.-failed, RunHeader.-killed {
        background: $error 30%;
    }
    RunHeader.-stopped {
        background: $warning 30%;
    }
    """

    def show(self, state: RunState, *, stopped: bool = False, why: str = "") -> None:
        """Redraw from ``state`` (``stopped``: no process drives the unfinished run, for
        the reason ``why`` when known)."""
        self.show_text(header_text(state, stopped=stopped, why=why, waiting=self.waiting))
        self.set_class(state.simulated, "-sim")
        stopped = stopped and state.outcome is Outcome.RUNNING
        for outcome in Outcome:
            shown = state.outcome is outcome and bool(state.run_id) and not stopped
            self.set_class(shown, f"-{outcome.value}")
        self.set_class(stopped and bool(state.run_id), "-stopped")


class BudgetStrip(TextLine):
    """The budget line: tasks merged, tokens and cost against the run's limits."""

    DEFAULT_CSS = """
    BudgetStrip {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, state: RunState, *, stopped: bool = False, now: datetime | None = None) -> None:
        """Redraw from ``state`` (``stopped``: no process drives the unfinished run; ``now``:
        the clock of one a process drives, whose time runs on between its events)."""
        self.show_text(budget_text(state, stopped=stopped, now=now))
        exceeded = state.budget is not None and state.budget.exceeded is not None
        self.set_class(exceeded, "-exceeded")
