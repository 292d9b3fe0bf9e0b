"""A filter on the task graph says so on the panel for as long as it narrows it.

In tmux, ``s`` twice (failed) on the demo emptied the graph; the toast "tasks shown: failed"
went after two seconds and the panel, still titled "tasks by level", sat empty as if the
run had no plan. ``f`` and a word left a few tasks with nothing saying the others were
hidden. The panel's lower border now names the filter and how many tasks pass it.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import sample_app
from rich.text import Text

from tui.widgets.dag_view import DagView


def subtitle(dag: DagView) -> str | None:
    """The words on the panel's lower border (None: none)."""
    markup = dag.border_subtitle
    return None if markup is None else Text.from_markup(markup).plain


async def test_the_graph_names_its_filter_and_what_passes_it() -> None:
    async with sample_app(sample_run.whole_run) as (app, pilot):  # every task merged
        dag = app.screen.query_one(DagView)
        assert dag.border_subtitle is None
        await pilot.press("s")  # running: none
        await pilot.pause()
        assert dag.shown_task_ids == []
        assert subtitle(dag) == "running: 0/3 shown"
        for _ in range(3):  # failed, pending, merged
            await pilot.press("s")
        await pilot.pause()
        assert subtitle(dag) == "merged: 3/3 shown"
        await pilot.press("f", *"cli", "enter")
        await pilot.pause()
        assert dag.shown_task_ids == ["t2"]
        assert subtitle(dag) == 'merged "cli": 1/3 shown'
        await pilot.press("s", "f", "backspace", "enter")  # every state, no text
        await pilot.pause()
        assert dag.shown_task_ids == ["t1", "t2", "t3"]
        assert dag.border_subtitle is None


async def test_a_filters_words_are_not_read_as_markup() -> None:
    async with sample_app(sample_run.whole_run) as (app, pilot):
        await pilot.press("f", *"[red]x", "enter")
        await pilot.pause()
        assert subtitle(app.screen.query_one(DagView)) == '"[red]x": 0/3 shown'
