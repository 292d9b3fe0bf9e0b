"""One agent's log at a time, read straight from every agent's recent lines.

Agent output arrives at a high rate and for many agents at once, but the screen shows one
agent. :class:`AgentLineBuffer` keeps the last few thousand lines of each agent (a ring
buffer per agent, :class:`AgentLines`), and the :class:`AgentLog` draws the shown agent's
ring through a :class:`~tui.widgets.line_view.LineView` without copying it: switching
agents points the view at another ring and redraws one screenful, and lines of agents not
shown cost nothing but their place in the ring. One view serves every agent, so memory is
the buffer's (``maxlen`` lines per agent) however often the selection changes.
Search (``/``) highlights matches in the shown agent's lines and jumps between them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input

from engine.run_views import AgentView
from tui.messages import OUTPUT_PREFIX
from tui.text import SIM_BADGE, one_line
from tui.widgets.line_view import NO_LINES, LineView
from tui.widgets.run_header import TextLine

DEFAULT_MAX_LINES = 5000
"""Lines kept per agent in the buffer (and so shown at most in the log)."""
LINE_MARKS = {
    OUTPUT_PREFIX["error"]: "line-view--error",
    OUTPUT_PREFIX["notice"]: "line-view--notice",
}
"""Agent output drawn in a style of its own, by the mark its lines start with: a failure,
and a notice of the provider layer (a retry, a fallback, a model skipped while down) — so
a fallback's notice stands apart from the model's words around it."""


class AgentLines:
    """One agent's recent lines (at most ``maxlen``, oldest first) and how many ever arrived."""

    __slots__ = ("arrived", "lines")

    def __init__(self, maxlen: int) -> None:
        self.lines: deque[str] = deque(maxlen=maxlen)
        self.arrived = 0
        """Lines ever added, including those that fell off the front."""


class AgentLineBuffer:
    """The last ``maxlen`` log lines of every agent, by agent id."""

    def __init__(self, maxlen: int = DEFAULT_MAX_LINES) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self._agents: dict[str, AgentLines] = {}

    def extend(self, agent_id: str, lines: Sequence[str]) -> None:
        """Append lines of ``agent_id``; the oldest fall off past ``maxlen``."""
        # Called once per output event of a flood: kept to a lookup and two updates.
        ring = self._agents.get(agent_id)
        if ring is None:
            ring = self._agents[agent_id] = AgentLines(self.maxlen)
        ring.lines.extend(lines)
        ring.arrived += len(lines)

    def ring(self, agent_id: str) -> AgentLines:
        """The live lines of ``agent_id`` (created empty if it has none yet, so that a view
        of an agent that has not spoken yet sees its first lines)."""
        ring = self._agents.get(agent_id)
        if ring is None:
            ring = self._agents[agent_id] = AgentLines(self.maxlen)
        return ring

    def lines(self, agent_id: str) -> list[str]:
        """A copy of the lines kept for ``agent_id`` (empty if none)."""
        ring = self._agents.get(agent_id)
        return list(ring.lines) if ring is not None else []

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents


TITLE_STYLES = {"running": "yellow", "done": "green", "failed": "red", "cut off": "magenta"}
"""How the title colours each of :meth:`~engine.run_views.AgentView.standing`'s words."""


def agent_title(agent: AgentView | None, task_id: str | None, live: bool = True) -> Text:
    """The line above the log: which task, which agent, how it stands (``live``: as for
    :meth:`~engine.run_views.AgentView.standing`), which model, and SIM if simulated."""
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
    standing = agent.standing(live)
    title.append(standing, style=TITLE_STYLES[standing])
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
    """A title line, a :class:`~tui.widgets.line_view.LineView` of one agent's lines, and
    a search box.

    ``/`` opens the search box; enter highlights every match and jumps to the latest one;
    ``n``/``N`` jump to the next/previous match; escape closes the box and clears the marks.
    The marks stay on when another agent is shown, so a term can be followed across agents.
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
    AgentLog > LineView {
        height: 1fr;
        padding: 0 1;
        overflow: hidden auto;
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
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._agent_id: str | None = None
        self._title = TextLine(agent_title(None, None), classes="agent-log--title")
        self._view = LineView(marks=LINE_MARKS)
        # Selected when the box opens, not when it gets the focus: keys typed before the
        # focus came would be selected too (tui.type_ahead).
        self._search = Input(
            placeholder="search this log (enter: find, esc: close)", select_on_focus=False
        )
        self._match = -1

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._view
        yield self._search

    @property
    def agent_id(self) -> str | None:
        """The agent whose lines are shown (None when none is)."""
        return self._agent_id

    @property
    def lines(self) -> Sequence[str]:
        """The shown agent's lines, up to the newest (not a copy)."""
        self.flush()
        return self._view.lines

    @property
    def unseen(self) -> int:
        """Lines the shown agent wrote since they were last drawn (:meth:`flush`)."""
        return self._view.unseen

    @property
    def search_box(self) -> Input:
        """The search box (shown while searching)."""
        return self._search

    @property
    def current_match(self) -> int:
        """The line the last jump landed on (-1: none)."""
        return self._match

    def show(
        self,
        agent: AgentView | None,
        task_id: str | None,
        lines: AgentLines | None,
        *,
        live: bool = True,
    ) -> None:
        """Show ``agent`` (of ``task_id``) and its ``lines`` as they grow (``live``: a
        process drives the unfinished run; if not, an agent without an end was cut off).

        Showing the agent already shown only redraws the title and its new lines.
        """
        self.set_title(agent, task_id, live=live)
        self.set_class(agent is not None and agent.simulated, "-sim")
        source = lines if lines is not None else NO_LINES
        agent_id = agent.agent_id if agent is not None else None
        if agent_id == self._agent_id and source is self._view.source:
            self.flush()
            return
        self._agent_id = agent_id
        self._view.show(source)
        self._match = -1
        self._say_matches()

    def set_title(self, agent: AgentView | None, task_id: str | None, *, live: bool = True) -> None:
        """Redraw the title line (e.g. when the agent finished)."""
        self._title.show_text(agent_title(agent, task_id, live))

    def flush(self) -> None:
        """Draw the shown agent's new lines.

        Each draw redraws the log, so the owner calls this at a pace of its own (the run
        screen does it with its other panels), not once per line.
        """
        if self._view.catch_up() and self.search_term:
            self._say_matches()  # the count takes in the new lines

    def action_search(self) -> None:
        """Open the search box."""
        self.add_class("-searching")
        self._search.select_all()
        self._search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search_term = event.value.strip()
        self._match = len(self.lines)
        self.action_previous_match()
        self._view.focus()

    def watch_search_term(self, term: str) -> None:
        self._view.highlighter = SearchHighlighter(term) if term else None
        self._view.refresh()

    def matching_lines(self) -> list[int]:
        """Indexes of the shown lines that contain the search term."""
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
            self._say_matches(found)  # not the last search's count
            if self.search_term:
                self.notify(
                    f"no match for {self.search_term!r}",
                    severity="warning",
                    timeout=3,
                    markup=False,
                )
            return
        if forward:
            after = [i for i in found if i > self._match]
            self._match = after[0] if after else found[0]
        else:
            before = [i for i in found if i < self._match]
            self._match = before[-1] if before else found[-1]
        self._say_matches(found)
        self._view.auto_scroll = False
        row = self._view.row_of(self._match)
        self._view.scroll_to(y=max(0, row - self._view.size.height // 2), animate=False)

    def _say_matches(self, found: list[int] | None = None) -> None:
        """The lower border, while a search is on: the term, which matching line the last
        jump landed on and how many there are (``"exit code": 2/5``). Nothing said where n
        was, nor that it had gone round to the first match again. ``found``: the
        :meth:`matching_lines` a jump has just listed (None: list them)."""
        term = self.search_term
        if not term:
            self.border_subtitle = None
            return
        if found is None:
            found = self.matching_lines()
        at = f"{found.index(self._match) + 1}/" if self._match in found else ""
        count = f"{at}{len(found)}" if found else "no match"
        self.border_subtitle = Text(f'"{one_line(term)}": {count}')

    def action_clear_search(self) -> None:
        """Close the search box, drop the marks and follow new lines again."""
        self.remove_class("-searching")
        self.search_term = ""
        self._match = -1
        self._say_matches()
        self._view.auto_scroll = True
        self._view.scroll_end(animate=False)
        self._view.focus()
