"""A Log-like scrolling view of lines that live elsewhere, so switching what it shows is free.

Textual's :class:`~textual.widgets.Log` owns its lines: showing another agent's log means
clearing it and writing a few thousand lines again, which costs a copy, a width scan in a
thread and a layout per switch. :class:`LineView` owns nothing. It reads a
:class:`LineSource` (an agent's ring buffer) and renders only the lines in its window, so
pointing it at another source redraws one screenful. The source counts the lines it ever
received, which tells the view how far behind it is even when the ring is full and its
length no longer changes.

A line longer than the view folds onto the rows below it (at a space when one is in the
row's second half), so its end — a failing test's name, a path — is read without scrolling
sideways at 80 or 100 columns. The view keeps the rows of the lines it holds, appending the
new lines' and dropping those of the lines that fell off the ring; a new width folds them
again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
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


MIN_WRAP = 8
"""The narrowest a line is folded to (a view not laid out yet folds nothing)."""


def row_starts(plain: str, width: int) -> list[int]:
    """Where each row of ``plain`` (a cleaned line) starts, as character offsets, once folded
    to ``width`` cells: after the last space of a row when it is in the row's second half,
    else at the width (a path or a long name is cut where it must be). The spaces at a break
    start no row: they end the row before it, where they are cropped at the view's edge."""
    starts, start, length = [0], 0, len(plain)
    narrow = plain.isascii()
    while True:
        if narrow:
            end = start + width
        else:
            end, cells = start, 0
            while end < length and cells + (wide := cell_len(plain[end])) <= width:
                cells += wide
                end += 1
            end = max(end, start + 1)  # a character wider than the row has a row of its own
        if end >= length:
            return starts
        space = plain.rfind(" ", start, end + 1)  # a space just past the row ends it too
        if space >= start + (end - start) // 2:
            end = space + 1
        while end < length and plain[end] == " ":
            end += 1  # padding at a break is dropped: no row starts blank (pytest's [100%])
        if end >= length:
            return starts
        starts.append(end)
        start = end


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
    """A scrolling view of a :class:`LineSource`'s lines, folded to its width, that follows
    the newest ones.

    Call :meth:`show` to view another source and :meth:`catch_up` after the source grew;
    neither copies lines. Text can be selected with the mouse, as in a Log.
    """

    ALLOW_SELECT = True
    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-view--error", "line-view--notice"}
    DEFAULT_CSS = """
    LineView {
        background: $surface;
        color: $text;
        overflow-x: hidden;
        overflow-y: scroll;
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
        self._rows: deque[tuple[int, int, int]] = deque()
        """Each row drawn: the number of its line (counted from the source's first line
        ever, see :attr:`LineSource.arrived`) and where in the cleaned line it starts and
        ends (characters)."""
        self._wrap = 0
        """The width the rows were folded to (0: not folded, the view was not laid out)."""
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
        self._fold()
        self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def catch_up(self) -> bool:
        """Draw the lines the source received since the last look (False: there were none)."""
        unseen = self.unseen
        if not unseen:
            return False
        self._seen = self._source.arrived
        lines = self._source.lines
        follow = self._at_end and not self.is_vertical_scrollbar_grabbed
        if unseen >= len(lines):
            self._fold()
        else:
            rows, first = self._rows, self._source.arrived - len(lines)
            while rows and rows[0][0] < first:  # a full ring dropped its oldest lines
                rows.popleft()
            for index in range(len(lines) - unseen, len(lines)):
                rows.extend(self._rows_of(first + index, lines[index]))
            if self._wrap == self._wrap_widths()[0] and not self._fits(len(rows)):
                self._fold()  # the vertical scrollbar comes: beside it, once
            else:
                resize_quietly(self, Size(self._wrap, len(rows)))
        if self.auto_scroll and follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        # Lines moved up even if the size did not change (a full ring drops its oldest).
        self.refresh()
        return True

    def row_of(self, index: int) -> int:
        """The first row of the source's line ``index`` (its last row if there is none)."""
        number = self._source.arrived - len(self._source.lines) + index
        return min(bisect_left(self._rows, (number,)), max(0, len(self._rows) - 1))

    def _wrap_widths(self) -> tuple[int, int]:
        """The rows' width without the vertical scrollbar and with it (0: not laid out)."""
        if not self.region.width:
            return 0, 0
        width = self.region.width - self.styles.gutter.width
        narrow = width - self.styles.scrollbar_size_vertical
        return max(width, MIN_WRAP), max(narrow, MIN_WRAP)

    def _fits(self, rows: int) -> bool:
        return rows <= self.region.height - self.styles.gutter.height

    def _rows_of(self, number: int, line: str) -> Iterator[tuple[int, int, int]]:
        width = self._wrap
        if line.isascii() and line.isprintable() and (len(line) <= width or not width):
            yield number, 0, len(line)  # most lines: one row, no copy
            return
        plain = clean_line(line)
        starts = row_starts(plain, width) if width else [0]
        yield from zip([number] * len(starts), starts, [*starts[1:], len(plain)], strict=True)

    def _fold(self) -> None:
        """Fold every line of the source to the view's width: the whole width while the rows
        fit without a vertical scrollbar, else the width beside it."""
        lines = self._source.lines
        first = self._source.arrived - len(lines)
        for width in dict.fromkeys(self._wrap_widths()):
            self._wrap = width
            self._rows = deque(
                row
                for index, line in enumerate(lines)
                for row in self._rows_of(first + index, line)
            )
            if self._fits(len(self._rows)):
                break
        resize_quietly(self, Size(self._wrap, len(self._rows)))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._at_end = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        if self._wrap != self._wrap_widths()[not self._fits(len(self._rows))]:
            # Folded again: the line at the top stays at the top (or the end in view).
            top = self._rows[self.scroll_offset.y][0] if self._rows and not self._at_end else None
            self._fold()
            if top is not None:
                index = top - (self._source.arrived - len(self._source.lines))
                self.scroll_to(y=self.row_of(index), animate=False, immediate=True)
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
        row = self.scroll_offset.y + y
        width = self.size.width
        style = self._line_style or self.rich_style
        lines = self._source.lines
        if row >= len(self._rows):
            return Strip.blank(width, style)
        number, start, end = self._rows[row]
        index = number - (self._source.arrived - len(lines))
        if not 0 <= index < len(lines):
            return Strip.blank(width, style)
        line = lines[index]
        plain = clean_line(line)
        if self._mark_styles:
            style = self._style_of(line, style)
        selection = self.text_selection
        span = selection.get_span(index) if selection is not None else None
        if self.highlighter is None and span is None:
            # What rendering a Text of one style gives, without building one.
            piece = plain[start:end]
            strip = Strip([Segment(piece, style)], line_cells(piece))
        else:
            # The whole line is marked, then cut: a match may run over a row's end.
            text = Text(plain, no_wrap=True)
            text.stylize(style)
            if self.highlighter is not None:
                text = self.highlighter(text)
            if span is not None:
                begin, stop = span
                selected = self.screen.get_component_rich_style("screen--selection")
                text.stylize(selected, begin, len(text) if stop == -1 else stop)
            piece_text = text[start:end]
            strip = Strip(list(piece_text.render(self.app.console)), piece_text.cell_len)
        return strip.crop_extend(0, width, style).apply_offsets(start, index)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self._source.lines)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()
