"""Budgets: tokens and dollars per run and per task, watched as the calls finish.

The tracker listens to the bus (``bus.listen``): each LLMCallFinished adds to the run's spend
and, through the AgentStarted that named the caller's task, to that task's. A call's tokens
are all of its prompt — those a provider read from its cache or wrote to it too, which with
caching on are nearly all — and its output. It reports the new totals as BudgetUpdated
events (emitted on the next loop turn, so they never overtake the call that caused them).
Work asks :meth:`BudgetTracker.admit` before it starts: while a limit is crossed, new work
pauses on an escalation — raise the budget, or stop. Each crossing is one question, shared by
all the work it pauses; the run's and each task's are asked side by side, never one behind
another, so whoever answers sees every question pending.

A stop of the run's budget (a person's answer, or the escalation timeout's default) stops the
run as Ctrl-C does: no RunFinished, every merged task kept, resumable. Its owner resumes it
with higher limits (:class:`BudgetLimits`, ``shopfloor resume RUN --max-cost 10``), which the
log keeps (BudgetLimitsSet). A resume that raises nothing the run is over is refused at once
(:func:`still_crossed`): it could only ask the question again, or stop again, and an owner
who resumes a run stopped on its budget overnight means to pay for more, or would rather hear
now that they forgot to. A stop of one task's budget fails that task alone.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

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
from engine.state import RunState


class BudgetStop(Exception):
    """A budget was crossed and the decision was to stop. The message is one line.

    ``scope`` is ``"run"`` (the whole run stops, resumable) or ``"task"`` (that task fails
    and the others go on; a run whose only failures are such stops ends stopped, resumable
    with a higher task budget, not failed).
    """

    def __init__(self, message: str, scope: str = "run") -> None:
        super().__init__(message)
        self.scope = scope


def dollars(usd: float) -> str:
    """Money as a person reads it: cents (``$0.60``, ``$1,234.50``), and two significant
    digits below a cent (``$0.0042``: a call's cost, or a tiny budget), never ``$0.0000``."""
    if usd == 0 or abs(usd) >= 0.005:
        return f"${usd:,.2f}"
    if abs(usd) < 1e-8:
        return "<$0.00000001"
    places = min(8, 1 - math.floor(math.log10(abs(usd))))
    return f"${usd:.{places}f}".rstrip("0")


def _over(usd: float, limit: float) -> str:
    """``usd`` spent against ``limit``: as :func:`dollars` says it, with the places it takes
    to read over the limit when it is (``$1.004`` of ``$1.00``, not ``$1.00`` of it)."""
    text = dollars(usd)
    if usd <= limit or float(text.lstrip("<$").replace(",", "")) > limit:
        return text
    for places in range(3, 7):
        if round(usd, places) > limit:
            return f"${usd:,.{places}f}"
    return f"${math.ceil(usd * 1e6) / 1e6:,.6f}"


@dataclass
class Spend:
    """Spend against (mutable) limits."""

    tokens: int = 0
    cost_usd: float = 0.0
    max_tokens: int | None = None
    max_cost_usd: float | None = None

    def exceeded(self) -> str | None:
        if self.max_tokens is not None and self.tokens > self.max_tokens:
            return "tokens"
        if self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd:
            return "cost"
        return None

    def describe(self) -> str:
        """``1100 tokens of 1000, $0.60 of $5.00``: the cost part only when something was
        priced or a cost limit is set (a sim run's, or one on unpriced models, says none)."""
        tokens = f"{self.tokens} tokens" + (
            f" of {self.max_tokens}" if self.max_tokens is not None else ""
        )
        if self.max_cost_usd is None:
            return f"{tokens}, {dollars(self.cost_usd)}" if self.cost_usd else tokens
        cost = _over(self.cost_usd, self.max_cost_usd)
        return f"{tokens}, {cost} of {dollars(self.max_cost_usd)}"

    def keep_raised(self, update: BudgetUpdated) -> None:
        """Keep the limits ``update`` (a report from before a restart) says were raised to: a
        budget someone raised stays raised after a resume. A limit unset here stays unset."""
        if self.max_tokens is not None and update.max_tokens is not None:
            self.max_tokens = max(self.max_tokens, update.max_tokens)
        if self.max_cost_usd is not None and update.max_cost_usd is not None:
            self.max_cost_usd = max(self.max_cost_usd, update.max_cost_usd)

    def raise_limits(self) -> None:
        """Double each crossed limit (or lift it past the spend when doubling is not enough)."""
        if self.max_tokens is not None and self.tokens > self.max_tokens:
            self.max_tokens = max(self.max_tokens * 2, self.tokens * 3 // 2)
        if self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd:
            self.max_cost_usd = max(self.max_cost_usd * 2, self.cost_usd * 1.5)


@dataclass(frozen=True)
class BudgetLimits:
    """Budgets set by hand when a run is resumed; each one given replaces the run's limit (as
    configured, or as an escalation raised it), lower or higher; None leaves it as it is.
    The per-task ones hold for every task not merged yet."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    task_max_tokens: int | None = None
    task_max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{item.name} must be a positive number, got {value}")

    def given(self) -> bool:
        """Whether any limit is set."""
        return any(getattr(self, item.name) is not None for item in fields(self))


@dataclass(frozen=True)
class Crossed:
    """What a stopped run is over, and the limits that a ``raise`` would set (to suggest)."""

    text: str
    """One line: each budget crossed, with its spend."""
    raised: BudgetLimits


def still_crossed(
    state: RunState,
    config: EngineConfig | None = None,
    limits: BudgetLimits | None = None,
    answers: Mapping[str, str] | None = None,
) -> Crossed | None:
    """The budgets a run resumed from ``state`` with ``config`` and ``limits`` would be over
    before it spent anything: the run's, and those of its tasks not merged yet (each would
    ask at once and, unanswered, stop again). None when there are none. Without ``config``,
    the limits are those the log last reported: what a stopped run was over.

    ``answers`` are the decisions posted (``shopfloor approve``) to the run's open
    escalations while no process drove it (escalation id -> decision): a budget question
    left open by the stop and answered "raise" is raised, as the resumed run takes it."""
    run, tasks, task_max_tokens, task_max_cost = _spends(state, config)
    if limits is not None:
        task_max_tokens, task_max_cost = _set(run, tasks, limits, task_max_tokens, task_max_cost)
    for view in state.open_escalations:
        if view.kind == "budget" and (answers or {}).get(view.escalation_id) == "raise":
            spend = run if view.task_id is None else tasks.get(view.task_id)
            if spend is not None:
                spend.raise_limits()
    over: list[str] = []
    raised: dict[str, float | int] = {}
    if (crossed := run.exceeded()) is not None:
        over.append(f"over its {crossed} budget ({run.describe()})")
        raised.update(_raised(run, "max_tokens", "max_cost_usd"))
    for task_id, spend in tasks.items():
        if task_id in state.merged or (crossed := spend.exceeded()) is None:
            continue
        over.append(f"over task {task_id}'s {crossed} budget ({spend.describe()})")
        for name, value in _raised(spend, "task_max_tokens", "task_max_cost_usd").items():
            raised[name] = max(raised.get(name, value), value)
    if not over:
        return None
    return Crossed("; ".join(over), BudgetLimits(**raised))  # type: ignore[arg-type]


def _raised(spend: Spend, tokens: str, cost: str) -> dict[str, float | int]:
    """The limits of ``spend`` that a ``raise`` would lift, named ``tokens`` and ``cost``,
    at what it would lift them to (a cost rounded up to the cent)."""
    after = Spend(spend.tokens, spend.cost_usd, spend.max_tokens, spend.max_cost_usd)
    after.raise_limits()
    out: dict[str, float | int] = {}
    if after.max_tokens != spend.max_tokens and after.max_tokens is not None:
        out[tokens] = after.max_tokens
    if after.max_cost_usd != spend.max_cost_usd and after.max_cost_usd is not None:
        out[cost] = math.ceil(after.max_cost_usd * 100) / 100
    return out


def _spends(
    state: RunState, config: EngineConfig | None
) -> tuple[Spend, dict[str, Spend], int | None, float | None]:
    """The run's spend and limits, each task's, and the per-task limits of tasks yet to
    spend, as a run resumed from ``state`` starts with them: the spend its log counted; the
    limits a resume set by hand (else ``config``'s), raised where its log says they were.
    Without ``config`` (and nothing set by hand), the limits the log last reported."""
    source = state.budget_limits or config
    task_max_tokens = source.task_max_tokens if source is not None else None
    task_max_cost = source.task_max_cost_usd if source is not None else None
    run = Spend(tokens=state.input_tokens + state.output_tokens, cost_usd=state.cost_usd)
    if source is not None:
        run.max_tokens, run.max_cost_usd = source.max_tokens, source.max_cost_usd
    _keep(run, state.budget, reported=source is None)
    tasks: dict[str, Spend] = {}
    for task in state.tasks.values():
        spend = tasks[task.id] = Spend(task.tokens, task.cost_usd, task_max_tokens, task_max_cost)
        _keep(spend, task.budget, reported=source is None)
    return run, tasks, task_max_tokens, task_max_cost


def _keep(spend: Spend, update: BudgetUpdated | None, *, reported: bool) -> None:
    """Keep the limits ``update`` raised; with ``reported``, take its limits as they are."""
    if update is None:
        return
    if reported:
        spend.max_tokens, spend.max_cost_usd = update.max_tokens, update.max_cost_usd
    else:
        spend.keep_raised(update)


def _set(
    run: Spend,
    tasks: dict[str, Spend],
    limits: BudgetLimits,
    task_max_tokens: int | None,
    task_max_cost: float | None,
) -> tuple[int | None, float | None]:
    """Put ``limits`` on ``run`` and ``tasks``; returns the per-task limits from then on."""
    if limits.max_tokens is not None:
        run.max_tokens = limits.max_tokens
    if limits.max_cost_usd is not None:
        run.max_cost_usd = limits.max_cost_usd
    if limits.task_max_tokens is not None:
        task_max_tokens = limits.task_max_tokens
    if limits.task_max_cost_usd is not None:
        task_max_cost = limits.task_max_cost_usd
    for spend in tasks.values():
        if limits.task_max_tokens is not None:
            spend.max_tokens = task_max_tokens
        if limits.task_max_cost_usd is not None:
            spend.max_cost_usd = task_max_cost
    return task_max_tokens, task_max_cost


class BudgetTracker:
    """Adds up spend from the bus and gates new work on the limits."""

    def __init__(self, bus: EventBus, config: EngineConfig, broker: EscalationBroker) -> None:
        self.bus = bus
        self.config = config
        self.broker = broker
        # A resumed run starts from what its log already spent, raised and set.
        self.run, self.tasks, self._task_max_tokens, self._task_max_cost = _spends(
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

    def crossed(self, unfinished: Iterable[str] = ()) -> bool:
        """Whether the run's budget, or that of a task in ``unfinished``, is crossed."""
        return self.run.exceeded() is not None or any(
            task_id in self.tasks and self.tasks[task_id].exceeded() is not None
            for task_id in unfinished
        )

    def set_limits(self, limits: BudgetLimits) -> None:
        """Put the budgets a resume was given on the run and log them: BudgetLimitsSet, then
        the run's report, and each unmerged task's when the per-task limits changed."""
        self._task_max_tokens, self._task_max_cost = _set(
            self.run, self.tasks, limits, self._task_max_tokens, self._task_max_cost
        )
        self.bus.emit(
            BudgetLimitsSet(
                max_tokens=self.run.max_tokens,
                max_cost_usd=self.run.max_cost_usd,
                task_max_tokens=self._task_max_tokens,
                task_max_cost_usd=self._task_max_cost,
            )
        )
        self.bus.emit(self._update("run", None, self.run))
        if limits.task_max_tokens is not None or limits.task_max_cost_usd is not None:
            merged = set(self.bus.state.merged)
            for task_id, spend in self.tasks.items():
                if task_id not in merged:
                    self.bus.emit(self._update("task", task_id, spend))

    def _on_event(self, event: EventBase) -> None:
        if isinstance(event, AgentStarted) and event.task_id is not None:
            self._agent_task[event.agent_id] = event.task_id
        elif isinstance(event, LLMCallFinished):
            tokens = event.prompt_tokens + event.output_tokens
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
        if self.run.exceeded() is None and (
            task_id is None or self._task(task_id).exceeded() is None
        ):
            return
        await self._settle("run", None, self.run)
        if task_id is not None:
            await self._settle("task", task_id, self._task(task_id))

    async def _settle(self, scope: str, task_id: str | None, spend: Spend) -> None:
        key = (scope, task_id)
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
        if decision.decision != "raise":
            return f"budget exceeded: {what} spent {spend.describe()}"
        spend.raise_limits()
        self.bus.emit(self._update(scope, task_id, spend))
        return None
