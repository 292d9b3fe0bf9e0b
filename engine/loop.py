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
import signal
import threading
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
    runner = asyncio.Runner(loop_factory=factory)
    try:
        return runner.run(main)
    finally:
        close_holding_interrupts(runner)


def close_holding_interrupts(runner: asyncio.Runner) -> None:
    """Close ``runner``'s loop; a Ctrl-C meanwhile is raised once it is closed.

    Closing waits for the default executor's threads (the interpreter's exit would wait for
    them too). A KeyboardInterrupt raised inside that wait closed uvloop's loop under the
    thread that joins the executor, which then died on "Event loop is closed" with two
    tracebacks on the terminal, after a run had stopped cleanly on a first Ctrl-C.
    """
    holds = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not holds:
        runner.close()
        return
    interrupted: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
    try:
        runner.close()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted:
        raise KeyboardInterrupt
