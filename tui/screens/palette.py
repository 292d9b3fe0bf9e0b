"""The command palette's shopfloor entries (ctrl+p): every action of the control room.

A Textual command :class:`~textual.command.Provider`; the app lists it in ``COMMANDS`` next
to Textual's own (theme, keys, quit). :class:`ThemePicker` is the list the "Theme" entry
opens: Textual's, with the 16-colour copies in place of their built-ins where registered.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.theme import ThemeProvider

from tui.terminal_colours import offered_themes

ENTRIES: tuple[tuple[str, str, str], ...] = (
    ("Answer escalations", "screen.escalations", "open the queue of questions that wait"),
    ("Open task detail", "screen.task_detail", "attempts, gates, reviews and diff"),
    ("Filter tasks", "screen.filter_tasks", "show tasks whose id or title match"),
    ("Cycle task state filter", "screen.cycle_state_filter", "all, running, failed, ..."),
    ("Collapse graph levels", "screen.collapse_levels", "one line per level"),
    ("Expand graph levels", "screen.expand_levels", "every task"),
    ("Next agent", "screen.next_agent", "show the next agent's log"),
    ("Search agent log", "screen.search_log", "highlight and jump to matches"),
    ("Runs history", "app.runs", "stored runs: replay or follow"),
    ("Toggle dark / light", "app.toggle_dark_light", "switch themes"),
    ("Help", "app.help", "every key"),
)
"""(title, action, help) of each entry."""


class ShopfloorCommands(Provider):
    """The control room's actions, searchable by name."""

    async def _run(self, action: str) -> None:
        await self.app.run_action(action, self.screen)

    async def discover(self) -> Hits:
        for title, action, text in ENTRIES:
            yield DiscoveryHit(title, partial(self._run, action), help=text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, text in ENTRIES:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), help=text)


class ThemePicker(ThemeProvider):
    """Textual's theme picker, less the built-ins a 16-colour copy stands in for
    (:func:`~tui.terminal_colours.offered_themes`)."""

    @property
    def commands(self) -> list[tuple[str, Callable[[], None]]]:
        """(name, pick it) of each theme offered, by name."""
        offered = set(offered_themes(self.app.available_themes))
        return [(name, pick) for name, pick in super().commands if name in offered]
