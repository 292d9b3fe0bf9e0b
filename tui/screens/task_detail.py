"""The task detail screen: one task's whole story, attempt by attempt.

State, dependencies, what the plan says of it (description, files, test plan), every
attempt with the agents that worked on it and each gate's result and output, the task
reviewer's notes, the circuit breaker's failure signature, and the diff
when one is known (a unified diff an agent printed). Opened with enter on a task; escape
goes back. Reads the run model only.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from engine.run_views import GateView, TaskView
from engine.spend import dollars
from engine.state import RunState
from tui.plan_text import task_plan_text
from tui.screens.run_model import RunModel
from tui.text import compact_count, printable
from tui.widgets.key_bar import KeyBar
from tui.widgets.task_lines import STATE_STYLES

OUTPUT_LINES_SHOWN = 30


def diff_from_lines(lines: list[str]) -> str | None:
    """The last unified diff in an agent's log lines (from ``diff --git`` on), if any."""
    starts = [i for i, line in enumerate(lines) if line.lstrip("> ").startswith("diff --git")]
    if not starts:
        return None
    block: list[str] = []
    for line in lines[starts[-1] :]:
        bare = line[2:] if line.startswith("> ") else line
        if block and bare[:1] not in " +-@\\di":
            break
        block.append(bare)
    return "\n".join(block)


def gate_text(gate: GateView) -> Text:
    """One gate's line and the tail of its output when it failed."""
    text = Text()
    text.append(
        "  ✓ " if gate.passed else "  ✗ ", style="bold green" if gate.passed else "bold red"
    )
    text.append(f"{gate.gate} ({gate.scope})", style="bold")
    text.append(f"  {gate.summary}")
    for finding in gate.findings[:10]:
        text.append(f"\n      • {finding}", style="yellow")
    if not gate.passed and gate.output_tail.strip():
        tail = gate.output_tail.rstrip().splitlines()[-OUTPUT_LINES_SHOWN:]
        for line in tail:
            text.append(f"\n      │ {line}", style="dim")
    return text


def task_summary(state: RunState, task: TaskView) -> Text:
    """Heading: id, title, state, dependencies, tokens, merge commit, breaker."""
    text = Text()
    text.append(task.id, style="bold")
    text.append(f"  {task.title}\n")
    text.append("state ")
    text.append(task.state.value, style=STATE_STYLES.get(task.state, ""))
    text.append(f"   attempts {task.attempts}")
    if task.reason:
        text.append(f"   reason: {task.reason}", style="italic")
    deps = ", ".join(task.depends_on) or "none"
    text.append(f"\ndepends on {deps}")
    dependants = [t.id for t in state.tasks.values() if task.id in t.depends_on]
    if dependants:
        text.append(f"   needed by {', '.join(dependants)}")
    if task.tokens or task.cost_usd:
        text.append(f"\ntokens {compact_count(task.tokens)}   {dollars(task.cost_usd)}")
    if task.merged_commit:
        text.append(f"\nmerged as {task.merged_commit[:12]}", style="green")
    if task.breaker:
        text.append("\ncircuit breaker tripped on: ", style="bold red")
        text.append(task.breaker, style="red")
    return text


def attempts_text(state: RunState, task: TaskView, *, driven: bool = True) -> Text:
    """Every attempt: its agents, then its gates in order (``driven``: a process drives
    the run, as for :meth:`~engine.state.RunState.agents_live`; if not, an agent without an
    end is cut off, as the agent table says)."""
    live = state.agents_live(driven)
    text = Text()
    attempts = sorted({g.attempt for g in task.gates} | set(range(1, task.attempts + 1)))
    for n in attempts:
        text.append(f"\nattempt {n}\n", style="bold underline")
        for agent in state.agents.values():
            if agent.task_id == task.id and agent.attempt == n:
                status = agent.standing(live)
                sim = " SIM" if agent.simulated else ""
                text.append(f"  {agent.role} {agent.agent_id} on {agent.model}{sim}: {status}\n")
        for gate in (g for g in task.gates if g.attempt == n):
            text.append_text(gate_text(gate))
            text.append("\n")
    if not attempts:
        text.append("\nno attempt yet\n", style="dim")
    return text


class TaskDetailScreen(Screen[None]):
    """Attempts, gates, reviews, breaker and diff of one task."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, model: RunModel, task_id: str, *, driven: bool = True) -> None:
        """``model``: the run the task belongs to; ``driven``: a process drives it (the run
        screen's word: not so for a stopped run, or at the end of a replay of one)."""
        super().__init__()
        self._model = model
        self.task_id = task_id
        self._driven = driven

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static(self._body(), id="detail-body")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#detail").border_title = f"task {self.task_id}"

    def _body(self) -> RenderableType:
        state = self._model.state
        task = state.tasks[self.task_id]
        parts: list[RenderableType] = [task_summary(state, task)]
        blueprint = state.blueprint
        planned = [t for t in blueprint.tasks if t.id == self.task_id] if blueprint else []
        said = task_plan_text(planned[0]) if planned else Text()
        if said:
            said.rstrip()
            parts.append(Text("\nthe plan", style="bold underline"))
            parts.append(said)
        parts.append(attempts_text(state, task, driven=self._driven))
        reviews = Text("task reviewer\n", style="bold underline")
        for note in task.reviews or ["no review yet"]:
            reviews.append(f"  {note}\n", style="" if task.reviews else "dim")
        parts.append(reviews)
        diff = self.diff()
        if diff:
            parts.append(Text("diff", style="bold underline"))
            dark = self.app.current_theme.dark
            parts.append(Syntax(diff, "diff", theme="ansi_dark" if dark else "ansi_light"))
        return Group(*parts)

    def diff(self) -> str | None:
        """The latest diff printed by an agent of this task, if any."""
        state = self._model.state
        agents = [a for a in state.agents.values() if a.task_id == self.task_id]
        for agent in sorted(agents, key=lambda a: a.attempt, reverse=True):
            found = diff_from_lines(self._model.lines.lines(agent.agent_id))
            if found:
                return printable(found)
        return None
