"""The Textual app: a thin shell that wires the event feed, the run screen and the keys.

The app starts the one bridge (events -> messages for the run screen) and, in process, the
engine's run coroutine as a worker in the same loop. Screens do the showing: the run screen
(the default screen), the escalation modal, task detail, runs history and help. The app
never reaches into the engine; everything it knows came through the feed, and decisions
leave through the ``on_decision`` callable it was given.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from rich.console import RenderableType
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.driver import Driver
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from engine import heap
from engine.bus import Subscription
from engine.events import EventBase, Outcome
from engine.interrupt import EXIT_INTERRUPTED
from engine.state import RunState
from storage.errors import StorageError
from tui.bridge import EventSource, start_bridge
from tui.decision_delivery import OnDecision, storage_decider
from tui.messages import EventStreamEnded
from tui.screens.help import HelpScreen
from tui.screens.palette import ShopfloorCommands, ThemePicker
from tui.screens.run import RunScreen
from tui.screens.run_model import RunModel
from tui.screens.runs import RunHistory, RunsScreen
from tui.terminal_colours import legible_ansi_theme, legible_themes
from tui.text import printable
from tui.widgets.agent_log import DEFAULT_MAX_LINES, AgentLineBuffer
from tui.widgets.run_header import WAITING

ENGINE_GROUP = "engine"
"""Worker group (and name) of the engine's run coroutine."""

DARK_THEME, LIGHT_THEME = "textual-dark", "textual-light"

GOOD_ENDINGS = (Outcome.SHIPPED, Outcome.REPORTED)
"""Outcomes a run is meant to reach: shipped (create, update) or reported (audit)."""


class ShopfloorApp(App[None]):
    """The control room for one run (live, attached or replayed), plus the history."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ShopfloorCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        # Ctrl-C stops the run as it does headless (resumable), not Textual's "press ctrl+q"
        # hint; a second one while the app is still leaving exits at once.
        Binding("ctrl+c", "interrupt", "Stop", show=False, priority=True),
        # Ctrl-Z suspends as it does headless (the terminal back to the shell, `fg` brings
        # the screen back); the run's process stops meanwhile and keeps its lease.
        Binding("ctrl+z", "suspend_process", "Suspend", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("t", "toggle_dark_light", "Theme", show=False),
        Binding("R", "runs", "Runs", show=False),
    ]

    def __init__(
        self,
        source: EventSource,
        *,
        title: str = "shopfloor",
        run_task: Callable[[], Awaitable[object]] | None = None,
        exit_when_done: bool = False,
        max_lines: int = DEFAULT_MAX_LINES,
        on_decision: OnDecision | None = None,
        store: RunHistory | None = None,
        logged: Sequence[EventBase] = (),
        waiting: str = WAITING,
    ) -> None:
        """``source`` must be taken from the bus before the run emits anything (or be an
        async iterator of stored events, when attached).

        ``run_task`` (e.g. ``pipeline.run``) is started as a worker once the app is up;
        with ``exit_when_done`` the app exits when the run finished and ``run_task``
        returned (return code 0 if the run shipped, 1 otherwise, 2 if ``run_task`` raised).
        ``on_decision`` delivers the human's decisions (None: escalations are read-only);
        ``store`` enables the runs history (``R``). ``logged``: what a resumed run's log
        held before this process took it over, shown before ``source`` (which starts at the
        resume), so the screen shows the run, not only what happens from now on.
        ``waiting``: what the header says before the run's first event.
        """
        super().__init__()
        self.title = title
        self.run_error: BaseException | None = None
        """What ``run_task`` raised, if it did."""
        self._leaving = False
        self._opened_at = datetime.now(UTC)
        self._source = source
        self._logged = logged
        self._run_task = run_task
        self._exit_when_done = exit_when_done
        self._store = store
        self._engine_worker: Worker[object] | None = None
        self._engine_done = run_task is None
        self._stream_ended = False
        self._main = RunScreen(RunModel(max_lines), on_decision=on_decision, waiting=waiting)
        self._themes = {DARK_THEME: DARK_THEME, LIGHT_THEME: LIGHT_THEME}
        """The theme shown for each of the built-in two (another on a 16-colour terminal)."""
        self._colours: tuple[str | None, bool] = ("truecolor", False)
        """The colour system and NO_COLOR the themes were made legible for."""

    def get_driver_class(self) -> type[Driver]:
        """On a terminal: Textual's driver, made to outlive a hang-up (tui.terminal_driver)."""
        if sys.platform == "win32":
            return super().get_driver_class()
        from tui.terminal_driver import TerminalDriver

        return TerminalDriver

    def get_default_screen(self) -> RunScreen:
        return self._main

    @property
    def main(self) -> RunScreen:
        """The screen of the run this app was started for."""
        return self._main

    @property
    def state(self) -> RunState:
        """The TUI's own fold of the run; fed only by the bridge."""
        return self._main.model.state

    @property
    def lines(self) -> AgentLineBuffer:
        """Recent output lines of every agent."""
        return self._main.model.lines

    @property
    def finished(self) -> bool:
        """True once the run's RunFinished event arrived."""
        return self.state.outcome is not Outcome.RUNNING

    @property
    def leaving(self) -> bool:
        """True once the app was asked to exit (``q``, a stop signal, the run's end)."""
        return self._leaving

    def exit(
        self, result: None = None, return_code: int = 0, message: RenderableType | None = None
    ) -> None:
        self._leaving = True
        super().exit(result, return_code, message)

    def interrupt(self, hard_exit: Callable[[int], object] = os._exit) -> None:
        """Ctrl-C, or a stop signal (SIGTERM, a hang-up): quit as ``q`` does, exit code 130,
        the run resumable; but if the app was already leaving and is still here, its
        shutdown is stuck (a terminal that takes no more output): exit at once."""
        if self.leaving:
            hard_exit(EXIT_INTERRUPTED)
        else:
            self.exit(return_code=EXIT_INTERRUPTED)

    def action_interrupt(self) -> None:
        self.interrupt()

    def on_mount(self) -> None:
        # The app's widgets, styles and screens live as long as it does: once the first
        # screen is drawn, collections stop walking them (a full one took up to 135 ms in
        # the flood benchmark, between a key press and the screen answering it).
        self.call_after_refresh(heap.settle)
        if not self.is_headless:  # tests draw as on a true-colour terminal, wherever they run
            self.use_legible_colours(self.console.color_system, no_color=self.no_color)
        start_bridge(self, self._source, target=self._main, history=self._logged)
        if self._run_task is not None:
            self._engine_worker = self.run_worker(
                self._run_task(),
                name=ENGINE_GROUP,
                group=ENGINE_GROUP,
                description="the engine's run coroutine",
                exit_on_error=False,
            )

    def use_legible_colours(self, color_system: str | None, *, no_color: bool) -> None:
        """Colours readable on a terminal of ``color_system`` (Rich's name), under NO_COLOR
        or not (tui.terminal_colours): on 16 colours, copies of the built-in themes that drew
        normal text red (the app's two with a yellow warning and accent)."""
        dark = legible_ansi_theme(color_system, no_color=no_color, dark=True)
        light = legible_ansi_theme(color_system, no_color=no_color, dark=False)
        if dark is not None:
            self.ansi_theme_dark = dark
        if light is not None:
            self.ansi_theme_light = light
        self._colours = color_system, no_color
        themes = legible_themes(color_system, no_color=no_color, names=self._themes)
        for name, theme in themes.items():
            self.register_theme(theme)
            self._themes[name] = theme.name
        if themes:
            self.theme = self._themes[DARK_THEME if self.current_theme.dark else LIGHT_THEME]

    def search_themes(self) -> None:
        """The palette's theme picker (its "Theme" entry), offering the 16-colour copies
        in place of their built-ins on a 16-colour terminal (made now, not at start)."""
        color_system, no_color = self._colours
        for theme in legible_themes(color_system, no_color=no_color).values():
            self.register_theme(theme)
        self.push_screen(CommandPalette(providers=[ThemePicker], placeholder="Search for themes…"))

    def on_unmount(self) -> None:
        heap.release()  # the app's objects go with it; their cycles can be collected again

    def on_run_screen_run_ended(self, message: RunScreen.RunEnded) -> None:
        if message.screen is not self._main:
            return
        state = self.state
        self.sub_title = state.outcome.value
        if state.finished_at and datetime.fromisoformat(state.finished_at) < self._opened_at:
            # Over before the view opened (attach, the runs screen): the header says so on
            # its coloured bar, and a 30-second toast stood over the log one came to read.
            self._maybe_exit()
            return
        detail = f" → {state.branch}" if state.branch else ""
        if state.reason:
            detail += f" ({state.reason})"
        self.notify(
            f"run {state.run_id} {state.outcome.value}{detail}",
            title="run finished",
            severity="information" if state.outcome in GOOD_ENDINGS else "error",
            timeout=30,
            markup=False,
        )
        self._maybe_exit()

    def on_event_stream_ended(self, message: EventStreamEnded) -> None:
        self._stream_ended = True
        self._maybe_exit()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self._engine_worker is None or event.worker is not self._engine_worker:
            return
        if event.state is WorkerState.ERROR:
            self.run_error = event.worker.error
            # An exception's message is no event: nothing cleaned it (a provider's error may
            # quote the request's key).
            error = f"{type(self.run_error).__name__}: {self.run_error}"
            self.notify(
                printable(self._main.model.redactor.redact(error)),
                title="engine error",
                severity="error",
                timeout=30,
                markup=False,
            )
            # Nothing drives the run any more: the header says so, and why, at once (it
            # said "running" until the person left). A one-line error (the events could
            # not be stored) is said as it is; another with its type, as in the toast.
            said = str(self.run_error) if isinstance(self.run_error, StorageError) else error
            self._main.show_stopped(True, printable(self._main.model.redactor.redact(said)))
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self.run_worker(self._settle_engine(), name="settle", group="settle", exclusive=True)
        elif event.state is WorkerState.CANCELLED:
            self._engine_settled()

    async def engine_stopped(self) -> None:
        """Once the app has exited, wait for the run's coroutine to end: Textual cancels its
        workers without waiting, and the run's cancellation (its attempts let go, then its
        RunInterrupted) went on after the caller had closed the run's bus."""
        if self._engine_worker is not None:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._engine_worker.wait()

    async def _settle_engine(self) -> None:
        # Everything the run emitted is in the subscription already; once the bridge has
        # posted it all and the screen folded it, a callback queued there runs after it.
        if isinstance(self._source, Subscription):
            await self._source.idle()
        self._main.call_later(self._engine_settled)

    def _engine_settled(self) -> None:
        self._engine_done = True
        self._maybe_exit()

    def _maybe_exit(self) -> None:
        if not self._exit_when_done or not self._engine_done:
            return
        if self.run_error is not None:
            self.exit(return_code=2, message=f"engine error: {self.run_error}")
        elif self._run_task is not None or self.finished or self._stream_ended:
            self.exit(return_code=0 if self.state.outcome in GOOD_ENDINGS else 1)

    def action_help(self) -> None:
        """Show every key."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_dark_light(self) -> None:
        """Switch between the dark and the light theme."""
        self.theme = self._themes[LIGHT_THEME if self.current_theme.dark else DARK_THEME]

    def action_runs(self) -> None:
        """Open the runs history (needs a database)."""
        if self._store is None:
            self.notify(
                "no database open: start with --db or attach to see the history", markup=False
            )
            return
        history = next((s for s in self.screen_stack if isinstance(s, RunsScreen)), None)
        if history is None:
            self.push_screen(RunsScreen(self._store, decider=storage_decider(self._store)))
            return
        while self.screen is not history:  # back to the history open below, not a second one
            self.pop_screen()
