"""Terminal escape sequences, found wherever words from outside carry them.

A request, a task title, an agent's output can hold them (an agent's coloured output, a
``clear`` it ran, a window-title change, or a request pasted or written to do harm). The
screen drops them before drawing (``tui.text.printable``); the shipped branch's slug drops
them before slugging (:func:`engine.request_title.branch_slug`), where their printable
bytes were left as words (``\\x1b[2J`` made "-2j-"). One pattern for both, here because the
engine imports none of the TUI.
"""

from __future__ import annotations

import re

__all__ = ["ESCAPES", "without_escapes"]

ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC: title, links, clipboard
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # any other escape: character sets, reset, cursor save, ...
)
"""An escape sequence, 7-bit (ESC ...) or 8-bit (a C1 introducer), with what it carries."""


def without_escapes(text: str) -> str:
    """``text`` with its escape sequences dropped, whole; nothing else changed."""
    return ESCAPES.sub("", text)
