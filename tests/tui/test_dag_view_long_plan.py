"""A plan of 36 tasks in twelve levels is taller than the graph's panel. Midway through the
run the tasks at work used to sit below a screenful of merged ones, off screen: the merged
levels now fold to their summary line, and a level the user unfolds again stays open."""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.events import TaskState
from engine.run_views import TaskView
from tui.widgets.dag_view import DagView


class GraphApp(App[None]):
    CSS = "DagView { height: 20; }"

    def compose(self) -> ComposeResult:
        yield DagView()


def plan(merged_levels: int) -> dict[str, TaskView]:
    """Three chains of twelve; the first ``merged_levels`` levels merged, the next running."""
    tasks: dict[str, TaskView] = {}
    for i in range(36):
        level = i // 3
        state = TaskState.PENDING
        if level < merged_levels:
            state = TaskState.MERGED
        elif level == merged_levels:
            state = TaskState.RUNNING
        deps = [f"m{i - 3:02d}"] if i >= 3 else []
        tasks[f"m{i:02d}"] = TaskView(f"m{i:02d}", f"Module {i}", deps, state, attempts=1)
    return tasks


def on_screen(dag: DagView, task_id: str) -> bool:
    line = next(
        n for n in range(dag.last_line + 1) if (dag.get_node_at_line(n) or dag.root).data == task_id
    )
    return dag.scroll_offset.y <= line < dag.scroll_offset.y + dag.size.height


async def test_merged_levels_fold_so_the_running_tasks_are_on_screen() -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        dag = app.query_one(DagView)
        dag.sync(plan(0))
        await pilot.pause()
        assert on_screen(dag, "m00")
        dag.sync(plan(8))  # levels 0-7 merged, level 8 (m24-m26) running
        await pilot.pause()
        assert on_screen(dag, "m24") and on_screen(dag, "m26")
        assert dag.highlighted_task_id == "m00"  # the cursor's level stays open
        assert on_screen(dag, "m00")

        level_1 = dag.get_node_at_line(4)
        assert level_1 is not None and level_1.data == "level:1" and not level_1.is_expanded
        level_1.expand()  # the user opens a finished level again: it stays open
        dag.sync(plan(9))
        await pilot.pause()
        assert level_1.is_expanded


async def test_a_graph_that_fits_is_not_folded() -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        dag = app.query_one(DagView)
        small = {k: v for k, v in plan(2).items() if int(k[1:]) < 12}  # 4 levels, 16 lines
        dag.sync(small)
        await pilot.pause()
        folded = [n.data for n in dag.root.children if not n.is_expanded]
        assert folded == []


async def test_the_merged_filter_shows_the_merged_tasks_of_folded_levels() -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        dag = app.query_one(DagView)
        dag.sync(plan(0))
        await pilot.pause()
        dag.sync(plan(8))  # levels 1-7 fold (level 0 holds the cursor)
        await pilot.pause()
        folded = [n.data for n in dag.root.children if not n.is_expanded]
        assert folded == [f"level:{n}" for n in range(1, 8)]

        dag.state_filter = TaskState.MERGED
        await pilot.pause()
        assert all(n.is_expanded for n in dag.root.children)  # what the filter asks for
        lines = [(dag.get_node_at_line(n) or dag.root).data for n in range(dag.last_line + 1)]
        assert [line for line in lines if not str(line).startswith("level:")] == [
            f"m{i:02d}" for i in range(24)
        ]
        dag.sync(plan(9))  # a level merges meanwhile: still every merged task is shown
        await pilot.pause()
        assert all(n.is_expanded for n in dag.root.children)
        assert len(dag.shown_task_ids) == 27

        dag.state_filter = None  # back to every task: the done levels fold again
        await pilot.pause()
        folded = [n.data for n in dag.root.children if not n.is_expanded]
        assert folded == [f"level:{n}" for n in range(1, 9)]


async def test_a_level_the_user_folded_stays_folded_under_a_filter() -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        dag = app.query_one(DagView)
        dag.sync({k: v for k, v in plan(2).items() if int(k[1:]) < 12})  # fits: none folds
        await pilot.pause()
        dag.root.children[1].collapse()  # the user folds level 1 (3 merged tasks)
        dag.state_filter = TaskState.MERGED
        await pilot.pause()
        assert [n.is_expanded for n in dag.root.children] == [True, False]  # levels 0, 1
        dag.state_filter = None
        await pilot.pause()
        assert not dag.root.children[1].is_expanded


class ShortGraphApp(GraphApp):
    CSS = "DagView { height: 10; }"  # the graph's panel on an 80x24 terminal


async def test_on_a_short_panel_the_fold_brings_the_running_tasks_into_view() -> None:
    """At 80x24 the panel has ten lines: the cursor's level (kept open) and seven folded
    levels filled it, and the running tasks stayed below it all night."""
    app = ShortGraphApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dag = app.query_one(DagView)
        dag.sync(plan(0))
        await pilot.pause()
        dag.sync(plan(8))  # levels 0-7 merged, level 8 (m24-m26) running
        await pilot.pause()
        assert on_screen(dag, "m24") and on_screen(dag, "m26")
        assert dag.highlighted_task_id == "m00"  # the cursor (and so the log) stays

        dag.scroll_home(animate=False)  # the user scrolls back up to read: left there
        dag.sync({**plan(8), "m24": TaskView("m24", "Module 24", ["m21"], TaskState.GATES)})
        await pilot.pause()
        assert dag.scroll_offset.y == 0
