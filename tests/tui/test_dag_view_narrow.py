"""In a narrow graph panel the task's state, tries and breaker stay in sight.

The panel does not scroll sideways, and a task's line put its title (up to 28 cells) and
its dependencies before its state: at 80x24 the graph's 34 columns showed "pricing
Pricing: line totals" and nothing of "running x2" or "⚡breaker"; at 120x40 a task with
three dependencies lost its state. The title gives way first, then the dependencies.
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.events import TaskState
from engine.run_views import TaskView
from tui.widgets.dag_view import DagView


class GraphApp(App[None]):
    CSS = "DagView { height: 20; width: 50%; }"

    def compose(self) -> ComposeResult:
        yield DagView()


def plan() -> dict[str, TaskView]:
    models = TaskView("models", "Item model with validation", [], TaskState.MERGED, attempts=1)
    pricing = TaskView(
        "pricing",
        "Pricing: line totals, discounts and tax",
        ["models"],
        TaskState.GATES,
        attempts=2,
    )
    pricing.breaker = "tests: AssertionError in test_tax"
    cli = TaskView(
        "cli",
        "Command line: python -m inventory",
        ["models", "pricing", "reports"],
        TaskState.PENDING,
        attempts=0,
    )
    return {t.id: t for t in (models, pricing, cli)}


def shown_line(dag: DagView, task_id: str) -> str:
    """The task's line as drawn in the panel (cut at its edge)."""
    line = next(
        n for n in range(dag.last_line + 1) if (dag.get_node_at_line(n) or dag.root).data == task_id
    )
    return dag.render_line(line - round(dag.scroll_offset.y)).text


async def test_state_tries_and_breaker_stay_on_a_narrow_panel() -> None:
    app = GraphApp()
    async with app.run_test(size=(70, 24)) as pilot:  # a 35-column panel, as at 80x24
        dag = app.query_one(DagView)
        dag.sync(plan())
        await pilot.pause()
        pricing = shown_line(dag, "pricing")
        assert "gates x2 ⚡breaker" in pricing, pricing
        assert "▌◑ pricing gates" in pricing  # no room left for its title
        assert "○ cli Command line: py… pending" in shown_line(dag, "cli")
        await pilot.resize_terminal(200, 40)  # wider: the whole title and the dependencies
        await pilot.pause()
        pricing = shown_line(dag, "pricing")
        assert "Pricing: line totals, discounts and tax ◂models gates x2 ⚡breaker" in pricing
        assert "◂models,pricing,reports pending" in shown_line(dag, "cli")
        await pilot.resize_terminal(70, 24)  # and narrow again
        await pilot.pause()
        assert "gates x2 ⚡breaker" in shown_line(dag, "pricing")


def inventory_plan() -> dict[str, TaskView]:
    """The demo's plan (examples/inventory), every task pending."""
    tasks = (
        ("models", "Item model with validation", []),
        ("stock", "Inventory of stock on hand", ["models"]),
        ("pricing", "Pricing: line totals, discounts and tax", ["models"]),
        ("csv_io", "CSV import and export", ["models"]),
        ("reports", "Valuation and low-stock reports", ["stock", "pricing"]),
        ("cli", "Command line: python -m inventory", ["stock", "csv_io", "reports"]),
    )
    return {i: TaskView(i, title, deps, TaskState.PENDING, attempts=0) for i, title, deps in tasks}


async def test_a_title_without_its_dependencies_takes_their_room() -> None:
    # At 100x30 (a 48-column panel) the cli task's dependencies went and its title stayed
    # at 28 cells though 30 were left: its "pending" ended two columns left of the others'.
    app = GraphApp()
    async with app.run_test(size=(96, 30)) as pilot:  # a 48-column panel
        dag = app.query_one(DagView)
        dag.sync(inventory_plan())
        await pilot.pause()
        lines = {task_id: shown_line(dag, task_id) for task_id in dag.shown_task_ids}
    cut = {task_id: line for task_id, line in lines.items() if "…" in line}
    assert set(cut) >= {"reports", "cli"}, lines
    assert "Command line: python -m inven… pending" in cut["cli"], cut["cli"]
    ends = {task_id: len(line.rstrip()) for task_id, line in cut.items()}
    assert len(set(ends.values())) == 1, lines  # every cut line's state at the panel's edge
