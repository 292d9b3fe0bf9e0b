"""The planner's blueprint as text to read: what a human approves at the review and twin gates.

One renderer for every place the plan is read — the plan screen (``b``), the escalation
dialog of a question about the plan, a task's detail and ``shopfloor status RUN --plan`` —
so they cannot disagree. Everything in it came from a model: it is made printable (no
terminal escapes) and shown as plain text, never as markup.
"""

from __future__ import annotations

from rich.text import Text

from engine.blueprint import Blueprint, Task
from tui.text import printable

PLAN_ESCALATIONS = frozenset({"review", "twin"})
"""Kinds of escalation that ask about the plan: their dialog shows it below the context."""


def _block(text: Text, label: str, body: str, indent: str) -> None:
    """``label`` then ``body``'s lines, each indented; nothing when ``body`` is empty."""
    lines = printable(body).strip().splitlines()
    if not lines:
        return
    text.append(f"{indent}{label}\n", style="bold")
    for line in lines:
        text.append(f"{indent}  {line}\n")


def task_plan_text(task: Task, indent: str = "") -> Text:
    """What the plan says of ``task``: its description, files, test plan and removals."""
    text = Text()
    _block(text, "description", task.description, indent)
    if task.files:
        text.append(f"{indent}files ", style="bold")
        text.append(printable(", ".join(task.files)) + "\n")
    _block(text, "test plan", task.test_plan, indent)
    if task.removes:
        text.append(f"{indent}removes ", style="bold")
        text.append(printable(", ".join(task.removes)) + "\n")
    return text


def plan_text(blueprint: Blueprint) -> Text:
    """The spec, the acceptance criteria, then every task in the blueprint's order with
    what it depends on and what the plan says of it."""
    text = Text()
    text.append("spec\n", style="bold underline")
    for line in printable(blueprint.spec).strip().splitlines() or ["(none)"]:
        text.append(f"  {line}\n")
    text.append("\nacceptance criteria\n", style="bold underline")
    if not blueprint.acceptance_criteria:
        text.append("  (none given)\n", style="dim")
    for number, criterion in enumerate(blueprint.acceptance_criteria, start=1):
        text.append(f"  {number}. {printable(' '.join(criterion.split()))}\n")
    text.append(f"\ntasks ({len(blueprint.tasks)})\n", style="bold underline")
    for task in blueprint.tasks:
        text.append(f"\n  {printable(task.id)}", style="bold")
        text.append(f"  {printable(' '.join(task.title.split()))}\n")
        deps = ", ".join(task.depends_on) if task.depends_on else "nothing"
        text.append(f"    after {printable(deps)}\n", style="dim")
        text.append_text(task_plan_text(task, indent="    "))
    return text
