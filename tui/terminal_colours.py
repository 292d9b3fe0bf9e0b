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
(:func:`offered_themes`). The other built-in themes had the same fault, each in its own
colours: gruvbox's, monokai's and solarized's warning (their banner), tokyo-night's and
catppuccin-latte's accent (the footer's keys), monokai's secondary, ansi-light's warning
(``ansi_bright_red`` itself). Each gets a copy too, its colours that came out red
(derived shades included) replaced by the nearest of the 16 that does not
(:func:`sixteen_colour_copy`); an error's colours stay red.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from rich.color import Color, ColorSystem
from rich.terminal_theme import TerminalTheme
from textual.color import Color as TextualColor
from textual.color import ColorParseError
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


RED_NUMBERS = (1, 9)
"""Red and bright red among the 16 colours."""

THEME_COLOURS = (
    "primary",
    "secondary",
    "warning",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
"""A theme's own colours that Textual derives its variables from, the error's aside."""

ANSI_STAND_IN = "ansi_yellow"
"""What a theme's ANSI red that is not its error becomes (ansi-light's bright red warning)."""

MAGENTAS = ("#FF55FF", "#AA00AA")
"""The stand-ins, with the theme's yellow, for a colour that came out red: of the 16 the
nearest in hue to an orange, a peach or a pink, and no shade of them comes out red."""


def sixteen_colour_number(value: str) -> int | None:
    """The one of the 16 colours a theme's ``value`` (``#RRGGBB``, with an alpha or a
    percentage or not, or an ``ansi_`` name: 1 for its reds) is drawn in; None for what has
    no colour of its own."""
    if value.startswith("ansi_"):
        return 1 if value.split()[0] in ("ansi_red", "ansi_bright_red") else None
    if not value.startswith("#"):
        return None  # transparent, auto, initial (and no slow failing parse for them)
    try:
        rgb = TextualColor.parse(value.split()[0]).rgb
    except ColorParseError:
        return None
    return Color.from_rgb(*rgb).downgrade(ColorSystem.STANDARD).number


def red_variables(theme: Theme) -> set[str]:
    """The CSS variables of ``theme`` but the error's that a 16-colour terminal draws red."""
    return {
        name
        for name, value in theme.to_color_system().generate().items()
        if "error" not in name and sixteen_colour_number(value) in RED_NUMBERS
    }


def _theme_colour_of(variable: str) -> str:
    """The theme colour ``variable`` is derived from (``text-warning``, ``warning-darken-2``:
    warning; the footer's keys: accent), else the variable itself (one the theme sets)."""
    if variable.startswith("footer-key"):
        return "accent"
    name = re.sub(r"^text-|-muted$|-(lighten|darken)-\d+$", "", variable)
    name = name.removesuffix("-background")  # primary-background, secondary-background
    return name if name in THEME_COLOURS else variable


def _stand_ins(colour: str, value: str, *, dark: bool) -> list[str]:
    """What may replace the theme colour ``colour`` of ``value`` on 16 colours: a warning
    the theme's yellow; another the nearer of that yellow and the magentas first; then the
    other standard colours but red, nearest first."""
    if value.startswith("ansi_"):
        return [ANSI_STAND_IN]
    rgb = TextualColor.parse(value.split()[0]).rgb

    def distance(hex_colour: str) -> int:
        other = TextualColor.parse(hex_colour).rgb
        return sum((a - b) ** 2 for a, b in zip(rgb, other, strict=True))

    yellow = SIXTEEN_COLOUR_YELLOW["textual-dark" if dark else "textual-light"]
    hues = [yellow, *MAGENTAS] if colour == "warning" else sorted([yellow, *MAGENTAS], key=distance)
    others = [
        "#{:02X}{:02X}{:02X}".format(*standard)
        for number, standard in enumerate(STANDARD_COLOURS)
        if number not in RED_NUMBERS
    ]
    return [*hues, *sorted(others, key=distance)]


@cache
def sixteen_colour_copy(name: str) -> Theme | None:
    """A copy of the built-in theme ``name`` (named ``name-16``) whose colours, the error's
    aside, no 16-colour terminal draws red: each colour that came out red, or a shade of it
    did, is the first of :func:`_stand_ins` that does not (the app's two themes have their
    yellow warning and accent first); None if the theme needs no copy."""
    theme = BUILTIN_THEMES[name]
    yellow = SIXTEEN_COLOUR_YELLOW.get(name)
    if yellow is not None:
        theme = dataclasses.replace(theme, warning=yellow, accent=yellow)
    reds = red_variables(theme)
    if not reds and yellow is None:
        return None
    for colour in dict.fromkeys(map(_theme_colour_of, sorted(reds))):
        own = colour in THEME_COLOURS
        value = getattr(theme, colour) if own else theme.variables[colour]
        for stand_in in _stand_ins(colour, value, dark=theme.dark):
            change: dict[str, Any] = (
                {colour: stand_in} if own else {"variables": {**theme.variables, colour: stand_in}}
            )
            candidate = dataclasses.replace(theme, **change)
            left = red_variables(candidate)
            if not any(_theme_colour_of(variable) == colour for variable in left):
                theme = candidate
                break
    return dataclasses.replace(theme, name=f"{name}{SIXTEEN_COLOUR_SUFFIX}")


def legible_themes(
    color_system: str | None, *, no_color: bool, names: Iterable[str] = BUILTIN_THEMES
) -> dict[str, Theme]:
    """The themes to use instead of the built-in ones ``names`` (by the built-in's name) on
    a terminal of ``color_system``: on 16 colours, :func:`sixteen_colour_copy` of each that
    drew something red (the app's two with a yellow warning and accent); none elsewhere
    (under NO_COLOR every colour is greyed anyway). All of them take a quarter of a second:
    the app makes its own two at start and the others when the theme picker opens."""
    if no_color or color_system != "standard":
        return {}
    copies = {name: sixteen_colour_copy(name) for name in names}
    return {name: copy for name, copy in copies.items() if copy is not None}


def offered_themes(registered: Iterable[str]) -> list[str]:
    """The names of ``registered`` themes to offer in the theme picker: each but a built-in
    whose 16-colour copy is registered too (on a 16-colour terminal, where picking the
    built-in brought its orange, matched to bright red, back)."""
    names = set(registered)
    return [name for name in registered if f"{name}{SIXTEEN_COLOUR_SUFFIX}" not in names]
