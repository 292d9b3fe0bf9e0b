"""Space folds or unfolds the level of the task under the cursor.

The help says space folds or unfolds a level; in tmux, on a task's line (where the cursor
mostly is) it did nothing: a Tree toggles the cursor's own node, and a task has none.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.widgets.dag_view import DagView


async def test_space_on_a_task_folds_its_level() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.whole_run(bus)
        await caught_up(app, bus, pilot)
        dag = app.screen.query_one(DagView)
        await pilot.press("j")  # from t1 to t2, alone on level 1
        assert dag.highlighted_task_id == "t2"
        level = dag.cursor_node.parent  # type: ignore[union-attr]
        assert level is not None and level.is_expanded
        await pilot.press("space")
        assert not level.is_expanded and dag.cursor_node is level
        await pilot.press("space")
        assert level.is_expanded
