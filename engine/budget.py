"""Budgets: tokens and dollars per run and per task, watched as the calls finish.

The tracker listens to the bus (``bus.listen``): each LLMCallFinished adds to the run's spend
and, through the AgentStarted that named the caller's task, to that task's. A call's tokens
are all of its prompt — those a provider read from its cache or wrote to it too, which with
caching on are nearly all — and its output. It reports the new totals as BudgetUpdated
events (emitted on the next loop turn, so they never overtake the call that caused them).
Work asks :meth:`BudgetTracker.admit` before it starts: while a limit is crossed, new work
pauses on an escalation — raise the budget, or stop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import AgentStarted, BudgetUpdated, EventBase, LLMCallFinished


class BudgetStop(Exception):
    """A budget was crossed and the decision was to stop. The message is one line.

    ``scope`` is ``"run"`` (the whole run stops) or ``"task"`` (only that task fails).
    """

    def __init__(self, message: str, scope: str = "run") -> None:
        super().__init__(message)
        self.scope = scope


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
        tokens = f"{self.tokens} tokens" + (
            f" of {self.max_tokens}" if self.max_tokens is not None else ""
        )
        cost = f"${self.cost_usd:.4f}" + (
            f" of ${self.max_cost_usd:.4f}" if self.max_cost_usd is not None else ""
        )
        return f"{tokens}, {cost}"

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


class BudgetTracker:
    """Adds up spend from the bus and gates new work on the limits."""

    def __init__(self, bus: EventBus, config: EngineConfig, broker: EscalationBroker) -> None:
        self.bus = bus
        self.config = config
        self.broker = broker
        self.run = Spend(max_tokens=config.max_tokens, max_cost_usd=config.max_cost_usd)
        self.tasks: dict[str, Spend] = {}
        self._agent_task: dict[str, str] = {}
        self._lock = asyncio.Lock()
        state = bus.state  # a resumed run starts from what its log already spent and raised
        self.run.tokens = state.input_tokens + state.output_tokens
        self.run.cost_usd = state.cost_usd
        if state.budget is not None:
            self.run.keep_raised(state.budget)
        for agent in state.agents.values():
            if agent.task_id is not None:
                self._agent_task[agent.agent_id] = agent.task_id
        for task in state.tasks.values():
            self._task(task.id).tokens = task.tokens
            self._task(task.id).cost_usd = task.cost_usd
            if task.budget is not None:
                self._task(task.id).keep_raised(task.budget)
        bus.listen(self._on_event)

    def _task(self, task_id: str) -> Spend:
        spend = self.tasks.get(task_id)
        if spend is None:
            spend = Spend(
                max_tokens=self.config.task_max_tokens,
                max_cost_usd=self.config.task_max_cost_usd,
            )
            self.tasks[task_id] = spend
        return spend

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

        While the run's (or ``task_id``'s) limit is crossed this waits on a budget escalation;
        concurrent callers share it. Work within its limits never waits: a task over its own
        budget pauses alone, not every task that starts while its escalation is open.
        """
        if self.run.exceeded() is None and (
            task_id is None or self._task(task_id).exceeded() is None
        ):
            return  # nothing crossed: no lock, so no wait behind another task's escalation
        async with self._lock:
            await self._settle("run", None, self.run)
            if task_id is not None:
                await self._settle("task", task_id, self._task(task_id))

    async def _settle(self, scope: str, task_id: str | None, spend: Spend) -> None:
        while (crossed := spend.exceeded()) is not None:
            what = "the run" if task_id is None else f"task {task_id}"
            decision = await self.broker.ask(
                "budget",
                f"{what} crossed its {crossed} budget ({spend.describe()}): raise it or stop?",
                ["raise", "stop"],
                default="stop",
                task_id=task_id,
                context=spend.describe(),
            )
            if decision.decision != "raise":
                raise BudgetStop(f"budget exceeded: {what} spent {spend.describe()}", scope)
            spend.raise_limits()
            self.bus.emit(self._update(scope, task_id, spend))
