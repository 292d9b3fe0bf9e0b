"""How the task graph draws its lines: a task's and a level's.

A task's line shows its state in colour and as a glyph, the critical path's mark, its id,
title, dependencies, state and tries (:func:`task_label`); a level's line, how many of its
tasks merged or failed (:func:`level_label`). :class:`~tui.widgets.dag_view.DagView` labels
its tree with them; the task detail screen colours a state as the graph does
(:data:`STATE_STYLES`).
"""

from __future__ import annotations

from rich.text import Text

from engine.events import TaskState
from engine.run_views import TaskView
from tui.text import one_line

STATE_STYLES: dict[TaskState, str] = {
    TaskState.PENDING: "dim",
    TaskState.READY: "cyan",
    TaskState.RUNNING: "bold yellow",
    TaskState.GATES: "bold magenta",
    TaskState.MERGING: "bold blue",
    TaskState.MERGED: "bold green",
    TaskState.FAILED: "bold red",
    TaskState.BLOCKED: "red",
}
"""How each task state is coloured (named ANSI colours: readable on 16-colour terminals)."""

STATE_GLYPHS: dict[TaskState, str] = {
    TaskState.PENDING: "○",
    TaskState.READY: "◌",
    TaskState.RUNNING: "◐",
    TaskState.GATES: "◑",
    TaskState.MERGING: "◒",
    TaskState.MERGED: "●",
    TaskState.FAILED: "✗",
    TaskState.BLOCKED: "⊘",
}

CRITICAL_MARK = ("▌", "bold yellow")
"""The mark in front of a task on the critical path."""

TITLE_WIDTH = 28
DEPS_SHOWN = 3


def task_label(task: TaskView, critical: bool) -> Text:
    """One task's line: critical mark, state glyph, id, title, dependencies, state, tries."""
    style = STATE_STYLES.get(task.state, "")
    text = Text()
    text.append(*CRITICAL_MARK) if critical else text.append(" ")
    text.append(STATE_GLYPHS.get(task.state, "?") + " ", style=style)
    text.append(task.id, style="bold" if critical else "")
    title = one_line(task.title)
    title = title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 1] + "…"
    text.append(f" {title}")
    if task.depends_on:
        deps = ",".join(task.depends_on[:DEPS_SHOWN])
        more = f"+{len(task.depends_on) - DEPS_SHOWN}" if len(task.depends_on) > DEPS_SHOWN else ""
        text.append(f" ◂{deps}{more}", style="dim")
    text.append(f" {task.state.value}", style=style)
    if task.attempts > 1:
        text.append(f" x{task.attempts}", style="yellow")
    if task.breaker:
        text.append(" ⚡breaker", style="bold red")
    return text


def level_label(level: int, tasks: list[TaskView]) -> Text:
    """A level's branch line: its number and how many of its tasks are merged or failed."""
    merged = sum(1 for t in tasks if t.state is TaskState.MERGED)
    failed = sum(1 for t in tasks if t.state in (TaskState.FAILED, TaskState.BLOCKED))
    text = Text.assemble((f"level {level}", "bold"), f"  {merged}/{len(tasks)} merged")
    if failed:
        text.append(f"  {failed} failed", style="bold red")
    return text
