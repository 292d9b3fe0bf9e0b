"""Every agent of the run in one table: role, model (SIM marked), state, tokens and cost.

A view of ``RunState.agents``: :meth:`AgentTable.sync` adds the rows it lacks and redraws
only the rows that changed. Moving the cursor posts :class:`AgentTable.AgentHighlighted`
(only while the table has focus), which makes that agent's log the one on screen.

It is drawn with Textual's line API instead of a ``DataTable``: during a flood the token
and cost cells of some agent change several times a second, and a ``DataTable`` re-renders
every visible cell on any change (its caches are keyed by a table-wide update counter),
which cost tens of milliseconds per frame. Here each row is one cached strip, so a changed
agent or a cursor move redraws one or two lines. A row's text is made by
:mod:`tui.widgets.agent_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.run_views import AgentView
from tui.widgets.agent_rows import (
    COLUMNS,
    Cell,
    agent_cells,
    cell_len_of,
    fitted_widths,
    row_text,
    table_width,
)
from tui.widgets.scrolling import resize_quietly


class AgentTable(ScrollView, can_focus=True):
    """The run's agents; the highlighted row is the agent whose log is shown."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"agent-table--header", "agent-table--cursor"}

    DEFAULT_CSS = """
    AgentTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
    }
    AgentTable:focus {
        background-tint: $foreground 5%;
    }
    AgentTable > .agent-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    AgentTable:ansi > .agent-table--header {
        background: ansi_bright_blue;
        color: ansi_default;
    }
    AgentTable > .agent-table--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    AgentTable:focus > .agent-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    @dataclass
    class AgentHighlighted(Message):
        """The cursor moved onto an agent."""

        table: AgentTable
        agent_id: str

        @property
        def control(self) -> AgentTable:
            """The table the cursor moved in."""
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor_row = 0
        """Index of the highlighted row."""
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._simulated: dict[str, bool] = {}
        """Each agent's :attr:`AgentView.simulated`: its row's SIM mark."""
        self._order: list[str] = []
        self._widths: tuple[int, ...] = tuple(len(label) for _, label in COLUMNS)
        """Each column's natural width: its widest cell."""
        self._shown_widths = self._widths
        """The widths drawn: :func:`~tui.widgets.agent_rows.fitted_widths` of the natural ones."""
        self._versions: dict[str, int] = {}
        self._strips: dict[tuple[object, ...], Strip] = {}

    @property
    def agent_ids(self) -> list[str]:
        """Row order."""
        return list(self._order)

    @property
    def row_count(self) -> int:
        """How many agents the table lists."""
        return len(self._order)

    @property
    def highlighted_agent_id(self) -> str | None:
        """The agent under the cursor."""
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def row_cells(self, agent_id: str) -> tuple[Cell, ...]:
        """The cells shown for ``agent_id`` (KeyError if it has no row)."""
        return self._shown[agent_id]

    # -- keeping up with the run --------------------------------------------------------

    def sync(self, agents: Mapping[str, AgentView], *, live: bool = True) -> None:
        """Make the rows match ``agents`` (new agents are appended). ``live``: a process
        drives the unfinished run (:meth:`~engine.state.RunState.agents_live`); if not, an
        agent without an end shows as cut off."""
        changed: list[int] = []
        added = False
        widths = list(self._widths)
        for agent_id, agent in agents.items():
            cells = agent_cells(agent, live)
            old = self._shown.get(agent_id)
            if old == cells and self._simulated[agent_id] == agent.simulated:
                continue
            if old is None:
                self._order.append(agent_id)
                added = True
            else:
                changed.append(self._order.index(agent_id))
            self._shown[agent_id] = cells
            self._simulated[agent_id] = agent.simulated
            self._versions[agent_id] = self._versions.get(agent_id, 0) + 1
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], cell_len_of(cell))
        if tuple(widths) != self._widths:
            self._widths = tuple(widths)
            self._strips.clear()
            self._resize()
            self.refresh()
        elif added:
            self._resize()
            self.refresh()
        else:
            for row in changed:
                self._refresh_row(row)

    def show_agent(self, agent_id: str | None) -> None:
        """Put the cursor on ``agent_id`` without announcing it (the screen chose it)."""
        if agent_id is None or agent_id not in self._shown:
            return
        self._move_to(self._order.index(agent_id), announce=False)

    # -- cursor ---------------------------------------------------------------------------

    def _move_to(self, row: int, *, announce: bool) -> None:
        if not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        old = self.cursor_row
        if row != old:
            self.cursor_row = row
            self._refresh_row(old)
            self._refresh_row(row)
        self._keep_visible(row)
        # Only a person moving the cursor picks an agent; rows appearing do not.
        if announce and row != old and self.has_focus:
            self.post_message(self.AgentHighlighted(self, self._order[row]))

    def _keep_visible(self, row: int) -> None:
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + rows_shown:
            self.scroll_to(y=row - rows_shown + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        """Highlight the agent above."""
        self._move_to(self.cursor_row - 1, announce=True)

    def action_cursor_down(self) -> None:
        """Highlight the agent below."""
        self._move_to(self.cursor_row + 1, announce=True)

    def action_page_up(self) -> None:
        """Highlight the agent one page up."""
        page = max(1, self.scrollable_content_region.height - 1)
        self._move_to(self.cursor_row - page, announce=True)

    def action_page_down(self) -> None:
        """Highlight the agent one page down."""
        page = max(1, self.scrollable_content_region.height - 1)
        self._move_to(self.cursor_row + page, announce=True)

    def action_first(self) -> None:
        """Highlight the first agent."""
        self._move_to(0, announce=True)

    def action_last(self) -> None:
        """Highlight the last agent."""
        self._move_to(len(self._order) - 1, announce=True)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_offset.y) + offset.y - 1
        if row < len(self._order):
            self._move_to(row, announce=True)

    # -- drawing --------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        if self._fit():
            self._resize()
            self.refresh()

    def _fit(self) -> bool:
        """Fit the shown widths to the panel's width; whether they changed."""
        shown = fitted_widths(self._widths, self.scrollable_content_region.width)
        if shown == self._shown_widths:
            return False
        self._shown_widths = shown
        self._strips.clear()
        return True

    def _resize(self) -> None:
        self._fit()
        width = table_width(self._shown_widths)
        # Its own size comes from the stylesheet, not from its rows: no screen layout.
        resize_quietly(self, Size(width, len(self._order) + 1))

    def _refresh_row(self, row: int) -> None:
        # Row ``row`` sits on virtual line row + 1, below the header that never scrolls.
        if row + 1 > self.scroll_offset.y:
            self.refresh_lines(row + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            strip = self._strip(("header",), base, None, header=True)
        else:
            row = scroll_y + y - 1
            if row >= len(self._order):
                return Strip.blank(width, base)
            agent_id = self._order[row]
            cursor = row == self.cursor_row
            key = (agent_id, self._versions[agent_id], cursor)
            strip = self._strip(key, base, agent_id, header=False)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _strip(
        self, key: tuple[object, ...], base: Style, agent_id: str | None, *, header: bool
    ) -> Strip:
        full_key = (*key, base, self._shown_widths)
        strip = self._strips.get(full_key)
        if strip is not None:
            return strip
        if len(self._strips) > 4 * (len(self._order) + 2):
            self._strips.clear()
        post: Style | None = None
        if header:
            text = row_text(tuple(label for _, label in COLUMNS), self._shown_widths)
            base = base + self.get_component_rich_style("agent-table--header")
        else:
            assert agent_id is not None
            text = row_text(
                self._shown[agent_id], self._shown_widths, simulated=self._simulated[agent_id]
            )
            if key[-1]:
                post = self.get_component_rich_style("agent-table--cursor")
        segments = list(text.render(self.app.console))
        strip = Strip(Segment.apply_style(segments, base, post))
        self._strips[full_key] = strip
        return strip
