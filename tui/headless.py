"""Headless output: one concise line per meaningful event, or one JSON line per event.

Under tmux, systemd or CI nobody watches a Textual screen, but a person reading the log still
wants to follow the run: which stage, which task is on which attempt, which gate failed and
why, what merged, how it ended. :class:`ConsoleReporter` subscribes to the bus like any other
consumer, folds its own :class:`~engine.state.RunState` (for task titles and totals) and
prints with rich (what each event says: tui/event_lines.py). It never imports Textual.

On a terminal a live summary line (stage, tasks, agents, tokens, cost, open escalations,
elapsed time) stays at the bottom while the event lines scroll above it; in a pipe or a log
file there is no summary, only the lines. Every line and JSON line passes through the
redactor first, so a secret an agent echoed never reaches the log.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping

from rich.console import Console
from rich.live import Live
from rich.text import Text

from engine.bus import Subscription
from engine.event_redaction import redacted_event
from engine.events import BlueprintProposed, EventBase, ReviewRoundFinished, TaskState
from engine.redaction import Redactor
from engine.state import RunState
from tui.event_lines import EventLines
from tui.text import SIM_BADGE, compact_count, cost_text, drawable


class ConsoleReporter(EventLines):
    """Prints a run's progress from a bus subscription until the bus closes."""

    def __init__(
        self,
        subscription: Subscription | None,
        console: Console | None = None,
        *,
        verbose: bool = False,
        json_lines: bool = False,
        show_time: bool = True,
        live: bool | None = None,
        redactor: Redactor | None = None,
        resumed: RunState | None = None,
        answered: Mapping[str, str] | None = None,
        db: str = "",
    ) -> None:
        """``verbose`` adds agent starts, LLM calls and every agent output line (prefixed by
        the agent id; the provider layer's notices — retries, fallbacks, a model skipped
        while down — are printed either way); ``json_lines`` writes each event as one JSON
        line instead. ``live`` shows the summary line (default: when the console is a
        terminal and not in JSON mode). ``redactor`` defaults to one for this process's
        secret-looking variables. ``resumed``: the run as its log had it before this process
        resumed it (copied), so the counts take in the tasks merged before the stop.
        ``answered``: a resume's answers posted while the run was stopped (escalation id ->
        decision), said as such rather than asked again. ``db``: the ``--db`` of the run's
        database (:func:`storage.paths.db_option`), which the commands said carry.
        ``subscription`` None: a reporter fed by :meth:`report` alone (``shopfloor tail``
        reads the stored log), whose :meth:`run` is never called."""
        self.subscription = subscription
        self.console = console if console is not None else Console(highlight=False, markup=False)
        self.verbose = verbose
        self.json_lines = json_lines
        self.show_time = show_time
        self.live = self.console.is_terminal and not json_lines if live is None else live
        self.redactor = redactor if redactor is not None else Redactor.from_environ()
        self.state = copy.deepcopy(resumed) if resumed is not None else RunState()
        self.answered = dict(answered or {})
        """The reporter's own fold of the run."""
        self.db = db
        self._started = time.monotonic()
        self._after_round: list[Text] = []
        """The reviewers' revision, said after the round's scores that led to it."""

    async def run(self) -> RunState:
        """Report every event until the subscription ends; returns the folded run state."""
        assert self.subscription is not None, "a reporter fed by report() alone"
        with self.subscription.reading():
            if not self.live:
                async for event in self.subscription:
                    self.report(event)
                self._say_held()
                return self.state
            # Refreshed from this task only (auto_refresh would read the state from a thread).
            with Live(
                self.summary(), console=self.console, auto_refresh=False, transient=True
            ) as live:
                # One redraw per batch: a burst of agent output is one batch, not a redraw
                # per line.
                while (batch := await self.subscription.get_batch()) is not None:
                    for event in batch:
                        self.report(event)
                    live.update(self.summary(), refresh=True)
                    self.subscription.task_done(len(batch))
                self._say_held()
        return self.state

    def summary(self) -> Text:
        """The live summary line: where the run is and what it has cost so far."""
        state = self.state
        counts: dict[TaskState, int] = {}
        for task in state.tasks.values():
            counts[task.state] = counts.get(task.state, 0) + 1
        text = Text()
        if state.simulated:
            text.append(*SIM_BADGE)
            text.append(" ")
        text.append(f"{state.stage.value}", style="bold")
        text.append(f" │ tasks {counts.get(TaskState.MERGED, 0)}/{len(state.tasks)} merged")
        under_way = sum(
            counts.get(s, 0) for s in (TaskState.RUNNING, TaskState.GATES, TaskState.MERGING)
        )
        if under_way:
            text.append(f", {under_way} under way", style="yellow")
        failed = counts.get(TaskState.FAILED, 0) + counts.get(TaskState.BLOCKED, 0)
        if failed:
            text.append(f", {failed} failed", style="red")
        agents = sum(1 for agent in state.agents.values() if agent.running)
        text.append(f" │ agents {agents}")
        text.append(
            f" │ tokens {compact_count(state.input_tokens)} in"
            f" / {compact_count(state.output_tokens)} out"
            f" │ {cost_text(state.cost_usd, state.unpriced_models)}"
        )
        waiting = len(state.open_escalations)
        if waiting:
            text.append(f" │ {waiting} escalation(s) waiting", style="bold yellow")
        elapsed = int(time.monotonic() - self._started)
        text.append(f" │ {elapsed // 60:02d}:{elapsed % 60:02d}", style="dim")
        return text

    def report(self, event: EventBase) -> None:
        """Fold ``event`` and print what it means (nothing for events that are noise)."""
        event, as_json = redacted_event(self.redactor, event)
        self.state.apply(event)
        if self.json_lines:
            self.console.file.write(as_json + "\n")
            self.console.file.flush()
            return
        lines = self.describe(drawable(event))  # an agent's escapes stay off the terminal
        if self.show_time:
            stamp = (event.ts.astimezone().strftime("%H:%M:%S "), "dim")
            lines = [Text.assemble(stamp, line) for line in lines]
        if isinstance(event, BlueprintProposed) and event.source == "review":
            # The engine announces the patched plan before the round's scores: said after
            # them, as cause and effect (the round, then the revision it led to).
            self._say_held()
            self._after_round = lines
            return
        if not isinstance(event, ReviewRoundFinished):
            self._say_held()  # no round came after it (a run stopped in between)
        self._say(lines)
        self._say_held()

    def _say(self, lines: list[Text]) -> None:
        for line in lines:
            self.console.print(line, highlight=False, soft_wrap=True)

    def _say_held(self) -> None:
        held, self._after_round = self._after_round, []
        self._say(held)
