"""What the Pilot tests share: waiting until the app has caught up with the bus, and
counting how often a screen was laid out (from a quiet screen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import sample_run
from textual.pilot import Pilot
from textual.screen import Screen

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.messages import Decision

SETTLE_S = 0.5  # panels redraw at most every 100 ms, later while Textual starts up; busy CI


async def caught_up(app: ShopfloorApp, bus: EventBus, pilot: Pilot[None]) -> None:
    """Wait until the app folded everything the bus emitted and its panels were redrawn for
    it (a busy machine delays the throttled redraw), then let the screen settle."""
    for _ in range(1000):
        if app.state.last_seq >= bus.state.last_seq and app.main.synced_seq >= bus.state.last_seq:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError(
            f"app stuck at seq {app.state.last_seq}, panels at {app.main.synced_seq}, "
            f"of {bus.state.last_seq}"
        )
    await pilot.pause(SETTLE_S)


@contextmanager
def layouts_of(screen: Screen[object]) -> Iterator[list[int]]:
    """Count the screen's layouts (``[count]``, read it after the block): each lays out every
    widget, tens of milliseconds on a slow machine."""
    count = [0]
    nested = "_refresh_layout" in vars(screen)  # counted already, by an outer block
    relayout = screen._refresh_layout

    def counted(*args: object, **kwargs: object) -> None:
        count[0] += 1
        relayout(*args, **kwargs)  # type: ignore[arg-type]

    screen._refresh_layout = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        if nested:
            screen._refresh_layout = relayout  # type: ignore[method-assign]
        else:
            del screen._refresh_layout


async def screen_quiet(pilot: Pilot[None], limit_s: float = 60.0) -> None:
    """Pause until the screen goes three pauses in a row without a layout. What is still
    queued lays the screen out within two: Textual's start-up, for one, recomposes the footer
    once for each change of bindings, each after a refresh, which a busy machine stretches
    well past :data:`SETTLE_S`. Counting layouts from a quiet screen counts only the test's."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        with layouts_of(pilot.app.screen) as layouts:
            for _ in range(3):
                await pilot.pause()
        if layouts == [0]:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the screen still lays itself out after {limit_s:.0f} s")


async def until(condition: Callable[[], bool], pilot: Pilot[None]) -> None:
    """Wait (at most 5 s) until ``condition`` holds, e.g. the decision worker finished."""
    for _ in range(500):
        if condition():
            await pilot.pause()
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


def recording_app(bus: EventBus, decisions: list[Decision], **kwargs: object) -> ShopfloorApp:
    """The app on ``bus``, whose decisions go into ``decisions`` (``kwargs``: the app's own)."""

    async def on_decision(decision: Decision) -> None:
        decisions.append(decision)

    return ShopfloorApp(bus.subscribe("tui"), on_decision=on_decision, **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def sample_app(
    play: Callable[[EventBus], None], size: tuple[int, int] = (80, 24), **run_test: bool
) -> AsyncIterator[tuple[ShopfloorApp, Pilot[None]]]:
    """The app at ``size``, once it has caught up with what ``play`` emitted of the sample
    run (``run_test``: the rest of :meth:`~textual.app.App.run_test`'s options)."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size, **run_test) as pilot:
        play(bus)
        await caught_up(app, bus, pilot)
        yield app, pilot
