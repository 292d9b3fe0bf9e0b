"""Every theme the picker offers on a 16-colour terminal draws normal text in a colour that
is not red.

The yellow copies of textual-dark and textual-light fixed their orange warning and accent,
matched to bright red. The other built-ins had the same fault in their own colours: on
``TERM=xterm`` gruvbox's, monokai's and solarized's escalation banner was drawn on red, as
were tokyo-night's and catppuccin-latte's footer keys, and ansi-light's warning is
``ansi_bright_red`` itself. Each is offered as a copy whose colours, the error's aside, stay
off red (tui.terminal_colours.sixteen_colour_copy).
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up
from rich.color import ColorSystem
from rich.segment import Segment
from textual.command import CommandPalette
from textual.theme import BUILTIN_THEMES
from textual.widget import Widget
from textual.widgets import Footer

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.terminal_colours import offered_themes
from tui.widgets.pipeline_strip import EscalationBanner

RED = (1, 9)


def red_cells(widget: Widget) -> list[str]:
    """The text of ``widget``'s cells a 16-colour terminal draws in red or on red."""
    segments: list[Segment] = [
        segment for y in range(widget.size.height) for segment in widget.render_line(y)
    ]
    return [
        segment.text
        for segment in segments
        if segment.style is not None
        and segment.text.strip()
        and any(
            colour is not None and colour.downgrade(ColorSystem.STANDARD).number in RED
            for colour in (segment.style.color, segment.style.bgcolor)
        )
    ]


async def test_no_offered_theme_draws_the_banner_or_the_keys_red_on_16_colours() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(100, 30)) as pilot:
        sample_run.full_pipeline(bus)  # an escalation waits: the banner is up
        await caught_up(app, bus, pilot)
        app.use_legible_colours("standard", no_color=False)  # as on TERM=xterm
        app.search_themes()  # the palette's "Theme" entry: its list of themes
        await pilot.pause(0.3)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        offered = offered_themes(app.available_themes)
        reds: dict[str, list[str]] = {}
        for name in BUILTIN_THEMES:
            (theme,) = [shown for shown in offered if shown in (name, f"{name}-16")]
            app.theme = theme
            await pilot.pause(0.05)
            widgets = [
                app.screen.query_one(EscalationBanner),
                *app.screen.query_one(Footer).children,
            ]
            if cells := [text for widget in widgets for text in red_cells(widget)]:
                reds[theme] = cells
    assert not reds, reds
