"""The help screen names every key a screen of the control room binds: the key bar shows
only what fits (at 60 columns, a few keys), and the help is where the rest are found. It was
written by hand and had drifted: the run history's ``g`` (reload), Ctrl-C and Ctrl-Z were
bound and said nowhere but the history's border."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

import tui.app
import tui.screens
from tui.screens.help import SECTIONS

SHOWN_AS = {
    "escape": "esc",
    "question_mark": "?",
    "slash": "/",
    "minus": "-",
    "plus": "+",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "right": "→",
    "left": "←",
}
"""A binding's key name as the help writes it."""


def bound_keys() -> dict[str, set[tuple[str, ...]]]:
    """Each screen's (and the app's) own bindings: the keys of one binding, as alternatives.
    Textual's inherited focus and copy keys are left out (the screens do not declare them)."""
    modules = [
        importlib.import_module(f"tui.screens.{module.name}")
        for module in pkgutil.iter_modules(tui.screens.__path__)
    ]
    found: dict[str, set[tuple[str, ...]]] = {}
    for module in [*modules, tui.app]:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Screen | App):
                continue
            own = [b for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)]
            found[name] = {
                tuple(SHOWN_AS.get(k.strip(), k.strip()) for k in b.key.split(",")) for b in own
            }
    return found


def help_words() -> set[str]:
    words: set[str] = set()
    for _title, keys in SECTIONS:
        for key, _what in keys:
            for word in str(key).replace("/", " / ").split():
                words.add(word)
                if "-" in word and word[0].isdigit():  # 1-9
                    low, high = word.split("-")
                    words.update(str(n) for n in range(int(low), int(high) + 1))
    return words


def test_every_bound_key_is_in_the_help() -> None:
    screens = bound_keys()
    assert {"RunScreen", "RunsScreen", "ReplayScreen", "EscalationScreen"} <= set(screens)
    words = help_words()
    missing = {
        screen: sorted("/".join(keys) for keys in bound if not words.intersection(keys))
        for screen, bound in screens.items()
    }
    assert {screen: keys for screen, keys in missing.items() if keys} == {}
