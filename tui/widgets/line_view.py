"""A Log-like scrolling view of lines that live elsewhere, so switching what it shows is free.

Textual's :class:`~textual.widgets.Log` owns its lines: showing another agent's log means
clearing it and writing a few thousand lines again, which costs a copy, a width scan in a
thread and a layout per switch. :class:`LineView` owns nothing. It reads a
:class:`LineSource` (an agent's ring buffer) and renders only the lines in its window, so
pointing it at another source redraws one screenful. The source counts the lines it ever
received, which tells the view how far behind it is even when the ring is full and its
length no longer changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import ClassVar, Protocol

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from tui.text import printable
from tui.widgets.scrolling import resize_quietly


def clean_line(line: str) -> str:
    """``line`` as drawn: tabs expanded, escape sequences dropped and other control
    characters replaced (an agent's raw output must not reach the terminal)."""
    return printable(line).expandtabs().replace("\n", " ")


def line_cells(line: str) -> int:
    """How many terminal cells ``line`` takes once cleaned."""
    if line.isascii() and line.isprintable():
        return len(line)
    return cell_len(clean_line(line))


class LineSource(Protocol):
    """What a :class:`LineView` shows: recent lines and how many lines ever arrived."""

    @property
    def lines(self) -> Sequence[str]:
        """The lines to show, oldest first (the oldest may fall off as new ones arrive)."""
        ...

    @property
    def arrived(self) -> int:
        """Lines ever added, including those that fell off; it only grows."""
        ...


@dataclass(frozen=True)
class _NoLines:
    lines: tuple[str, ...] = ()
    arrived: int = 0


NO_LINES: LineSource = _NoLines()
"""A source with nothing in it (what a view shows before it is given one)."""


class LineView(ScrollView, can_focus=True):
    """A scrolling view of a :class:`LineSource`'s lines that follows the newest ones.

    Call :meth:`show` to view another source and :meth:`catch_up` after the source grew;
    neither copies lines. Text can be selected with the mouse, as in a Log.
    """

    ALLOW_SELECT = True
    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-view--error", "line-view--notice"}
    DEFAULT_CSS = """
    LineView {
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus {
            background-tint: $foreground 5%;
        }
        & > .line-view--error {
            color: $text-error;
        }
        & > .line-view--notice {
            color: $text-warning;
            text-style: italic;
        }
    }
    """

    auto_scroll: var[bool] = var(True)
    """Scroll to new lines when they arrive (if the view is at the end)."""

    def __init__(
        self,
        *,
        marks: Mapping[str, str] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``marks``: a line starting with one of its keys is drawn in the style of the
        component class it maps to (``line-view--error``, ``line-view--notice``)."""
        super().__init__(name=name, id=id, classes=classes)
        self.highlighter: Highlighter | None = None
        """Applied to every line drawn (None: plain lines)."""
        self.marks = dict(marks or {})
        self._source = NO_LINES
        self._seen = 0
        self._width = 0
        self._line_style: Style | None = None
        self._mark_styles: dict[str, Style] = {}
        self._at_end = True
        """Whether the newest line is in view (kept through a resize, which moves the end)."""

    @property
    def source(self) -> LineSource:
        """What the view shows."""
        return self._source

    @property
    def lines(self) -> Sequence[str]:
        """The source's lines (not a copy)."""
        return self._source.lines

    @property
    def unseen(self) -> int:
        """Lines the source received since the view last looked (:meth:`catch_up`)."""
        return self._source.arrived - self._seen

    def show(self, source: LineSource) -> None:
        """View ``source`` from its newest line."""
        self._source = source
        self._seen = source.arrived
        self._width = max(map(line_cells, source.lines), default=0)
        resize_quietly(self, Size(self._width, len(source.lines)))
        self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def catch_up(self) -> bool:
        """Draw the lines the source received since the last look (False: there were none)."""
        unseen = self.unseen
        if not unseen:
            return False
        self._seen = self._source.arrived
        lines = self._source.lines
        newest = islice(reversed(lines), min(unseen, len(lines)))
        self._width = max(self._width, max(map(line_cells, newest), default=0))
        follow = self._at_end and not self.is_vertical_scrollbar_grabbed
        resize_quietly(self, Size(self._width, len(lines)))
        if self.auto_scroll and follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        # Lines moved up even if the size did not change (a full ring drops its oldest).
        self.refresh()
        return True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._at_end = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        # A shorter view (a banner appeared, the terminal shrank) moves the end further
        # down without scrolling: a view that showed the newest line keeps showing it.
        if self.auto_scroll and self._at_end and not self.is_vertical_scroll_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def render_lines(self, crop: Region) -> list[Strip]:
        # Every line has the same base style, and computing it walks up the DOM: once per
        # redraw instead of once per line (and so for the marked lines' styles).
        base = self._line_style = self.rich_style
        self._mark_styles = {
            mark: base + self.get_component_rich_style(name, partial=True)
            for mark, name in self.marks.items()
        }
        return super().render_lines(crop)

    def _style_of(self, line: str, base: Style) -> Style:
        for mark, style in self._mark_styles.items():
            if line.startswith(mark):
                return style
        return base

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self._line_style or self.rich_style
        lines = self._source.lines
        if index >= len(lines):
            return Strip.blank(width, style)
        line = lines[index]
        plain = clean_line(line)
        if self._mark_styles:
            style = self._style_of(line, style)
        selection = self.text_selection
        span = selection.get_span(index) if selection is not None else None
        if self.highlighter is None and span is None:
            # What rendering a Text of one style gives, without building one.
            segments = [Segment(plain, style)]
        else:
            text = Text(plain, no_wrap=True)
            text.stylize(style)
            if self.highlighter is not None:
                text = self.highlighter(text)
            if span is not None:
                start, end = span
                selected = self.screen.get_component_rich_style("screen--selection")
                text.stylize(selected, start, len(text) if end == -1 else end)
            segments = list(text.render(self.app.console))
        strip = Strip(segments, line_cells(line))
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self._source.lines)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()
