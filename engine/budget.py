"""Budgets: tokens and dollars per run and per task, watched as the calls finish, and the
time processes drive the run.

The tracker listens to the bus (``bus.listen``): each LLMCallFinished adds to the run's spend
and, through the AgentStarted that named the caller's task, to that task's. A call's tokens
are all of its prompt — those a provider read from its cache or wrote to it too, which with
caching on are nearly all — and its output. It reports the new totals as BudgetUpdated
events (emitted on the next loop turn, so they never overtake the call that caused them).
Work asks :meth:`BudgetTracker.admit` before it starts: while a limit is crossed, new work
pauses on an escalation — raise the budget, or stop. Each crossing is one question, shared by
all the work it pauses; the run's and each task's are asked side by side, never one behind
another, so whoever answers sees every question pending.

The run's time budget counts what :meth:`~engine.state.RunState.driven_seconds` folds from
the log, up to the bus's clock (which stamps the events; a test's can jump hours). It is
checked where the spend is, before new work starts, and crossed it asks the same question.

A stop of the run's budget (a person's answer, or the escalation timeout's default) stops the
run as Ctrl-C does: no RunFinished, every merged task kept, resumable. Its owner resumes it
with higher limits (:class:`~engine.spend.BudgetLimits`,
``shopfloor resume RUN --max-cost 10``), which the log keeps (BudgetLimitsSet). A resume that
raises nothing the run is over is refused at once (:func:`~engine.spend.still_crossed`): it
could only ask the question again, or stop again, and an owner who resumes a run stopped on
its budget overnight means to pay for more, or would rather hear now that they forgot to. A
stop of one task's budget fails that task alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import (
    AgentStarted,
    BudgetLimitsSet,
    BudgetUpdated,
    EscalationResolved,
    EventBase,
    LLMCallFinished,
)
from engine.run_views import EscalationView
from engine.spend import BudgetLimits, Spend, logged_spends, put_limits


class BudgetStop(Exception):
    """A budget was crossed and the decision was to stop. The message is one line.

    ``scope`` is ``"run"`` (the whole run stops, resumable) or ``"task"`` (that task fails
    and the others go on; a run whose only failures are such stops ends stopped, resumable
    with a higher task budget, not failed).
    """

    def __init__(self, message: str, scope: str = "run") -> None:
        super().__init__(message)
        self.scope = scope


class BudgetTracker:
    """Adds up spend from the bus and gates new work on the limits."""

    def __init__(self, bus: EventBus, config: EngineConfig, broker: EscalationBroker) -> None:
        self.bus = bus
        self.config = config
        self.broker = broker
        # A resumed run starts from what its log already spent, raised and set.
        self.run, self.tasks, self._task_max_tokens, self._task_max_cost = logged_spends(
            bus.state, config
        )
        self._agent_task: dict[str, str] = {}
        self._asking: dict[tuple[str, str | None], asyncio.Future[str | None]] = {}
        """The budget question open for each scope (``("task", id)``), to share."""
        for agent in bus.state.agents.values():
            if agent.task_id is not None:
                self._agent_task[agent.agent_id] = agent.task_id
        bus.listen(self._on_event)

    def _task(self, task_id: str) -> Spend:
        spend = self.tasks.get(task_id)
        if spend is None:
            spend = Spend(max_tokens=self._task_max_tokens, max_cost_usd=self._task_max_cost)
            self.tasks[task_id] = spend
        return spend

    def _tick(self) -> None:
        """Bring the run's time up to the clock (while a process drives it)."""
        if self.bus.state.driven_since is not None:
            self.run.seconds = self.bus.state.driven_seconds(self.bus.clock())

    def crossed(self, unfinished: Iterable[str] = ()) -> bool:
        """Whether the run's budget, or that of a task in ``unfinished``, is crossed."""
        self._tick()
        return self.run.exceeded() is not None or any(
            task_id in self.tasks and self.tasks[task_id].exceeded() is not None
            for task_id in unfinished
        )

    def set_limits(self, limits: BudgetLimits) -> None:
        """Put the budgets a resume was given on the run and log them: BudgetLimitsSet, then
        the run's report, and each unmerged task's when the per-task limits changed."""
        self._task_max_tokens, self._task_max_cost = put_limits(
            self.run, self.tasks, limits, self._task_max_tokens, self._task_max_cost
        )
        self.bus.emit(
            BudgetLimitsSet(
                max_tokens=self.run.max_tokens,
                max_cost_usd=self.run.max_cost_usd,
                task_max_tokens=self._task_max_tokens,
                task_max_cost_usd=self._task_max_cost,
                max_duration_s=self.run.max_duration_s,
            )
        )
        self.bus.emit(self._update("run", None, self.run))
        if limits.task_max_tokens is not None or limits.task_max_cost_usd is not None:
            merged = set(self.bus.state.merged)
            for task_id, spend in self.tasks.items():
                if task_id not in merged:
                    self.bus.emit(self._update("task", task_id, spend))

    def _on_event(self, event: EventBase) -> None:
        # Every event of the run comes here: its exact class is compared (event classes have
        # no subclasses: test_event_types_are_final), as a failing isinstance on a pydantic
        # model goes through its metaclass's __instancecheck__ (~1.5k instructions).
        if type(event) is AgentStarted:
            if event.task_id is not None:
                self._agent_task[event.agent_id] = event.task_id
        elif type(event) is LLMCallFinished:
            tokens = event.prompt_tokens + event.output_tokens
            self._tick()
            self.run.tokens += tokens
            self.run.cost_usd += event.cost_usd
            updates = [self._update("run", None, self.run)]
            task_id = self._agent_task.get(event.agent_id)
            if task_id is not None:
                spend = self._task(task_id)
                spend.tokens += tokens
                spend.cost_usd += event.cost_usd
                updates.append(self._update("task", task_id, spend))
            asyncio.get_running_loop().call_soon(self._emit_later, updates)

    def _update(self, scope: str, task_id: str | None, spend: Spend) -> BudgetUpdated:
        return BudgetUpdated(
            scope=scope,
            task_id=task_id,
            tokens=spend.tokens,
            cost_usd=round(spend.cost_usd, 6),
            max_tokens=spend.max_tokens,
            max_cost_usd=spend.max_cost_usd,
            duration_s=round(spend.seconds, 1),
            max_duration_s=spend.max_duration_s,
            exceeded=spend.exceeded(),
        )

    def _emit_later(self, updates: list[BudgetUpdated]) -> None:
        if not self.bus.closed:
            for update in updates:
                self.bus.emit(update)

    async def admit(self, task_id: str | None = None) -> None:
        """Return when new work may start; raises :class:`BudgetStop` if told to stop.

        While the run's limit is crossed this waits on the run's budget question, then, while
        ``task_id``'s is, on that task's. Each crossing is asked once: work paused on the
        same one shares its question and its answer (a "stop" stops every one of them, and
        is not asked again). Questions of different scopes never wait on each other: one
        task's open question holds back neither another task's nor the run's, so a person
        sees every question pending. Work within its limits never waits.
        """
        self._tick()
        if self.run.exceeded() is None and (
            task_id is None or self._task(task_id).exceeded() is None
        ):
            return
        await self._settle("run", None, self.run)
        if task_id is not None:
            await self._settle("task", task_id, self._task(task_id))

    async def _settle(self, scope: str, task_id: str | None, spend: Spend) -> None:
        key = (scope, task_id)
        self._tick()
        while spend.exceeded() is not None:
            asked = self._asking.get(key)
            if asked is not None:  # someone asks this already: wait for its answer
                await asyncio.wait([asked])
                stop = None if asked.cancelled() else asked.result()
            else:
                asked = self._asking[key] = asyncio.get_running_loop().create_future()
                try:
                    stop = await self._ask(scope, task_id, spend)
                except BaseException:
                    asked.cancel()  # a waiter asks again: the broker re-attaches to it
                    raise
                finally:
                    del self._asking[key]
                asked.set_result(stop)
            if stop is not None:
                raise BudgetStop(stop, scope)
            self._tick()  # the time the question waited counts

    def _open_question(self, task_id: str | None) -> EscalationView | None:
        """The budget question of ``task_id``'s scope (None: the run's) the log has open:
        one asked before the run stopped, since this process asks each scope's once."""
        for view in self.bus.state.open_escalations:
            if view.kind == "budget" and view.task_id == task_id:
                return view
        return None

    def close_stale_questions(self) -> None:
        """Resolve the budget questions a stopped run left open that a resume's higher
        limits answered: no longer crossed, nobody should be asked them (``shopfloor
        escalations`` listed them as waiting, and an answer to them went nowhere)."""
        self._tick()
        for view in self.bus.state.open_escalations:
            if view.kind != "budget":
                continue
            spend = self.run if view.task_id is None else self.tasks.get(view.task_id)
            if spend is not None and spend.exceeded() is None:
                self.bus.emit(
                    EscalationResolved(
                        escalation_id=view.escalation_id,
                        decision="raise",
                        decided_by="resume",
                        note=f"the resume's limits are above the spend ({spend.describe()})",
                    )
                )

    async def _ask(self, scope: str, task_id: str | None, spend: Spend) -> str | None:
        """Ask whether to raise ``spend``'s crossed limit; None when raised (and reported),
        else the stop's one-line message. A question the run left open when it stopped is
        asked again as it was, so an answer posted to it meanwhile is taken."""
        crossed = spend.exceeded()
        what = "the run" if task_id is None else f"task {task_id}"
        stop = (
            "it stays resumable"
            if task_id is None
            else "this task stops; the others go on, and the run stays resumable"
        )
        if crossed == "time":  # no call's report says so: the clock crossed it
            self.bus.emit(self._update(scope, task_id, spend))
        left_open = self._open_question(task_id)
        question = (
            left_open.question
            if left_open is not None
            else f"{what} crossed its {crossed} budget ({spend.describe()}): raise it or stop "
            f"({stop})?"
        )
        decision = await self.broker.ask(
            "budget",
            question,
            ["raise", "stop"],
            default="stop",
            task_id=task_id,
            context=spend.describe(),
        )
        self._tick()  # the time the answer took: a stop says it, a raise lifts past it
        if decision.decision != "raise":
            return f"budget exceeded: {what} spent {spend.describe()}"
        spend.raise_limits()
        self.bus.emit(self._update(scope, task_id, spend))
        return None
