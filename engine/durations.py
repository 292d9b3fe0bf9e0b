"""Durations as a person writes and reads them (``90m``, ``8h``, ``1h30m``): the run's time
budget (``--max-duration``) is given, reported and suggested in this form, in whole seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([wdhms])")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_LONGEST = timedelta.max.total_seconds()  # 999999999 days: past it a float loses the count


def parse_duration(text: str) -> float:
    """Seconds in ``text``: one or more whole numbers each with its unit, w, d, h, m or s,
    largest first (``8h``, ``90m``, ``1h30m``, ``30d``, ``2w``; spaces between them, and a
    sign before them, are read: ``-1d`` is negative, for the caller to refuse in its words).
    Raises ValueError, one line, on anything else (a span longer than a timedelta holds too).

    The one reading of a duration: ``--max-duration`` and ``--older-than`` each had theirs,
    and each refused what the other took (``1h30m``; ``2w``)."""
    word = re.sub(r"\s+", "", text).lower()
    sign = -1 if word.startswith("-") else 1
    word = word[1:] if word[:1] in ("-", "+") else word
    parts = _PART.findall(word)
    units = [unit for _, unit in parts]
    if (
        not parts
        or "".join(f"{n}{u}" for n, u in parts) != word
        or units != sorted(set(units), key="wdhms".index)
    ):
        raise ValueError(f"not a duration: {text!r} (e.g. 90m, 8h, 1h30m, 30d)")
    seconds = sum(int(number) * _SECONDS[unit] for number, unit in parts)
    if seconds > _LONGEST:  # float() of a 400-digit count raised OverflowError, a traceback
        raise ValueError(f"duration too long: {text!r}")
    return float(sign * seconds)


def duration_text(seconds: float) -> str:
    """``seconds`` as :func:`parse_duration` reads it back: ``1h30m``, ``8h``, ``45s``,
    ``2h5m`` (whole seconds, rounded up; seconds left out once there are hours; ``0s``)."""
    total = math.ceil(seconds) if seconds > 0 else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours and secs:  # 2h 5m 3s reads as 2h6m: a budget is not kept to the second
        minutes, secs = minutes + 1, 0
        if minutes == 60:
            hours, minutes = hours + 1, 0
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")
