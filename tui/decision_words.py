"""What approve, reject and change mean for each escalation's options, in one place.

The commands (``shopfloor approve`` / ``reject`` / ``change``) and the escalation dialog's
``a`` / ``r`` / ``c`` take the same option: the dialog had its own lists, and its ``r`` on a
tripped circuit breaker chose ``abort`` (the whole run ended) where ``reject`` skips the
task, and its ``a`` on a budget question found no option where ``approve`` raises the
budget. It never imports Textual (the commands load without it).
"""

from __future__ import annotations

from collections.abc import Sequence

VERBS: dict[str, tuple[str, ...]] = {
    "approve": ("approve", "accept", "retry", "raise", "continue", "yes"),
    "reject": ("reject", "skip", "stop", "abort", "no"),
    "change": ("change", "revise"),
}
"""Each command's decision, as the first of these that the escalation offers. ``answer``
names the option itself: the one way to pick an option none of these verbs reaches (a
circuit breaker's ``abort``, which ``reject`` does not mean: it skips)."""


def option_for(options: Sequence[str], synonyms: tuple[str, ...]) -> str | None:
    """The first of ``options`` that is one of ``synonyms`` (case-insensitive)."""
    lowered = {option.lower(): option for option in options}
    for word in synonyms:
        if word in lowered:
            return lowered[word]
    return None
