"""One agent's log at a time, with every agent's recent lines kept for switching.

Agent output arrives at a high rate and for many agents at once, but the screen shows one
agent. :class:`AgentLineBuffer` keeps the last few thousand lines of each agent (a ring
buffer per agent), so switching the selection re-fills the :class:`AgentLog` instantly; the
log widget itself is bounded too (``max_lines``), so a chatty agent never grows memory.
Search (``/``) highlights matches through the Log's highlighter and jumps between them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Input, Log

from engine.state import AgentView
from tui.text import SIM_BADGE
from tui.widgets.run_header import TextLine

DEFAULT_MAX_LINES = 5000
"""Lines kept per agent in the buffer, and shown at most in the log widget."""
FLUSH_S = 0.05
"""Lines of the shown agent are written to the log widget at most this often: each write
redraws the log, so a flood costs one redraw per interval instead of one per message."""


class AgentLineBuffer:
    """The last ``maxlen`` log lines of every agent, by agent id."""

    def __init__(self, maxlen: int = DEFAULT_MAX_LINES) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self._lines: dict[str, deque[str]] = {}

    def extend(self, agent_id: str, lines: Iterable[str]) -> None:
        """Append lines of ``agent_id``; the oldest fall off past ``maxlen``."""
        buffer = self._lines.get(agent_id)
        if buffer is None:
            buffer = self._lines[agent_id] = deque(maxlen=self.maxlen)
        buffer.extend(lines)

    def lines(self, agent_id: str) -> list[str]:
        """A copy of the lines kept for ``agent_id`` (empty if none)."""
        return list(self._lines.get(agent_id, ()))

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._lines


def agent_title(agent: AgentView | None, task_id: str | None) -> Text:
    """The line above the log: which task, which agent, which model, and SIM if simulated."""
    if agent is None and task_id is None:
        return Text("no agent selected", style="dim")
    title = Text()
    if task_id is not None:
        title.append(task_id, style="bold")
        title.append("  ")
    if agent is None:
        title.append("no agent has worked on this task yet", style="dim")
        return title
    if agent.simulated:
        title.append(*SIM_BADGE)
        title.append(" ")
    title.append(agent.agent_id, style="bold")
    if agent.attempt:
        title.append(f"  attempt {agent.attempt}")
    title.append(" ")
    if agent.running:
        title.append("running", style="yellow")
    elif agent.ok:
        title.append("done", style="green")
    else:
        title.append("failed", style="red")
    role = "" if agent.role in agent.agent_id else f"{agent.role} on "
    title.append(f"  {role}{agent.model}", style="dim")
    return title


class SearchHighlighter(Highlighter):
    """Marks every case-insensitive occurrence of a search term in a log line."""

    def __init__(self, term: str) -> None:
        self.term = term
        self._pattern = re.compile(re.escape(term), re.IGNORECASE) if term else None

    def highlight(self, text: Text) -> None:
        if self._pattern is None:
            return
        for match in self._pattern.finditer(text.plain):
            text.stylize("bold reverse yellow", match.start(), match.end())


class AgentLog(Vertical):
    """A title line, a bounded :class:`~textual.widgets.Log` for one agent, and a search box.

    ``/`` opens the search box; enter highlights every match and jumps to the latest one;
    ``n``/``N`` jump to the next/previous match; escape closes the box and clears the marks.
    """

    DEFAULT_CSS = """
    AgentLog {
        height: 1fr;
    }
    AgentLog > .agent-log--title {
        height: 1;
        padding: 0 1;
        background: $boost;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AgentLog > Log {
        height: 1fr;
        padding: 0 1;
        overflow: auto auto;
    }
    AgentLog > Input {
        display: none;
        height: 3;
    }
    AgentLog.-searching > Input {
        display: block;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search log"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Prev match", show=False),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]

    search_term: reactive[str] = reactive("", init=False)
    """What the log highlights ("" for nothing)."""

    def __init__(
        self,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._agent_id: str | None = None
        self._title = TextLine(agent_title(None, None), classes="agent-log--title")
        self._log = Log(max_lines=max_lines, auto_scroll=True)
        self._search = Input(placeholder="search this log (enter: find, esc: close)")
        self._match = -1
        self._pending: list[str] = []
        self._flush_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._log
        yield self._search

    @property
    def agent_id(self) -> str | None:
        """The agent whose lines are shown (None when none is)."""
        return self._agent_id

    @property
    def lines(self) -> Sequence[str]:
        """The lines the log currently holds (lines waiting for the next redraw included)."""
        self.flush()
        return self._log.lines

    @property
    def current_match(self) -> int:
        """The line the last jump landed on (-1: none)."""
        return self._match

    def show(self, agent: AgentView | None, task_id: str | None, lines: Iterable[str]) -> None:
        """Switch to ``agent`` (of ``task_id``) and fill the log with ``lines``."""
        self._agent_id = agent.agent_id if agent is not None else None
        self.set_title(agent, task_id)
        self.set_class(agent is not None and agent.simulated, "-sim")
        self._pending.clear()
        self._log.clear()
        self._log.write_lines(lines)
        self._match = -1

    def set_title(self, agent: AgentView | None, task_id: str | None) -> None:
        """Redraw the title line (e.g. when the agent finished)."""
        self._title.show_text(agent_title(agent, task_id))

    def append(self, agent_id: str, lines: Iterable[str]) -> None:
        """Add ``lines`` if ``agent_id`` is the agent shown; ignore them otherwise.

        They reach the screen with the next flush (within :data:`FLUSH_S`).
        """
        if agent_id != self._agent_id:
            return
        self._pending.extend(lines)
        if self._pending and self._flush_timer is None and self.is_mounted:
            self._flush_timer = self.set_timer(FLUSH_S, self._timed_flush)

    def flush(self) -> None:
        """Write the lines waiting for the next redraw now."""
        if self._pending:
            lines, self._pending = self._pending, []
            self._log.write_lines(lines)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        self.flush()

    def action_search(self) -> None:
        """Open the search box."""
        self.add_class("-searching")
        self._search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search_term = event.value.strip()
        self._match = len(self.lines)
        self.action_previous_match()
        self._log.focus()

    def watch_search_term(self, term: str) -> None:
        self._log.highlight = bool(term)
        self._log.highlighter = SearchHighlighter(term)
        self._log.refresh_lines(0, len(self._log.lines))

    def matching_lines(self) -> list[int]:
        """Indexes of the lines that contain the search term."""
        term = self.search_term.lower()
        if not term:
            return []
        return [i for i, line in enumerate(self.lines) if term in line.lower()]

    def action_next_match(self) -> None:
        """Jump to the next line (down) holding the search term."""
        self._jump(forward=True)

    def action_previous_match(self) -> None:
        """Jump to the previous line (up) holding the search term."""
        self._jump(forward=False)

    def _jump(self, *, forward: bool) -> None:
        found = self.matching_lines()
        if not found:
            if self.search_term:
                self.notify(f"no match for {self.search_term!r}", severity="warning", timeout=3)
            return
        if forward:
            after = [i for i in found if i > self._match]
            self._match = after[0] if after else found[0]
        else:
            before = [i for i in found if i < self._match]
            self._match = before[-1] if before else found[-1]
        self._log.auto_scroll = False
        self._log.scroll_to(y=max(0, self._match - self._log.size.height // 2), animate=False)

    def action_clear_search(self) -> None:
        """Close the search box, drop the marks and follow new lines again."""
        self.remove_class("-searching")
        self.search_term = ""
        self._match = -1
        self._log.auto_scroll = True
        self._log.scroll_end(animate=False)
        self._log.focus()
