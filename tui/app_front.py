"""What the run's Textual front does at the run's start and on a stop signal: the start's
notices as toasts, the engine run in the app's worker after them, and a stop signal that
quits as ``q`` does (or exits at once when the app's own shutdown is stuck). Wired in by the
composition root (tui/compose.py)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from engine.state import RunState

if TYPE_CHECKING:
    from textual.app import App

    from tui.app import ShopfloorApp


def quit_or_exit_now(app: ShopfloorApp, hard_exit: Callable[[int], object] = os._exit) -> None:
    """A stop signal to the TUI: quit as ``q`` does; but if the app was already leaving
    (``q`` pressed) and is still here, its shutdown is stuck (a terminal that takes no more
    output): exit at once, as a second Ctrl-C does. The run stays resumable."""
    app.interrupt(hard_exit)


async def announced(
    app: App[None], notices: Sequence[str], run: Callable[[], Awaitable[RunState]]
) -> RunState:
    """Run ``run`` in the app's engine worker after showing ``notices`` as notifications."""
    show_notices(app, notices)
    return await run()


def show_notices(app: App[None], notices: Sequence[str]) -> None:
    """The start's notices as toasts: a ``warning: …`` for 30 s, what is only said (the
    Python the gates use) for 8 s as information; it stood over the escalation dialog for
    30 s as a warning."""
    for notice in notices:
        if notice.startswith("warning: "):
            app.notify(notice, severity="warning", timeout=30, markup=False)
        else:
            app.notify(notice, severity="information", timeout=8, markup=False)
