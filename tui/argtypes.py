"""argparse types: a count or a time that makes no sense at zero, or a NaN, an age, a date,
a port, is refused on the command line in one line rather than failing deep inside a run.
The commands' parsers and the benchmarks share them; the module imports nothing heavy, so a
benchmark, or ``shopfloor --help``, pays nothing for it."""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.durations import parse_duration


def positive_float(text: str) -> float:
    """argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def positive_duration(text: str) -> float:
    """argparse type: a time span above zero such as ``90m``, ``8h`` or ``1h30m``, in seconds
    (:func:`engine.durations.parse_duration`)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than zero: {text!r}")
    return seconds


def duration(text: str) -> timedelta:
    """argparse type: an age such as ``30d``, ``12h``, ``90m``, ``2w`` or ``1d12h``
    (:func:`engine.durations.parse_duration`) as a timedelta."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:  # `prune --older-than 0d` would delete every finished run
        raise argparse.ArgumentTypeError(f"a duration must be more than zero: {text!r}")
    return timedelta(seconds=seconds)


def since_time(text: str) -> datetime:
    """argparse type: an age like ``7d`` (before now) or an ISO date/time (UTC if naive)."""
    try:
        age = duration(text)
    except argparse.ArgumentTypeError:
        pass
    else:
        try:
            return datetime.now(UTC) - age
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)  # before any run: every run is since then
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an age or a date: {text!r} (e.g. 7d, 12h, 2025-03-01)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0-65535 (0 = any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be within 0-65535: {text!r}")
    return value


def repo_filter(text: str) -> str:
    """argparse type of ``runs --repo``: a path from the current folder (``.``, ``..``,
    ``./x``, ``../x``, ``~/x``) made whole, as ``run`` stores the repository it resolved;
    anything else (a whole path, or its last parts) as given. ``runs --repo .`` in the
    checkout a run was started from with ``run --repo .`` matched none."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset variable?); give one, e.g. .")
    if text in (".", "..") or text.startswith(("./", "../", "~")):
        return str(Path(text).expanduser().resolve())
    return text


def given_path(text: str) -> Path:
    """argparse type: a path that is not empty. ``--repo ""`` (``--repo "$REPO"`` with the
    variable unset) was ``Path("")``, the current folder, and the run went ahead there."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset variable?); give one, e.g. .")
    return Path(text)
