"""The TUI on the terminal it was started on, stopped by signals as ``shopfloor demo --tui``
is (tui.compose), for tests that hang that terminal up at a chosen moment.

    python hung_up_tui.py running   The terminal hangs up while the app runs. The SIGHUP is
                                    held back until the app has drawn FRAMES more frames:
                                    a process busy elsewhere when its terminal went away.
    python hung_up_tui.py closing   The app quits (``q``), and the terminal hangs up
                                    while the closing steps wait (as the metrics
                                    linger does).

The app shows TITLE in a toast once it runs; ``closing`` prints CLOSING once it is gone.
The exit code is the app's return code.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from engine import loop
from engine.bus import EventBus
from engine.interrupt import ShutdownSignals, stop_signals_call
from tui.app import ShopfloorApp
from tui.app_front import quit_or_exit_now
from tui.terminal_driver import terminal_gone

TITLE = "hang-up test"
CLOSING = "closing steps"
FRAMES = 60
"""More than Textual's writer thread queues (30)."""


async def running() -> int:
    app: ShopfloorApp

    async def draw_after_the_hang_up() -> None:
        app.notify(TITLE, markup=False)
        while not terminal_gone(0):  # noqa: ASYNC110 (the kernel says it only when asked)
            await asyncio.sleep(0.01)
        for frame in range(FRAMES):
            app.notify(f"frame {frame}", timeout=0.5, markup=False)  # a frame drawn: a write
            await asyncio.sleep(0.02)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # now it is handled

    app = ShopfloorApp(EventBus("hangup").subscribe("tui"), run_task=draw_after_the_hang_up)
    with stop_signals_call(lambda: quit_or_exit_now(app)):
        await app.run_async()
    return app.return_code or 0


async def closing() -> int:
    app: ShopfloorApp

    async def say_it_runs() -> None:
        app.notify(TITLE, markup=False)

    app = ShopfloorApp(EventBus("hangup").subscribe("tui"), run_task=say_it_runs)
    with stop_signals_call(lambda: quit_or_exit_now(app)):
        await app.run_async()
    shutdown = ShutdownSignals()
    with shutdown.installed():
        print(CLOSING, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.stopping.wait(), 60)
    return app.return_code or 0


if __name__ == "__main__":
    if sys.argv[1] == "running":
        # Before any thread starts, so that the threads inherit it: SIGHUP waits in the
        # kernel until the main thread lets it through. SIGCONT is delivered at once.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        sys.exit(loop.run(running()))
    sys.exit(loop.run(closing()))
