"""The named colours of the screen's text, kept readable on 16-colour terminals and under
NO_COLOR.

Textual turns a named ANSI colour of a Rich style (``"bold yellow"``, ``"red"``) into the
RGB of its ANSI theme (Monokai on the dark theme) before it meets the terminal. On a
16-colour terminal (``TERM=xterm``, ``TERM=screen``) Rich then picks the nearest of the 16
standard colours: Monokai's orange yellow came out bright red, so a running task, the
current stage and the header's "running" read as failures. Under NO_COLOR Textual greys
each colour by its brightness: Monokai's red and magenta (244, 0, 95) became grey 59 on a
background near 30, and a failed task, a ✗, an error line and the SIM badge all but
vanished.

:func:`legible_ansi_theme` is the ANSI theme that avoids both: on a 16-colour terminal the
standard colours themselves (each named colour comes back as itself, drawn in the
terminal's own palette), and under NO_COLOR every colour as one grey that stands out from
the theme's background (the meaning is in the glyphs and words: ✓ ✗ ● ◐, "failed").

The theme's own colours are RGB, matched the same way: the warning and accent orange
(#FFA62B) came out bright red, the error's colour, so the escalation banner and the
footer's keys read as failures. :func:`legible_themes` are the app's two themes with a
yellow that stays yellow on 16 colours, every shade Textual derives from it included; where
they are registered, the theme picker offers them instead of their built-ins
(:func:`offered_themes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from rich.terminal_theme import TerminalTheme
from textual.theme import BUILTIN_THEMES, Theme

STANDARD_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (170, 0, 0),
    (0, 170, 0),
    (170, 85, 0),
    (0, 0, 170),
    (170, 0, 170),
    (0, 170, 170),
    (170, 170, 170),
    (85, 85, 85),
    (255, 85, 85),
    (85, 255, 85),
    (255, 255, 85),
    (85, 85, 255),
    (255, 85, 255),
    (85, 255, 255),
    (255, 255, 255),
)
"""The 16 colours Rich matches RGB against for a 16-colour terminal, in ANSI order: a
colour given as one of these comes back as its own number."""

STANDARD_THEME = TerminalTheme(
    (0, 0, 0), (255, 255, 255), list(STANDARD_COLOURS[:8]), list(STANDARD_COLOURS[8:])
)

GREY_ON_DARK = TerminalTheme(
    (0, 0, 0),
    (255, 255, 255),
    [(0, 0, 0), *[(215, 215, 215)] * 7],
    [(128, 128, 128), *[(240, 240, 240)] * 7],
)
"""Under NO_COLOR with a dark theme: every colour but black a light grey."""

GREY_ON_LIGHT = TerminalTheme(
    (255, 255, 255),
    (0, 0, 0),
    [*[(40, 40, 40)] * 7, (215, 215, 215)],
    [(128, 128, 128), *[(20, 20, 20)] * 6, (255, 255, 255)],
)
"""Under NO_COLOR with a light theme: every colour but white a dark grey."""


def legible_ansi_theme(
    color_system: str | None, *, no_color: bool, dark: bool
) -> TerminalTheme | None:
    """The ANSI theme for a terminal of ``color_system`` (Rich's name: ``"standard"`` is 16
    colours), under NO_COLOR or not, for a ``dark`` or light app theme; None: Textual's own
    (true colour and 256 colours show Monokai's as they are)."""
    if no_color:
        return GREY_ON_DARK if dark else GREY_ON_LIGHT
    if color_system == "standard":
        return STANDARD_THEME
    return None


SIXTEEN_COLOUR_SUFFIX = "-16"
"""What a 16-colour copy's name adds to its built-in's (``textual-dark-16``)."""

SIXTEEN_COLOUR_YELLOW = {"textual-dark": "#FFFF55", "textual-light": "#CDCD00"}
"""The warning and accent of each theme on a 16-colour terminal: bright yellow, it and its
derived shades (``$text-warning``, ``$footer-key-foreground``, ...) matched to a yellow."""


def legible_themes(color_system: str | None, *, no_color: bool) -> dict[str, Theme]:
    """The themes to use instead of the built-in ones (by the built-in's name) on a terminal
    of ``color_system``: on 16 colours, each with a yellow warning and accent; none
    elsewhere (under NO_COLOR every colour is greyed anyway)."""
    if no_color or color_system != "standard":
        return {}
    return {
        name: dataclasses.replace(
            BUILTIN_THEMES[name],
            name=f"{name}{SIXTEEN_COLOUR_SUFFIX}",
            warning=yellow,
            accent=yellow,
        )
        for name, yellow in SIXTEEN_COLOUR_YELLOW.items()
    }


def offered_themes(registered: Iterable[str]) -> list[str]:
    """The names of ``registered`` themes to offer in the theme picker: each but a built-in
    whose 16-colour copy is registered too (on a 16-colour terminal, where picking the
    built-in brought its orange, matched to bright red, back)."""
    names = set(registered)
    return [name for name in registered if f"{name}{SIXTEEN_COLOUR_SUFFIX}" not in names]
