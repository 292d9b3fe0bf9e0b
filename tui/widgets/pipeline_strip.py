"""The pipeline strip and the escalation banner: where the run is, and who waits for you.

The strip lists the stages of :class:`~engine.events.Stage` in order — passed ones ticked,
the current one highlighted — and, when a kill gate ended the run, which gate tripped. The
banner appears only while escalations wait for a human, with their count and the key that
opens the queue.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from engine.events import Outcome, Stage
from engine.state import RunState
from tui.text import one_line
from tui.widgets.run_header import TextLine

STAGES: tuple[Stage, ...] = tuple(stage for stage in Stage if stage is not Stage.DONE)
"""The stages shown, in pipeline order (DONE is the state after the last one)."""

AUDIT_STAGES = (Stage.INTAKE, Stage.REVIEW, Stage.LEARN)
"""The stages an audit passes (engine.mode_stages): it plans, builds and ships nothing."""


def run_stages(state: RunState) -> tuple[Stage, ...]:
    """The stages ``state``'s run goes through: an audit's own, or the whole pipeline."""
    return AUDIT_STAGES if state.mode == "audit" else STAGES


def pipeline_text(state: RunState, room: int | None = None) -> Text:
    """The strip: each stage passed/current/ahead, then the kill gate if one tripped.

    In fewer than ``room`` cells the stages are parted by a space instead of an arrow: at 80
    columns the full strip cut off ship and learn, and the current stage with them."""
    text = _strip_text(state, " › ")  # noqa: RUF001
    if room is not None and text.cell_len > room:
        text = _strip_text(state, " ")
    return text


def _strip_text(state: RunState, between: str) -> Text:
    text = Text()
    failed = state.outcome in (Outcome.FAILED, Outcome.KILLED)
    # A finished run's stage is DONE; one that failed shows the stage it failed in, not the
    # stages after it ticked as passed.
    current = state.ended_in if failed and state.ended_in is not None else state.stage
    stages = run_stages(state)
    index = stages.index(current) if current in stages else len(stages)
    for i, stage in enumerate(stages):
        if i:
            text.append(between, style="dim")
        if i < index:
            text.append(f"✓{stage.value}", style="green")
        elif i == index and failed:
            text.append(f" {stage.value} ", style="bold reverse red")
        elif i == index:
            text.append(f" {stage.value} ", style="bold reverse yellow")
        else:
            text.append(stage.value, style="dim")
    if state.kill_gate:
        text.append("  ✗ kill gate: ", style="bold red")
        text.append(state.kill_gate, style="bold red")
    return text


class PipelineStrip(TextLine):
    """One line: the pipeline's stages with the current one highlighted."""

    DEFAULT_CSS = """
    PipelineStrip {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    PipelineStrip.-killed {
        background: $error 20%;
    }
    """

    _state: RunState | None = None

    def show(self, state: RunState) -> None:
        """Redraw from ``state``."""
        self._state = state
        self.show_text(pipeline_text(state, self.content_size.width or None))
        self.set_class(state.kill_gate is not None, "-killed")

    def on_resize(self) -> None:
        if self._state is not None:
            self.show(self._state)


class EscalationBanner(TextLine):
    """Shown while escalations wait: how many, and ``e`` to answer them."""

    DEFAULT_CSS = """
    EscalationBanner {
        height: 1;
        padding: 0 1;
        display: none;
        text-style: bold;
        background: $warning;
        color: auto 90%;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    EscalationBanner.-waiting {
        display: block;
    }
    """

    waiting: reactive[int] = reactive(0, init=False)
    """How many escalations wait for a human."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._first = ""

    def show(self, state: RunState) -> None:
        """Count the open escalations of ``state`` (none wait once the run finished)."""
        waiting = state.open_escalations if state.outcome is Outcome.RUNNING else []
        self._first = one_line(waiting[0].question.strip().split("\n", 1)[0]) if waiting else ""
        self.waiting = len(waiting)
        self._redraw()

    def watch_waiting(self, waiting: int) -> None:
        self.set_class(waiting > 0, "-waiting")

    def _redraw(self) -> None:
        count = self.waiting
        if not count:
            self.show_text("")
            return
        noun = "escalation waits" if count == 1 else "escalations wait"
        # The key first: a narrow terminal cuts the line's end.
        self.show_text(Text(f"⚠ {count} {noun} — press e to answer  │ {self._first}"))
