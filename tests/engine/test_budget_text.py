"""What a budget says of its spend is what a person reads.

No "$0.0000" of a run that priced nothing (the sim, unpriced models) and has no cost limit;
cents for dollars, two significant digits below a cent; a spend over its cost limit never
reads as at it. The budget question, ``status`` and the console all say it this way.
"""

from __future__ import annotations

import pytest

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import BlueprintProposed, BudgetUpdated
from engine.spend import Spend, dollars, still_crossed


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "$0.00"),
        (0.6, "$0.60"),
        (12.345, "$12.35"),
        (1234.5, "$1,234.50"),
        (0.0042, "$0.0042"),
        (0.00001, "$0.00001"),
    ],
)
def test_dollars_are_in_cents_unless_tiny(value: float, text: str):
    assert dollars(value) == text


def test_a_spend_says_no_cost_when_nothing_was_priced_and_no_cost_limit_is_set():
    assert Spend(1100, 0.0, max_tokens=1000).describe() == "1100 tokens of 1000"
    assert Spend(1100).describe() == "1100 tokens"
    assert Spend(1100, 0.0, max_cost_usd=5.0).describe() == "1100 tokens, $0.00 of $5.00"
    assert Spend(1100, 0.6).describe() == "1100 tokens, $0.60"
    assert Spend(20, 0.0123).describe() == "20 tokens, $0.01"


def test_a_spend_just_over_its_cost_limit_does_not_read_as_at_it():
    """Rounded to cents, $1.004 of $1.00 reads "$1.00 of $1.00": not over its limit."""
    assert Spend(10, 1.004, max_cost_usd=1.0).describe() == "10 tokens, $1.004 of $1.00"
    assert Spend(10, 1.0000004, max_cost_usd=1.0).describe() == ("10 tokens, $1.000001 of $1.00")
    assert Spend(10, 0.55, max_cost_usd=1.0).describe() == "10 tokens, $0.55 of $1.00"


def test_a_run_stopped_over_a_tasks_budget_reads_as_a_sentence():
    """Before: "run R is task stock is over its tokens budget (...)" (``resume`` refusing)
    and "the run stopped on its budget: it is task stock is over ..." (``status``)."""
    bus = EventBus("t1")
    bus.emit(BlueprintProposed(blueprint=Blueprint(spec="s", tasks=[Task(id="stock", title="S")])))
    bus.emit(BudgetUpdated(scope="task", task_id="stock", tokens=700, cost_usd=0.0))
    crossed = still_crossed(bus.state, EngineConfig(task_max_tokens=500))
    assert crossed is not None
    assert f"run R is {crossed.text}" == (
        "run R is over task stock's tokens budget (700 tokens of 500)"
    )
