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
        assert "Pricing: line totals, disco… ◂models gates x2 ⚡breaker" in pricing
        assert "◂models,pricing,reports pending" in shown_line(dag, "cli")
        await pilot.resize_terminal(70, 24)  # and narrow again
        await pilot.pause()
        assert "gates x2 ⚡breaker" in shown_line(dag, "pricing")
