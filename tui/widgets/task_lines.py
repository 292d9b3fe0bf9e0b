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
from tui.text import clipped, one_line

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
TITLE_KEPT_WITH_DEPS = 12
"""In a narrow panel the title gives way first; when fewer cells than this are left for
it, the dependencies go (the task detail lists them) and the title takes their room."""


def task_label(task: TaskView, critical: bool, room: int | None = None) -> Text:
    """One task's line: critical mark, state glyph, id, title, dependencies, state, tries.

    In ``room`` cells (None: no limit) the title is shortened, then the dependencies left
    out, then the id shortened, so that the state, the tries and the breaker stay in sight:
    the panel does not scroll sideways, and at 80 columns they were cut off every line.
    Widths are counted in cells, not characters: a CJK or emoji title takes two a
    character. A wide panel gives the title the room it has, up to its whole length."""
    style = STATE_STYLES.get(task.state, "")
    head = Text()
    head.append(*CRITICAL_MARK) if critical else head.append(" ")
    head.append(STATE_GLYPHS.get(task.state, "?") + " ", style=style)
    deps = Text()
    if task.depends_on:
        shown = ",".join(task.depends_on[:DEPS_SHOWN])
        more = f"+{len(task.depends_on) - DEPS_SHOWN}" if len(task.depends_on) > DEPS_SHOWN else ""
        deps.append(f" ◂{shown}{more}", style="dim")
    tail = Text(f" {task.state.value}", style=style)
    if task.attempts > 1:
        tail.append(f" x{task.attempts}", style="yellow")
    if task.breaker:
        tail.append(" ⚡breaker", style="bold red")
    task_id = Text(one_line(task.id), style="bold" if critical else "")
    if room is not None:  # clipped leaves an id that fits whole
        task_id = clipped(task_id, max(room - head.cell_len - tail.cell_len, 2))
    head.append_text(task_id)
    title = Text(one_line(task.title))
    width = min(title.cell_len, TITLE_WIDTH)
    if room is not None:
        left = room - head.cell_len - deps.cell_len - tail.cell_len - 1
        if left < min(width, TITLE_KEPT_WITH_DEPS):
            deps = Text()  # the title takes their room, up to its whole length
            left = room - head.cell_len - tail.cell_len - 1
        width = min(title.cell_len, left)
    if width >= title.cell_len:
        head.append(" ")
        head.append_text(title)
    elif width >= 4:  # what is left of a shorter one does not say more than its id
        head.append(" ")
        head.append_text(clipped(title, width))
    return Text.assemble(head, deps, tail)


def level_label(level: int, tasks: list[TaskView]) -> Text:
    """A level's branch line: its number and how many of its tasks are merged or failed."""
    merged = sum(1 for t in tasks if t.state is TaskState.MERGED)
    failed = sum(1 for t in tasks if t.state in (TaskState.FAILED, TaskState.BLOCKED))
    text = Text.assemble((f"level {level}", "bold"), f"  {merged}/{len(tasks)} merged")
    if failed:
        text.append(f"  {failed} failed", style="bold red")
    return text
