"""A task filter that matches nothing empties the graph.

In tmux, f then a word no task has: the graph kept every task on screen under a level line
that said "0/0 merged". The filter reset what was drawn to "nothing", which an empty result
compared equal to, so the tree was not rebuilt.
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.events import TaskState
from engine.run_views import TaskView
from tui.widgets.dag_view import DagView


class GraphApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DagView()


async def test_a_filter_that_matches_nothing_empties_the_graph() -> None:
    tasks = {
        "t1": TaskView("t1", "Greeting", [], TaskState.MERGED, attempts=1),
        "t2": TaskView("t2", "Farewell", ["t1"], TaskState.RUNNING, attempts=1),
    }
    app = GraphApp()
    async with app.run_test(size=(100, 20)) as pilot:
        dag = app.query_one(DagView)
        dag.sync(tasks)
        await pilot.pause()
        dag.filter_text = "zzz"
        await pilot.pause()
        assert dag.shown_task_ids == []
        assert dag.last_line == -1  # no line left: no level, no task
        dag.filter_text = "fare"
        await pilot.pause()
        assert dag.shown_task_ids == ["t2"]
        dag.state_filter = TaskState.FAILED  # none failed
        await pilot.pause()
        assert dag.shown_task_ids == [] and dag.last_line == -1
        dag.filter_text, dag.state_filter = "", None
        await pilot.pause()
        assert dag.shown_task_ids == ["t1", "t2"]
