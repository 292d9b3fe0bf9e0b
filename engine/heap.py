"""Keeping the cyclic garbage collector off objects that live for the whole run.

CPython's collector walks every container object it tracks in a full (oldest-generation)
collection, and it runs one whenever the objects that survived younger collections grow by
a quarter. A ``shopfloor`` process tracks ~285,000 objects once its modules are imported
(pydantic's schemas, SQLAlchemy, Textual) and a build adds its plan and run state, so one
full collection walks them all: 180 ms measured on a 2-core machine, in the middle of the
build's loop, or between a key press and the screen answering it.

None of those objects becomes garbage while the run goes on, so the process takes them out
of the collector's view (:func:`gc.freeze`): what is loaded when the CLI or the storage
writer's process starts and when the TUI has drawn its first screen (:func:`settle`), and
for the length of the build what exists once the plan is drawn (:func:`long_lived`).
Collections then walk only what was created since: events, attempts, widgets' render
caches. Frozen objects are still freed by reference counting; only a cycle among them waits
until they are unfrozen.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def settle() -> None:
    """Freeze what exists now: the imported modules' objects, a started app's widgets.

    Call once the program (or the screen) is loaded, before its work starts. No collection
    first: loading leaves little cyclic garbage, and a collection here would cost the very
    walk this avoids.
    """
    gc.freeze()


_whole_process = False
"""Whether a load froze as the whole process's (``loading(freeze=True)``): later loads of
the same program (a command's own modules) freeze as it did."""


@contextlib.contextmanager
def loading(*, freeze: bool | None = None) -> Iterator[None]:
    """For the block, no collection at all; then :func:`settle`: for a program loading.

    Importing creates objects by the hundred thousand and frees almost none, so each of the
    ~150 collections it triggered walked objects that all lived on (``shopfloor runs``
    loading the store, SQLAlchemy and the event models). What loaded is frozen before the
    collector is back on, or its first collection would walk all of it at once.

    ``freeze=True``: the program is the whole process (an entry point). ``freeze=False``: no
    :func:`settle`, for a program that is not the whole process (the CLI's ``main`` called
    by a test): the freeze would keep everything that process holds, its garbage not yet
    collected too, out of the collector's reach for good. None: as the process's entry said
    (a command loading the factory once its command line is good); no freeze if none did.
    """
    global _whole_process
    if freeze:
        _whole_process = True
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _whole_process if freeze is None else freeze:
            settle()
        if enabled:
            gc.enable()


def release() -> None:
    """Return every frozen object to the collector (what :func:`settle` froze included).

    For an owner whose objects were frozen and are now dropped, a Textual app leaving, so
    their cycles can be collected; the next full collection walks all of them once.
    """
    gc.unfreeze()


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """For the block, keep the collector off every object alive when it starts.

    Collects first, so the garbage of what came before (a planner's replies, say) is freed
    rather than kept; unfreezes at the end, so what the block's owner drops afterwards can
    be collected again. Unfreezing returns every frozen object to the collector, those
    :func:`settle` froze included; the next full collection walks them once.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        release()


def leaving() -> None:
    """Freeze everything before the interpreter exits: for a program whose work is done.

    Python's shutdown runs full collections over every object the collector tracks, to
    free cycles that are about to be freed with the whole process anyway. After a build
    (whose end gave every object back, :func:`release`) that walk is the whole heap: 1.0 s
    of CPU measured between a demo's last line and its exit on a 2-core machine, 0.1 s
    frozen; under load the prompt came back, or ``systemctl stop`` saw the process go,
    seconds after the run had said how it ended.

    Only where the interpreter really exits next (a console script's entry, not a function a
    test calls in-process): frozen, a test process's garbage was never collected again.
    """
    gc.freeze()
