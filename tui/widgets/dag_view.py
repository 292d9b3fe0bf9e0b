"""The blueprint's tasks drawn as a graph by levels: what runs after what, and what is late.

Level 0 holds the tasks with no dependencies; a task sits one level below its deepest
dependency. Each level is a collapsible branch of a :class:`~textual.widgets.Tree` (box
characters for the guides, virtualised rendering, so 200+ tasks scroll smoothly); each task
line shows its state in colour, its dependencies and its attempts (drawn by
:mod:`tui.widgets.task_lines`). The critical path — the longest chain of work still to do —
is marked. Filters by state and by text narrow the view; :meth:`DagView.sync` relabels
changed tasks only and rebuilds only when the shape or the filter changed. When the graph
is taller than its panel, a level folds to its summary line once all its tasks have
merged, so the tasks at work stay in view (once per level: one the user unfolds stays
open); a filter shows such levels open, and the unfiltered view folds them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Tree
from textual.widgets.tree import TreeNode

from engine.events import TaskState
from engine.run_views import TaskView
from tui.text import one_line
from tui.widgets.task_lines import level_label, task_label


def task_levels(tasks: Mapping[str, TaskView]) -> dict[str, int]:
    """Each task's level: 0 without dependencies, else one more than its deepest dependency.

    Unknown dependencies are ignored; a cycle (never produced by a validated blueprint) is
    broken where it is met, so the function always returns.
    """
    levels: dict[str, int] = {}
    visiting: set[str] = set()

    def level(task_id: str) -> int:
        if task_id in levels:
            return levels[task_id]
        visiting.add(task_id)
        deps = [d for d in tasks[task_id].depends_on if d in tasks and d not in visiting]
        value = 1 + max((level(d) for d in deps), default=-1)
        visiting.discard(task_id)
        levels[task_id] = value
        return value

    for task_id in tasks:
        level(task_id)
    return levels


def critical_path(tasks: Mapping[str, TaskView]) -> list[str]:
    """The longest dependency chain of unmerged tasks, first task first.

    Once everything is merged, the longest chain overall (what bounded the run's length).
    Ties go to the task listed first in the blueprint.
    """
    if not tasks:
        return []
    order = sorted(tasks, key=task_levels(tasks).__getitem__)
    remaining = any(t.state is not TaskState.MERGED for t in tasks.values())

    def weight(task_id: str) -> int:
        return int(not remaining or tasks[task_id].state is not TaskState.MERGED)

    best: dict[str, tuple[int, str | None]] = {}
    for task_id in order:
        deps = [d for d in tasks[task_id].depends_on if d in best]
        prev = max(deps, key=lambda d: best[d][0], default=None)
        best[task_id] = (weight(task_id) + (best[prev][0] if prev else 0), prev)
    end = max(order, key=lambda t: (best[t][0], -order.index(t)))
    if best[end][0] == 0:
        return []
    path: list[str] = []
    node: str | None = end
    while node is not None:
        if weight(node):
            path.append(node)
        node = best[node][1]
    return path[::-1]


def matches(task: TaskView, text: str, state: TaskState | None) -> bool:
    """Whether ``task`` passes the filters (text: in its id or title, case-insensitive)."""
    if state is not None and task.state is not state:
        return False
    needle = text.strip().lower()
    return not needle or needle in task.id.lower() or needle in task.title.lower()


class DagView(Tree[str]):
    """The task graph by levels; the cursor's task is the selected task."""

    @dataclass
    class TaskHighlighted(Message):
        """The cursor moved onto a task."""

        dag: DagView
        task_id: str

        @property
        def control(self) -> DagView:
            """The graph the cursor moved in."""
            return self.dag

    @dataclass
    class TaskChosen(Message):
        """Enter was pressed on a task (open its details)."""

        dag: DagView
        task_id: str

        @property
        def control(self) -> DagView:
            """The graph the task was chosen in."""
            return self.dag

    filter_text: reactive[str] = reactive("", init=False)
    """Show only tasks whose id or title contains this text."""
    state_filter: reactive[TaskState | None] = reactive[TaskState | None](None, init=False)
    """Show only tasks in this state (None: every state)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("tasks", id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 3
        self._tasks: dict[str, TaskView] = {}
        self._shape: tuple[object, ...] = ()
        self._look: tuple[object, ...] = ()
        self._task_nodes: dict[str, TreeNode[str]] = {}
        self._labels: dict[str, Text] = {}
        self._level_nodes: dict[int, TreeNode[str]] = {}
        self._critical: list[str] = []
        self._folded: set[int] = set()
        """Levels folded because they were done: never folded again, so they may be reopened."""
        self._auto_folded: set[int] = set()
        self._was_filtered = False
        """Of those, the levels the unfiltered view keeps folded (the user has not reopened
        them): a filter shows them open, as it shows what it asks for."""

    @property
    def critical(self) -> list[str]:
        """The critical path shown, first task first."""
        return list(self._critical)

    @property
    def shown_task_ids(self) -> list[str]:
        """Tasks that pass the filters, level by level."""
        return list(self._task_nodes)

    @property
    def highlighted_task_id(self) -> str | None:
        """The task under the cursor (None on a level line or when empty)."""
        node = self.cursor_node
        if node is None or node.data is None or node.data.startswith("level:"):
            return None
        return node.data

    def label_of(self, task_id: str) -> Text | None:
        """The line shown for ``task_id`` (None when filtered out)."""
        return self._labels.get(task_id)

    def sync(self, tasks: Mapping[str, TaskView]) -> None:
        """Make the graph match ``tasks`` (nothing is redrawn when nothing shown changed)."""
        room = self._label_room()
        look = (
            room,
            *(
                (t.id, t.title, tuple(t.depends_on), t.state, t.attempts, t.breaker)
                for t in tasks.values()
            ),
        )
        if look == self._look:
            return
        self._look = look
        self._tasks = dict(tasks)
        self._critical = critical_path(tasks)
        shown = [t for t in tasks.values() if matches(t, self.filter_text, self.state_filter)]
        self.border_subtitle = self.filter_note(len(shown))
        shape = tuple((t.id, tuple(t.depends_on)) for t in shown)
        if shape != self._shape:
            self._rebuild(shown)
            self._shape = shape
        else:
            critical = set(self._critical)
            for task in shown:
                label = task_label(task, task.id in critical, room)
                if label != self._labels.get(task.id):
                    self._labels[task.id] = label
                    self._task_nodes[task.id].set_label(label)
            self._relabel_levels(shown)
        self._fold_done_levels()

    def _label_room(self) -> int | None:
        """Cells a task's label has: the panel's width less the guide in front of it (None
        before the panel is laid out)."""
        width = self.scrollable_content_region.width
        return width - self.guide_depth if width > self.guide_depth else None

    def on_resize(self) -> None:
        if self._tasks:
            self.sync(self._tasks)  # the labels fit the new width

    @property
    def filtered(self) -> bool:
        """Whether a filter (by state or by text) narrows the graph."""
        return self.state_filter is not None or bool(self.filter_text.strip())

    def filter_note(self, shown: int) -> Text | None:
        """What the panel's lower border says while a filter narrows the graph: the filter
        and how many tasks pass it (``running "csv": 1/6 shown``). Once its toast has gone,
        a graph with tasks missing, or none at all, looked like the plan itself."""
        if not self.filtered:
            return None
        note = Text()
        if self.state_filter is not None:
            note.append(self.state_filter.value, style="bold")
        if self.filter_text.strip():
            note.append(" " if note else "")
            note.append(f'"{one_line(self.filter_text.strip())}"', style="bold")
        note.append(f": {shown}/{len(self._tasks)} shown")
        return note

    def _fold_done_levels(self) -> None:
        """Fold each level whose tasks have all merged, while the unfiltered graph overflows
        its panel (a 36-task plan's running tasks were below a screenful of merged ones).
        A filtered graph shows what the filter asks for (the merged filter: merged levels)."""
        if self.filtered:
            return
        cursor = self.cursor_node.parent if self.cursor_node is not None else None
        folded = False
        for level, node in self._level_nodes.items():
            if self.last_line < self.size.height:
                break
            if level in self._folded or not node.is_expanded or node is cursor:
                continue
            ids = [child.data for child in node.children]
            if ids and all(self._tasks[str(i)].state is TaskState.MERGED for i in ids):
                self._folded.add(level)
                self._auto_folded.add(level)
                node.collapse()
                folded = True
        if folded:
            self._scroll_to_work()

    def _scroll_to_work(self) -> None:
        """Scroll the first level with work left to the top when it is below the panel: on
        a short panel (80x24) the cursor's level, kept open, and the folded levels filled
        it. The cursor stays (so does the log); only when levels fold, not on every sync."""
        _ = self.last_line  # lays the folded lines out, so the nodes know their lines
        for node in self._level_nodes.values():
            ids = [str(child.data) for child in node.children]
            if any(self._tasks[i].state is not TaskState.MERGED for i in ids):
                if node.line >= self.scroll_offset.y + self.size.height - len(ids):
                    self.scroll_to(y=node.line, animate=False, immediate=True)
                return

    def _rebuild(self, shown: list[TaskView]) -> None:
        keep = self.highlighted_task_id
        collapsed = {n for n, node in self._level_nodes.items() if not node.is_expanded}
        if not self._was_filtered:  # leaving the unfiltered view: the levels still folded
            self._auto_folded &= collapsed
        # Folded for being done is the unfiltered view's own: a filter opens those levels,
        # and the unfiltered view gets them back folded (what the user folded stays folded).
        collapsed = (
            collapsed | self._auto_folded if not self.filtered else collapsed - self._auto_folded
        )
        self._was_filtered = self.filtered
        self.clear()
        self._task_nodes, self._labels, self._level_nodes = {}, {}, {}
        levels = task_levels(self._tasks)
        critical = set(self._critical)
        by_level: dict[int, list[TaskView]] = {}
        for task in shown:
            by_level.setdefault(levels[task.id], []).append(task)
        for level in sorted(by_level):
            branch = self.root.add(
                level_label(level, by_level[level]),
                data=f"level:{level}",
                expand=level not in collapsed,
            )
            self._level_nodes[level] = branch
            for task in by_level[level]:
                label = task_label(task, task.id in critical, self._label_room())
                self._labels[task.id] = label
                self._task_nodes[task.id] = branch.add_leaf(label, data=task.id)
        target = self._task_nodes.get(keep) if keep is not None else None
        if target is None and self._task_nodes:
            target = next(iter(self._task_nodes.values()))
        if target is not None:
            _ = self.last_line  # lays the new lines out, so the node knows its line
            self.move_cursor(target)
            self.post_message(self.TaskHighlighted(self, str(target.data)))

    def _relabel_levels(self, shown: list[TaskView]) -> None:
        levels = task_levels(self._tasks)
        by_level: dict[int, list[TaskView]] = {}
        for task in shown:
            by_level.setdefault(levels[task.id], []).append(task)
        for level, node in self._level_nodes.items():
            label = level_label(level, by_level.get(level, []))
            if label != node.label:
                node.set_label(label)

    def watch_filter_text(self) -> None:
        self._redraw_all()

    def watch_state_filter(self) -> None:
        self._redraw_all()

    def _redraw_all(self) -> None:
        # A shape no graph has: an empty one (a filter nothing matches) is drawn too.
        self._shape, self._look = (None,), ()
        self.sync(self._tasks)

    def select_task(self, task_id: str) -> None:
        """Put the cursor on ``task_id`` if it is shown."""
        node = self._task_nodes.get(task_id)
        if node is not None:
            if node.parent is not None:
                node.parent.expand()
            _ = self.last_line
            self.move_cursor(node)

    def step_task(self, step: int) -> None:
        """Move the cursor to the next (1) or previous (-1) task line, past level lines."""
        line = self.cursor_line + step
        while 0 <= line <= self.last_line:
            node = self.get_node_at_line(line)
            if node is not None and node.data is not None and not node.data.startswith("level:"):
                self.move_cursor(node)
                return
            line += step

    def action_toggle_node(self) -> None:
        """Fold or unfold the cursor's level, from its line or from one of its tasks (space:
        a Tree's own toggle did nothing on a task's line, where the cursor mostly is)."""
        node = self.cursor_node
        if node is None:
            return
        if node.parent is not None and node.parent is not self.root:
            node = node.parent
            self.move_cursor(node)  # a folded level hides the task the cursor was on
        if node.is_expanded:
            node.collapse()
        else:
            node.expand()

    def collapse_levels(self) -> None:
        """Fold every level to its one summary line."""
        for node in self._level_nodes.values():
            node.collapse()

    def expand_levels(self) -> None:
        """Unfold every level."""
        for node in self._level_nodes.values():
            node.expand()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        data = event.node.data
        if data is not None and not data.startswith("level:"):
            self.post_message(self.TaskHighlighted(self, data))

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        data = event.node.data
        if data is not None and not data.startswith("level:"):
            self.post_message(self.TaskChosen(self, data))


class TaskFilter(Input):
    """The box the graph's text filter is typed in; escape leaves it without applying."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", show=False),
    ]

    class Cancelled(Message):
        """Escape was pressed in the box: close it, keep the filter applied before."""

    def action_cancel(self) -> None:
        """Say the box is left without applying what was typed."""
        self.post_message(self.Cancelled())
