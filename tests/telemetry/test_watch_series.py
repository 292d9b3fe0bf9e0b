"""The series an operator's overnight alerts watch, read through the real /metrics endpoint.

When a run last made progress, since when the oldest escalation waits, since when the merge
queue has not moved, and how many runs lost their process: the events here carry their own
times, as a replayed log does, so each gauge's value is known to the second.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.events import (
    AgentOutput,
    BudgetUpdated,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    LLMCallFinished,
    Merged,
    MergeQueued,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.redaction import Redactor
from telemetry.metrics import FactoryMetrics
from telemetry.session import MetricsServer

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> float:
    return at(minutes).timestamp()


@pytest.fixture
def served() -> Iterator[tuple[FactoryMetrics, MetricsServer]]:
    metrics = FactoryMetrics(redactor=Redactor(()))
    server = MetricsServer(metrics, "127.0.0.1", 0)
    try:
        yield metrics, server
    finally:
        server.close()


def scrape(server: MetricsServer) -> dict[str, float]:
    """The unlabelled samples the endpoint serves, by name."""
    with urllib.request.urlopen(server.url, timeout=5) as response:
        text = response.read().decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


def feed(metrics: FactoryMetrics, run_id: str, minutes: float, event: EventBase) -> None:
    metrics.observe(event.model_copy(update={"run_id": run_id, "ts": at(minutes)}))


def started() -> RunStarted:
    return RunStarted(
        request="build it",
        repo="/srv/repo",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/int",
    )


def running(task: str) -> TaskStateChanged:
    return TaskStateChanged(task_id=task, state=TaskState.RUNNING, attempt=1)


def chatter() -> list[EventBase]:
    """What an agent says and spends: none of it is progress."""
    return [
        AgentOutput(agent_id="eng", text="thinking"),
        LLMCallFinished(
            agent_id="eng", role="engineer", provider="sim", model="sim", input_tokens=5
        ),
        BudgetUpdated(tokens=5, cost_usd=0.0, max_tokens=100),
    ]


LAST_PROGRESS = "shopfloor_last_progress_timestamp_seconds"
OLDEST_ESCALATION = "shopfloor_escalations_oldest_open_timestamp_seconds"
QUEUE_SINCE = "shopfloor_merge_queue_waiting_since_timestamp_seconds"


def test_last_progress_is_the_stalest_run_that_waits_for_nobody(
    served: tuple[FactoryMetrics, MetricsServer],
) -> None:
    metrics, server = served
    assert scrape(server)[LAST_PROGRESS] == 0  # no run under way
    feed(metrics, "A", 0, started())
    feed(metrics, "A", 1, running("a"))
    for event in chatter():
        feed(metrics, "A", 40, event)
    assert scrape(server)[LAST_PROGRESS] == stamp(1)  # 39 minutes of talk, no progress
    feed(metrics, "B", 2, started())
    assert scrape(server)[LAST_PROGRESS] == stamp(1)  # the stalest of the two
    ask = EscalationRaised(escalation_id="e1", kind="twin", question="ok?")
    feed(metrics, "A", 3, ask)
    assert scrape(server)[LAST_PROGRESS] == stamp(2)  # A waits for a person, not stalled
    feed(metrics, "A", 4, EscalationResolved(escalation_id="e1", decision="ok", decided_by="twin"))
    assert scrape(server)[LAST_PROGRESS] == stamp(2)
    feed(metrics, "B", 5, RunFinished(outcome=Outcome.SHIPPED))
    assert scrape(server)[LAST_PROGRESS] == stamp(4)  # the answer moved A on
    metrics.set_stopped("A", True)
    assert scrape(server)[LAST_PROGRESS] == 0  # its process is gone: another alert's business
    feed(metrics, "A", 9, StageChanged(stage=Stage.VERIFY))  # resumed
    assert scrape(server)[LAST_PROGRESS] == stamp(9)


def test_the_oldest_open_escalation_says_when_it_was_raised(
    served: tuple[FactoryMetrics, MetricsServer],
) -> None:
    metrics, server = served
    feed(metrics, "A", 0, started())
    assert scrape(server)[OLDEST_ESCALATION] == 0
    for minute, name in ((1, "e1"), (2, "e2")):
        feed(metrics, "A", minute, EscalationRaised(escalation_id=name, question="?"))
    feed(metrics, "B", 3, started())
    feed(metrics, "B", 4, EscalationRaised(escalation_id="e3", question="?"))
    assert scrape(server)[OLDEST_ESCALATION] == stamp(1)
    feed(metrics, "A", 5, EscalationResolved(escalation_id="e1", decision="x", decided_by="human"))
    assert scrape(server)[OLDEST_ESCALATION] == stamp(2)
    feed(metrics, "A", 6, RunFinished(outcome=Outcome.KILLED))  # e2 ends with its run
    assert scrape(server)[OLDEST_ESCALATION] == stamp(4)
    feed(metrics, "B", 7, EscalationResolved(escalation_id="e3", decision="x", decided_by="twin"))
    assert scrape(server)[OLDEST_ESCALATION] == 0


def test_the_merge_queue_waits_since_its_oldest_entry_or_last_exit(
    served: tuple[FactoryMetrics, MetricsServer],
) -> None:
    metrics, server = served
    feed(metrics, "A", 0, started())
    feed(metrics, "A", 1, MergeQueued(task_id="a", attempt=1))
    feed(metrics, "A", 2, MergeQueued(task_id="b", attempt=1))
    assert scrape(server)[QUEUE_SINCE] == stamp(1)
    feed(metrics, "A", 10, Merged(task_id="a", attempt=1, commit="a" * 40))
    assert scrape(server)[QUEUE_SINCE] == stamp(10)  # it moved; b waits since then
    feed(metrics, "A", 11, Merged(task_id="b", attempt=1, commit="b" * 40))
    assert scrape(server)[QUEUE_SINCE] == 0
    feed(metrics, "A", 30, MergeQueued(task_id="c", attempt=1))
    assert scrape(server)[QUEUE_SINCE] == stamp(30)  # not the last exit, long before
    feed(metrics, "A", 31, RunFinished(outcome=Outcome.FAILED))
    assert scrape(server)[QUEUE_SINCE] == 0


def test_runs_whose_process_is_gone_are_counted(
    served: tuple[FactoryMetrics, MetricsServer],
) -> None:
    metrics, server = served
    for run in ("A", "B"):
        feed(metrics, run, 0, started())
    metrics.set_stopped("A", True)
    metrics.set_stopped("B", True)
    metrics.set_stopped("B", True)  # told twice: counted once
    assert scrape(server)["shopfloor_runs_stopped"] == 2
    feed(metrics, "A", 5, running("a"))  # resumed
    feed(metrics, "B", 5, RunFinished(outcome=Outcome.KILLED))
    assert scrape(server)["shopfloor_runs_stopped"] == 0


def test_a_gate_whose_every_run_was_a_cache_hit_serves_its_duration_series(
    served: tuple[FactoryMetrics, MetricsServer],
) -> None:
    """The example dashboard's gate-duration panels read ``shopfloor_gate_duration_seconds``
    by gate; a run whose gates all came from the gate cache observed no duration, and the
    series did not exist at all (the demo-scrape test failed whenever an earlier test had
    warmed the shared gate cache). Now it is served at count 0."""
    metrics, server = served
    feed(metrics, "r1", 0, started())
    hit = GateFinished(gate="lint", scope="task", task_id="t1", passed=True, summary="ok")
    feed(metrics, "r1", 1, hit.model_copy(update={"cached": True}))
    with urllib.request.urlopen(server.url, timeout=5) as response:
        text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("shopfloor_gate_duration_seconds_count", (("gate", "lint"),))] == 0
    assert samples[("shopfloor_gate_cache_hits_total", (("gate", "lint"),))] == 1
