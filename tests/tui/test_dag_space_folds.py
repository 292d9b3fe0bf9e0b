"""Space folds or unfolds the level of the task under the cursor.

The help says space folds or unfolds a level; in tmux, on a task's line (where the cursor
mostly is) it did nothing: a Tree toggles the cursor's own node, and a task has none.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import sample_app

from tui.widgets.dag_view import DagView


async def test_space_on_a_task_folds_its_level() -> None:
    async with sample_app(sample_run.whole_run) as (app, pilot):
        dag = app.screen.query_one(DagView)
        await pilot.press("j")  # from t1 to t2, alone on level 1
        assert dag.highlighted_task_id == "t2"
        level = dag.cursor_node.parent  # type: ignore[union-attr]
        assert level is not None and level.is_expanded
        await pilot.press("space")
        assert not level.is_expanded and dag.cursor_node is level
        await pilot.press("space")
        assert level.is_expanded
