"""The event loop a shopfloor process runs on: uvloop's where it is installed.

asyncio's loop is Python: scheduling callbacks, running handles, selecting — about a
seventh of the run's process's time per task in a profile of the overhead benchmark — and
uvloop's does that in compiled code. Measured on that benchmark (10,000 tasks through the
real engine, bench/scheduler.py): the run's process 0.914M → 0.850M instructions per task
(cachegrind), and 7% less time per task (the median ratio of eight interleaved pairs of
runs). Everything else is the same asyncio: tasks and futures, subprocesses, signal
handlers, ``to_thread``.

``SHOPFLOOR_LOOP=asyncio`` picks asyncio's own loop (to compare the two, or to rule the loop
out while debugging); so does a platform uvloop does not build on. ``SHOPFLOOR_LOOP=uvloop``
(or unset) is the default; any other value is refused rather than quietly ignored.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOP_VARIABLE = "SHOPFLOOR_LOOP"
LOOP_CHOICES = ("uvloop", "asyncio")


class LoopChoiceError(ValueError):
    """``$SHOPFLOOR_LOOP`` names no loop this program knows. One line."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None for asyncio's default loop."""
    choice = os.environ.get(LOOP_VARIABLE, "").strip().lower()
    if choice not in ("", *LOOP_CHOICES):
        raise LoopChoiceError(
            f"{LOOP_VARIABLE}={os.environ[LOOP_VARIABLE].strip()!r} is not an event loop; "
            f"use {' or '.join(LOOP_CHOICES)} (or leave it unset)"
        )
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """Which loop :func:`run` uses here: ``uvloop`` or ``asyncio``."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on :func:`loop_factory`'s loop."""
    try:
        factory = loop_factory()
    except LoopChoiceError:
        main.close()  # never started: no "was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
