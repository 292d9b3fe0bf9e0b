"""The help screen (``?``): every key of the control room, by screen.

Written by hand, in words the key bar has no room for, with the keys of built-in widgets
and the agent table's legend (its state glyphs and SIM mark); a test holds it to the
screens' own bindings (tests/tui/test_help_names_every_key.py), so a key added to a screen
and not here fails it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.text import SIM_MARK

SECTIONS: tuple[tuple[str, tuple[tuple[str | Text, str], ...]], ...] = (
    (
        "everywhere",
        (
            ("?", "this help"),
            ("ctrl+p", "command palette"),
            ("t", "dark / light theme"),
            ("R", "runs history (when a database is open)"),
            ("q", "quit (in the escalation dialog: esc first)"),
            ("ctrl+c", "quit as q does; the run stops, resumable"),
            ("ctrl+z", "suspend to the shell; fg brings the screen back"),
        ),
    ),
    (
        "run screen",
        (
            ("↑ ↓  j k", "move through the task graph"),
            ("enter", "task detail: the plan's word on it, attempts, gates, reviews, diff"),
            ("b", "the plan: spec, acceptance criteria, every task as planned"),
            ("space", "fold / unfold a level of the graph"),
            ("- / +", "fold / unfold every level"),
            ("f", "filter tasks by text (enter applies, esc closes, empty clears)"),
            ("s", "cycle the state filter: all, running, failed, pending, merged"),
            ("[ / ]", "previous / next agent's log"),
            ("p", "pin the log: it stays on its task's agent while the cursor moves; p unpins"),
            ("tab", "move focus: graph, agents, log"),
            ("/", "search the log; n / N next / previous match; esc clears"),
            ("e", "answer the escalations that wait"),
            ("esc", "back to the runs (a live run opened from them)"),
        ),
    ),
    (
        "agent table",
        (
            ("◐ ✓ ✗ ⊘", "running / done / failed / cut off (a narrow panel's state column)"),
            (
                Text(*SIM_MARK),
                "a SIM agent (the simulated provider), where the model column is off",
            ),
        ),
    ),
    (
        "escalation",
        (
            ("a", "approve"),
            ("r", "reject"),
            ("c", "change: type a note, enter sends"),
            ("1-9", "any option by its number"),
            ("↑ ↓  pgup pgdn", "scroll the context (diff, gate output, the plan)"),
            ("n / p", "next / previous escalation"),
            ("esc", "close without deciding"),
        ),
    ),
    (
        "runs history",
        (
            ("enter", "open the run: follow a live one, replay an ended one"),
            ("g", "reload the list"),
            ("esc", "back"),
        ),
    ),
    (
        "replay",
        (
            ("← / →  h l", "one event back / forward"),
            ("H / L", "twenty events back / forward"),
            ("space", "play / pause"),
            ("home / end", "first / last event"),
            ("esc", "back to the runs"),
        ),
    ),
)


def help_table() -> Table:
    """All sections as one two-column table."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for i, (title, keys) in enumerate(SECTIONS):
        if i:
            table.add_row("", "")
        table.add_row(Text(title, style="bold underline"), "")
        for key, what in keys:
            table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys, by screen; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(help_table())

    def on_mount(self) -> None:
        self.query_one("#help-dialog").border_title = "keys"
