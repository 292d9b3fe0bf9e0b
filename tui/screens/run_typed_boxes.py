"""The run screen's two boxes that take typing: the task filter (``f``) and the log's search
(``/``), each opened as its key reaches the screen, taking the keys typed on their way.

The run screen (tui/screens/run.py) is a :class:`TypedBoxes`; it builds the boxes, the graph
and the log this part reads (:class:`~tui.screens.run_log_follow.LogFollowing` has the log's
search).
"""

from __future__ import annotations

from textual import events, on
from textual.widgets import Input

from tui.screens.run_log_follow import LogFollowing
from tui.type_ahead import type_ahead
from tui.widgets.dag_view import DagView, TaskFilter


class TypedBoxes(LogFollowing):
    """The task filter and the log's search: opening them, the keys typed into them."""

    _dag: DagView
    _filter: TaskFilter
    _applied_filter: str
    _typed_into: Input | None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is self._filter:
            event.stop()
            self._applied_filter = event.value
            self._dag.filter_text = event.value
            self.set_class(bool(event.value.strip()), "-filtered")
            self._close_filter()

    def on_task_filter_cancelled(self, message: TaskFilter.Cancelled) -> None:
        message.stop()
        self._filter.value = self._applied_filter  # what is typed but not applied goes
        self._close_filter()

    def _close_filter(self) -> None:
        self.remove_class("-filtering")
        self._dag.focus()

    async def on_key(self, event: events.Key) -> None:
        # / and f open their box when the key reaches this screen, not later as bindings,
        # and the box takes the keys that were on their way before its focus came
        # (tui.type_ahead): as bindings, "/release" typed fast opened the escalation (e)
        # and approved it (a). A key the focused box let through is not one of those.
        box = self._typed_into
        searching = box is self._log.search_box and self._log.has_class("-searching")
        filtering = box is self._filter and self.has_class("-filtering")
        if box is not None and (searching or filtering):
            if event.key == "escape":
                event.stop()
                self._typed_into = None
                if filtering:
                    self._filter.action_cancel()
                else:
                    self._log.action_clear_search()
            else:
                await type_ahead(box, event)
            return
        self._typed_into = None
        if event.key == "slash":
            self.action_search_log()
            self._typed_into = self._log.search_box
        elif event.key == "f":
            self.action_filter_tasks()
            self._typed_into = self._filter
        else:
            return
        event.stop()
        event.prevent_default()

    @on(events.DescendantBlur)
    def forget_typed_into(self, event: events.DescendantBlur) -> None:
        """Once the box opened by / or f loses the focus, the keys are the others' again."""
        if event.widget is self._typed_into:
            self._typed_into = None

    def action_filter_tasks(self) -> None:
        """Open the task filter box (enter applies, an empty filter shows every task;
        escape closes it and keeps the filter applied before)."""
        self.add_class("-filtering")
        self._filter.select_all()  # typing replaces the filter applied before
        self._filter.focus()
