"""On a 16-colour terminal the command palette's theme picker offers the yellow copies.

On ``TERM=xterm`` the app switches to copies of its two themes whose warning and accent are
a yellow that stays yellow (tui.terminal_colours), but the palette's "Theme" entry listed
the built-in ``textual-dark`` and ``textual-light`` still: picking one brought their orange
back, matched to bright red, so the escalation banner and the footer's keys read as
failures again.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import sample_app
from rich.color import Color, ColorSystem
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.terminal_colours import offered_themes


async def theme_picker(app: ShopfloorApp, pilot: Pilot[None]) -> list[str]:
    """Open the palette's "Theme" entry as a person does; the themes it lists."""
    await pilot.press("ctrl+p")
    await pilot.press(*"theme")
    await pilot.pause(0.3)
    await pilot.press("enter")
    for _ in range(50):
        await pilot.pause(0.1)
        if isinstance(app.screen, CommandPalette):
            listed = app.screen.query_one(CommandList)
            count = listed.option_count
            if count > 2:
                return [str(listed.get_option_at_index(i).prompt) for i in range(count)]
    raise AssertionError("the theme picker never listed its themes")


def sixteen_colour_number(colour: str) -> int:
    """The standard colour a 16-colour terminal shows for ``colour`` (#RRGGBB)."""
    return Color.parse(colour).downgrade(ColorSystem.STANDARD).number or 0


async def test_the_theme_picker_offers_the_16_colour_copies() -> None:
    async with sample_app(sample_run.start) as (app, pilot):
        app.use_legible_colours("standard", no_color=False)  # as on TERM=xterm
        await pilot.pause()
        assert app.theme == "textual-dark-16"
        listed = await theme_picker(app, pilot)
        await pilot.press(*"textual-dark", "enter")  # picking what the name says
        await pilot.pause(0.3)
        picked = app.current_theme
    assert "textual-dark-16" in listed and "textual-light-16" in listed, listed
    assert "textual-dark" not in listed and "textual-light" not in listed, listed
    assert "nord" in listed  # the other built-ins as they were
    assert picked.name == "textual-dark-16"
    assert picked.warning is not None and sixteen_colour_number(picked.warning) not in (1, 9)


async def test_true_colour_picker_lists_the_built_ins() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        listed = await theme_picker(app, pilot)
    assert "textual-dark" in listed and "textual-light" in listed, listed
    assert not [name for name in listed if name.endswith("-16")], listed


def test_a_copy_stands_in_for_its_built_in() -> None:
    names = ["nord", "textual-dark", "textual-dark-16", "textual-light"]
    assert offered_themes(names) == ["nord", "textual-dark-16", "textual-light"]
