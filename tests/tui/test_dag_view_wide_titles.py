"""A task's state stays in sight whatever its title and id are made of, and a wide panel
shows the whole title.

In tmux at 80x24, a task titled in Japanese or with emoji lost its state ("running") off the
panel's edge: the title was cut by characters, each of which takes two cells. A 60-character
task id pushed the state off too, and at 120 and 250 columns a title was cut at 28 cells
("Pricing: line totals, disco…") with half the panel empty beside it.
"""

from __future__ import annotations

from rich.cells import cell_len
from test_dag_view_narrow import GraphApp, shown_line

from engine.events import TaskState
from engine.run_views import TaskView
from tui.widgets.dag_view import DagView

CJK = "在庫管理のための検証付き商品モデルとテスト一式を書く"
EMOJI = "🙂" * 22
LONG_ID = "t0000_implement_the_extraordinarily_long_identifier_of_first"
PRICING = "Pricing: line totals, discounts and tax"


def plan() -> dict[str, TaskView]:
    tasks = [
        TaskView("models", "Item model", [], TaskState.MERGED, attempts=1),
        TaskView("cjk", CJK, ["models"], TaskState.RUNNING, attempts=2),
        TaskView("emoji", EMOJI, ["models"], TaskState.GATES, attempts=1),
        TaskView(LONG_ID, "Item", [], TaskState.FAILED, attempts=3),
        TaskView("pricing", PRICING, ["models"], TaskState.PENDING, attempts=0),
    ]
    return {t.id: t for t in tasks}


async def test_wide_characters_and_a_long_id_leave_the_state_in_sight() -> None:
    app = GraphApp()
    async with app.run_test(size=(70, 24)) as pilot:  # a 35-column panel, as at 80x24
        dag = app.query_one(DagView)
        dag.sync(plan())
        await pilot.pause()
        room = dag.scrollable_content_region.width
        for task_id, tail in (("cjk", "running x2"), ("emoji", "gates"), (LONG_ID, "failed x3")):
            line = shown_line(dag, task_id)
            assert line.rstrip().endswith(tail), line
            assert cell_len(line) <= room, line
        assert "在庫" in shown_line(dag, "cjk") and "🙂" in shown_line(dag, "emoji")
        assert "t0000_impl" in shown_line(dag, LONG_ID)


async def test_a_wide_panel_shows_the_whole_title() -> None:
    app = GraphApp()
    async with app.run_test(size=(250, 70)) as pilot:  # a 125-column panel
        dag = app.query_one(DagView)
        dag.sync(plan())
        await pilot.pause()
        assert f"{PRICING} ◂models pending" in shown_line(dag, "pricing")
        assert f"{CJK} ◂models running x2" in shown_line(dag, "cjk")
        assert f"{EMOJI} ◂models gates" in shown_line(dag, "emoji")
