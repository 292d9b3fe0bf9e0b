"""The sd_notify protocol: what a run under systemd tells its service manager.

A unit of ``Type=notify`` hands the service a datagram socket in ``$NOTIFY_SOCKET`` (a path,
or an abstract name written with a leading ``@``); the service sends it lines of
``NAME=value``. A run sends ``READY=1`` once it has really started (its lease taken, its
RunStarted or RunResumed emitted), ``STATUS=`` one line that ``systemctl status`` shows
(the stage, tasks merged, an escalation waiting and how to answer it, the outcome),
``WATCHDOG=1`` every half of ``$WATCHDOG_USEC`` from the run's event loop (so a loop that
hangs stops the pings and systemd restarts the service), and ``STOPPING=1`` once it begins
to shut down. No library is needed: the protocol is one ``sendto`` per message.

:meth:`~tui.notify_target.NotifyTarget.take` removes the variables from the environment as
it reads them (as ``sd_notify(unset_environment=1)`` does), before any child process starts:
a gate, a coding agent or the storage writer never inherits them, so nothing the run starts
can speak for it.
Without ``$NOTIFY_SOCKET`` nothing is sent and nothing is subscribed. A manager that went away
is not the run's problem: a failed send is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from engine.bus import EventBus, Subscription
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    EscalationResolved,
    Merged,
    Outcome,
    RunFinished,
    RunResumed,
    RunStarted,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.spend import still_crossed
from engine.state import RunState
from tui.budget_flags import resume_command
from tui.notify_target import NotifyTarget
from tui.text import answer_command, one_line

STATUS_LIMIT = 400
"""Characters of a STATUS line at most (a reason can be long; the journal has the rest)."""

SAID_BY = (
    RunStarted,
    RunResumed,
    StageChanged,
    BlueprintProposed,
    TaskStateChanged,
    Merged,
    EscalationRaised,
    EscalationResolved,
    RunFinished,
)
"""The events that can change the status line; the others (agent output) are skipped."""

UNDER_WAY = (TaskState.RUNNING, TaskState.GATES, TaskState.MERGING)


def status_line(state: RunState, db: str = "") -> str:
    """What ``systemctl status`` says of the run: ``run ID: STAGE, merged N/M``, the tasks
    under way, the first escalation waiting with the command that answers it; at the end,
    the outcome with the branch shipped or the reason. ``db``: the ``--db`` of the run's
    database the commands carry (:func:`storage.paths.db_option`)."""
    run = state.run_id
    sim = " SIM" if state.simulated else ""
    tasks = state.tasks.values()
    # The merged list, as ``status`` counts: a merge a resume found on the branch (its
    # Merged event lost with the killed process) leaves its task's state behind.
    merged = len({task_id for task_id in state.merged if task_id in state.tasks})
    counts = f", merged {merged}/{len(state.tasks)}" if state.tasks else ""
    if state.outcome is not Outcome.RUNNING:
        text = f"run {run}{sim}: {state.outcome.value}{counts}"
        if state.branch:
            text += f", branch {state.branch}"
        elif state.reason:
            text += f": {state.reason}"
        return _fit(text)
    text = f"run {run}{sim}: {state.stage.value}{counts}"
    under_way = sum(1 for task in tasks if task.state in UNDER_WAY)
    if under_way:
        text += f", {under_way} under way"
    waiting = state.open_escalations
    if waiting:
        first = waiting[0].escalation_id
        how = answer_command(first, run, waiting[0].options, db=db)
        text += f"; escalation {first} waiting: {how}"
        if len(waiting) > 1:
            text += f" ({len(waiting) - 1} more: shopfloor escalations {run}{db})"
    return _fit(text)


def stopping_line(state: RunState, db: str = "") -> str:
    """The status line as the process shuts down: the outcome, or how to go on with a run
    that stops unfinished (``db`` as :func:`status_line` takes it)."""
    if state.outcome is not Outcome.RUNNING:
        return status_line(state, db)
    said = status_line(state, db).split(";")[0]  # the escalation waits for the resume
    # A run stopped on its budget is resumed with a higher one: the command names it.
    return _fit(
        f"{said}; stopping, resumable: {resume_command(state.run_id, still_crossed(state), db=db)}"
    )


def _fit(text: str) -> str:
    text = " ".join(one_line(text).split())
    return text if len(text) <= STATUS_LIMIT else text[: STATUS_LIMIT - 1] + "…"


class SystemdNotifier:
    """Sends a run's notifications to its service manager, from a bus subscription."""

    def __init__(self, target: NotifyTarget, state: RunState, db: str = "") -> None:
        """``state``: the run's live state (the bus's), read when a status is said; ``db``:
        the ``--db`` of its database, which the commands said carry."""
        self.target = target
        self.state = state
        self.db = db
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._ready = False
        self._stopping = False
        self._said = ""
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def attach(cls, target: NotifyTarget, bus: EventBus, db: str = "") -> SystemdNotifier:
        """A notifier reading ``bus`` until it closes, pinging the watchdog if asked to."""
        notifier = cls(target, bus.state, db)
        notifier._tasks.append(
            asyncio.create_task(notifier.consume(bus.subscribe("systemd")), name="systemd")
        )
        if target.watchdog_s is not None:
            notifier._tasks.append(
                asyncio.create_task(notifier._watchdog(target.watchdog_s), name="watchdog")
            )
        return notifier

    def send(self, *assignments: str) -> None:
        """One datagram of ``NAME=value`` lines; dropped if the manager does not take it."""
        with contextlib.suppress(OSError):
            self._socket.sendto("\n".join(assignments).encode(), self.target.address)

    async def consume(self, subscription: Subscription) -> None:
        """Say READY once the run started or resumed, then each new status line."""
        with subscription.reading():
            while (batch := await subscription.get_batch()) is not None:
                said = any(isinstance(event, SAID_BY) for event in batch)
                started = any(isinstance(event, RunStarted | RunResumed) for event in batch)
                subscription.task_done(len(batch))
                if started and not self._ready:
                    self._ready = True
                    self.send("READY=1", f"STATUS={self._status(status_line(self.state, self.db))}")
                elif said and self._ready and not self._stopping:
                    line = status_line(self.state, self.db)
                    if line != self._said:
                        self.send(f"STATUS={self._status(line)}")

    def _status(self, line: str) -> str:
        self._said = line
        return line

    def stopping(self) -> None:
        """Say the service is shutting down (once), with the outcome or how to resume."""
        if self._stopping:
            return
        self._stopping = True
        self.send("STOPPING=1", f"STATUS={self._status(stopping_line(self.state, self.db))}")

    async def _watchdog(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.send("WATCHDOG=1")

    async def close(self) -> None:
        """Stop reading and pinging, and close the socket (after :meth:`stopping`, which
        says the last status whether or not the reader saw the last events)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._socket.close()
