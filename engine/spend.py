"""Spend against limits, and where a run's log leaves its budgets: pure arithmetic, no I/O.

:class:`Spend` adds up tokens and dollars against limits and says them as a person reads
them (:func:`dollars`); :class:`BudgetLimits` are the budgets a resume sets by hand. From a
folded :class:`~engine.state.RunState` this module works out the spend and limits a resumed
run starts from, and whether it would still be over a budget before it spent anything
(:func:`still_crossed`). :class:`~engine.budget.BudgetTracker`, which watches the spend
live and asks the budget questions, starts from the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from engine.config import EngineConfig
from engine.durations import duration_text
from engine.events import BudgetUpdated
from engine.state import RunState


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
    """Spend against (mutable) limits: tokens and dollars, and the run's time (``seconds``
    driven so far, against ``max_duration_s``; a task has no time budget)."""

    tokens: int = 0
    cost_usd: float = 0.0
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    seconds: float = 0.0
    max_duration_s: float | None = None

    def exceeded(self) -> str | None:
        if self.max_tokens is not None and self.tokens > self.max_tokens:
            return "tokens"
        if self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd:
            return "cost"
        if self.max_duration_s is not None and self.seconds > self.max_duration_s:
            return "time"
        return None

    def describe(self) -> str:
        """``1100 tokens of 1000, $0.60 of $5.00``: the cost part only when something was
        priced or a cost limit is set (a sim run's, or one on unpriced models, says none);
        the time part (``8h1m of 8h``) only with a time limit."""
        tokens = f"{self.tokens} tokens" + (
            f" of {self.max_tokens}" if self.max_tokens is not None else ""
        )
        if self.max_cost_usd is None:
            text = f"{tokens}, {dollars(self.cost_usd)}" if self.cost_usd else tokens
        else:
            cost = _over(self.cost_usd, self.max_cost_usd)
            text = f"{tokens}, {cost} of {dollars(self.max_cost_usd)}"
        if self.max_duration_s is None:
            return text
        return f"{text}, {duration_text(self.seconds)} of {duration_text(self.max_duration_s)}"

    def keep_raised(self, update: BudgetUpdated) -> None:
        """Keep the limits ``update`` (a report from before a restart) says were raised to: a
        budget someone raised stays raised after a resume. A limit unset here stays unset."""
        if self.max_tokens is not None and update.max_tokens is not None:
            self.max_tokens = max(self.max_tokens, update.max_tokens)
        if self.max_cost_usd is not None and update.max_cost_usd is not None:
            self.max_cost_usd = max(self.max_cost_usd, update.max_cost_usd)
        if self.max_duration_s is not None and update.max_duration_s is not None:
            self.max_duration_s = max(self.max_duration_s, update.max_duration_s)

    def raise_limits(self) -> None:
        """Double each crossed limit (or lift it past the spend when doubling is not enough)."""
        if self.max_tokens is not None and self.tokens > self.max_tokens:
            self.max_tokens = max(self.max_tokens * 2, self.tokens * 3 // 2)
        if self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd:
            self.max_cost_usd = max(self.max_cost_usd * 2, self.cost_usd * 1.5)
        if self.max_duration_s is not None and self.seconds > self.max_duration_s:
            # whole seconds: status --json said 28.672912500000002 for the limit a raise left
            self.max_duration_s = float(math.ceil(max(self.max_duration_s * 2, self.seconds * 1.5)))


@dataclass(frozen=True)
class BudgetLimits:
    """Budgets set by hand when a run is resumed; each one given replaces the run's limit (as
    configured, or as an escalation raised it), lower or higher; None leaves it as it is.
    The per-task ones hold for every task not merged yet."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    task_max_tokens: int | None = None
    task_max_cost_usd: float | None = None
    max_duration_s: float | None = None
    """The run's time budget, in seconds of its processes' driving."""

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
    run, tasks, task_max_tokens, task_max_cost = logged_spends(state, config)
    if limits is not None:
        task_max_tokens, task_max_cost = put_limits(
            run, tasks, limits, task_max_tokens, task_max_cost
        )
    for view in state.open_escalations:
        if view.kind == "budget" and (answers or {}).get(view.escalation_id) == "raise":
            spend = run if view.task_id is None else tasks.get(view.task_id)
            if spend is not None:
                spend.raise_limits()
    over: list[str] = []
    raised: dict[str, float | int] = {}
    if (crossed := run.exceeded()) is not None:
        over.append(f"over its {crossed} budget ({run.describe()})")
        raised.update(_raised(run, "max_tokens", "max_cost_usd", "max_duration_s"))
    for task_id, spend in tasks.items():
        if task_id in state.merged or (crossed := spend.exceeded()) is None:
            continue
        over.append(f"over task {task_id}'s {crossed} budget ({spend.describe()})")
        for name, value in _raised(spend, "task_max_tokens", "task_max_cost_usd").items():
            raised[name] = max(raised.get(name, value), value)
    if not over:
        return None
    return Crossed("; ".join(over), BudgetLimits(**raised))  # type: ignore[arg-type]


def _raised(spend: Spend, tokens: str, cost: str, time: str = "") -> dict[str, float | int]:
    """The limits of ``spend`` that a ``raise`` would lift, named ``tokens``, ``cost`` and
    ``time``, at what it would lift them to (a cost rounded up to the cent, a time to the
    minute)."""
    after = replace(spend)
    after.raise_limits()
    out: dict[str, float | int] = {}
    if after.max_tokens != spend.max_tokens and after.max_tokens is not None:
        out[tokens] = after.max_tokens
    if after.max_cost_usd != spend.max_cost_usd and after.max_cost_usd is not None:
        out[cost] = math.ceil(after.max_cost_usd * 100) / 100
    if time and after.max_duration_s != spend.max_duration_s and after.max_duration_s is not None:
        out[time] = math.ceil(after.max_duration_s / 60) * 60.0
    return out


def logged_spends(
    state: RunState, config: EngineConfig | None
) -> tuple[Spend, dict[str, Spend], int | None, float | None]:
    """The run's spend and limits, each task's, and the per-task limits of tasks yet to
    spend, as a run resumed from ``state`` starts with them: the spend its log counted; the
    limits a resume set by hand (else ``config``'s), raised where its log says they were.
    Without ``config`` (and nothing set by hand), the limits the log last reported."""
    source = state.budget_limits or config
    task_max_tokens = source.task_max_tokens if source is not None else None
    task_max_cost = source.task_max_cost_usd if source is not None else None
    run = Spend(
        tokens=state.input_tokens + state.output_tokens,
        cost_usd=state.cost_usd,
        seconds=state.driven_seconds(),
    )
    if source is not None:
        run.max_tokens, run.max_cost_usd = source.max_tokens, source.max_cost_usd
        run.max_duration_s = source.max_duration_s
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
        spend.max_duration_s = update.max_duration_s
    else:
        spend.keep_raised(update)


def put_limits(
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
    if limits.max_duration_s is not None:
        run.max_duration_s = limits.max_duration_s
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
