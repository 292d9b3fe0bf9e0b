"""Rich-only text pieces shared by the headless console and the Textual widgets.

Kept free of Textual so :mod:`tui.headless` can use them without importing it.

Words from outside — a request, a task title, an agent's output, an escalation's question,
a gate's output — can carry terminal escape sequences (an agent's coloured output, a
``clear`` it ran, a window-title change) and control characters. Drawn as they are, the
terminal would obey them: the screen cleared, colours left on, the title rewritten.
:func:`printable` and :func:`one_line` make such text safe to draw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydantic import BaseModel
from rich.cells import cell_len
from rich.text import Text

from engine.run_views import AgentTally
from engine.spend import dollars
from engine.terminal_escapes import without_escapes

SIM_BADGE = (" SIM ", "bold reverse magenta")
"""How the simulated-provider marker looks wherever it appears."""

SIM_MARK = ("S", SIM_BADGE[1])
"""The SIM badge in one cell, where its five do not fit (the agent table's narrowest rows;
the help's legend says what it means)."""

REPLACEMENT = "\ufffd"
"""What a control character that is not a line break or a tab is drawn as."""

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What :func:`printable` changes: C0 controls but tab and newline, DEL, C1 controls, and the
bidirectional embeddings, overrides and isolates: a terminal that lays text out both ways
(VTE does) would draw the rest of an agent's line reversed ("Trojan Source"), so what the
log shows is not what the agent wrote. Plain right-to-left text does not need them."""


def printable(text: str) -> str:
    """``text`` safe to draw: escape sequences dropped, ``\\r\\n`` and a lone ``\\r`` made
    newlines, any other control character (a bidirectional one too) shown as '�'. Newlines
    and tabs stay."""
    if _CONTROLS.search(text) is None:
        return text
    text = without_escapes(text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub(REPLACEMENT, text)


def one_line(text: str) -> str:
    """``text`` made :func:`printable` for a place that has one line: newlines and tabs
    become spaces."""
    text = printable(text)
    if "\n" in text or "\t" in text:
        text = text.replace("\n", " ").replace("\t", " ")
    return text


def clipped(text: Text, width: int) -> Text:
    """``text`` cut to at most ``width`` cells, the last one an ellipsis; a wide character
    that would straddle the cut goes whole (no half of it, no blank before the ellipsis)."""
    if text.cell_len <= width:
        return text
    kept = 0
    for end, char in enumerate(text.plain):
        if kept + cell_len(char) > width - 1:
            return Text.assemble(text[:end], "…")
        kept += cell_len(char)
    return text


T = TypeVar("T")


def drawable(value: T) -> T:
    """``value`` (an event, or anything in one) with every string in it :func:`printable`;
    ``value`` itself when nothing had to change."""
    if isinstance(value, str):
        return printable(value)  # type: ignore[return-value]  # a str, or the same object
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = drawable(old)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple):
        items = [drawable(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        pairs = {drawable(key): drawable(item) for key, item in value.items()}
        if all(key in value and item is value[key] for key, item in pairs.items()):
            return value
        return pairs  # type: ignore[return-value]
    return value


def compact_count(value: int) -> str:
    """1234 -> '1.2k', 1234567 -> '1.2M'; small numbers unchanged."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return str(value)


UNPRICED = " + unpriced"
"""Said after a cost that leaves out calls nothing priced (a model not in the price table)."""


def cost_text(cost_usd: float, unpriced: Mapping[str, int]) -> str:
    """``$0.12`` (:func:`~engine.spend.dollars`), and ``+ unpriced`` when some calls (of
    ``unpriced``'s models) had no price: their cost is unknown, not zero, and a cost budget
    does not see it."""
    return f"{dollars(cost_usd)}{UNPRICED if unpriced else ''}"


def agents_text(tally: AgentTally, separator: str = " · ") -> Text:
    """How the run's agents stand: "2 running · 54 done · 1 failed" (the agents at work
    always; the others when there are any), as the run screen and ``status`` say it."""
    text = Text(f"{tally.running} running", style="bold yellow" if tally.running else "")
    for count, word, style in (
        (tally.done, "done", ""),
        (tally.failed, "failed", "yellow"),  # an attempt that failed: its task may retry
        (tally.cut_off, "cut off", "magenta"),
    ):
        if count:
            text.append(separator)
            text.append(f"{count} {word}", style=style)
    return text


def answer_command(escalation_id: str, run_id: str, options: Sequence[str], *, db: str = "") -> str:
    """The command that answers an escalation from another shell, with its options to pick
    from (the headless console's line and the status systemd shows say it alike):
    ``shopfloor answer esc-2 retry|skip|abort --run RUN``, and ``db``: the ``--db`` of the
    run's database (:func:`storage.paths.db_option`; "" for the default one)."""
    choices = "|".join(options) or "OPTION"
    return f"shopfloor answer {escalation_id} {choices} --run {run_id}{db}"
