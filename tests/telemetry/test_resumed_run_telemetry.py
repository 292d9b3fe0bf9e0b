"""Telemetry of a resumed run: the process that carries on a run sees no RunStarted.

``shopfloor resume`` builds its bus from the stored log's state and emits only what happens
from then on. Before, its /metrics showed ``shopfloor_runs_active 0`` for the whole resumed run
and task gauges holding only what the new process changed (tasks merged before the crash
missing), and its trace had no root: every stage it went through became a trace of its own.
"""

from __future__ import annotations

import pytest
import telemetry_sample
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_factory_metrics import samples, value

from engine.bus import EventBus
from engine.events import EventBase, Outcome, RunFinished, RunResumed, Stage, StageChanged
from engine.redaction import Redactor
from engine.state import RunState
from telemetry.metrics import FactoryMetrics
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry


def first_process() -> list[EventBase]:
    """What the first process stored before it died: task ``a`` merged, ``b`` under way."""
    recorded: list[EventBase] = []
    bus = EventBus(telemetry_sample.RUN_ID)
    bus.listen(recorded.append)
    telemetry_sample.start(bus)
    telemetry_sample.attempt(bus, "a", 1, passes=True)
    telemetry_sample.attempt(bus, "b", 1, passes=False)
    return recorded


async def test_a_resumed_run_is_active_with_its_stored_progress_and_one_rooted_trace() -> None:
    state = RunState.fold(first_process())
    exporter = InMemorySpanExporter()
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()), exporters=[exporter])
    bus = EventBus(telemetry_sample.RUN_ID, state=state)  # as `shopfloor resume` builds it
    telemetry.attach(bus)

    bus.emit(RunResumed(restarted=["b"]))
    bus.emit(StageChanged(stage=Stage.BUILD))
    await bus.drain()
    during = samples(telemetry.metrics)
    assert value(during, "shopfloor_runs_active") == 1
    assert value(during, "shopfloor_stage", stage="build") == 1
    assert value(during, "shopfloor_tasks", state="merged") == 1  # a, merged before the crash

    telemetry_sample.attempt(bus, "b", 2, passes=True)
    bus.emit(StageChanged(stage=Stage.SHIP))
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/done"))
    await bus.close()
    await telemetry.close()

    after = samples(telemetry.metrics)
    assert value(after, "shopfloor_runs_active") == 0
    assert value(after, "shopfloor_tasks", state="merged") == 2  # as `status` says: 2/2
    assert value(after, "shopfloor_tasks", state="gates") == 0
    assert value(after, "shopfloor_stage", stage="ship") == 0
    assert value(after, "shopfloor_runs_total", outcome="shipped") == 1

    spans = list(exporter.get_finished_spans())
    assert len({s.context.trace_id for s in spans}) == 1
    # This process records the run's end, so it writes the run's root; its own span and
    # its stages hang on it.
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    (top,) = [s for s in spans if s.attributes.get("shopfloor.resumed")]
    assert top.name == "resume create"
    assert top.attributes["shopfloor.run_id"] == telemetry_sample.RUN_ID
    assert top.parent is not None and top.parent.span_id == root.context.span_id
    stages = [s.name for s in spans if s.parent and s.parent.span_id == root.context.span_id]
    assert sorted(stages) == ["resume create", "stage build", "stage ship"]


async def test_a_run_started_here_is_not_taken_over_twice() -> None:
    exporter = InMemorySpanExporter()
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()), exporters=[exporter])
    bus = EventBus(telemetry_sample.RUN_ID)  # a new run: its state is empty
    telemetry.attach(bus)
    telemetry_sample.whole_run(bus)
    await bus.close()
    await telemetry.close()
    found = samples(telemetry.metrics)
    assert value(found, "shopfloor_runs_active") == 0
    assert value(found, "shopfloor_tasks", state="merged") == 2
    roots = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert [r.name for r in roots] == ["run create"]
    assert "shopfloor.resumed" not in roots[0].attributes
    assert [s.name for s in exporter.get_finished_spans() if "resume" in s.name] == []


def total(found: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


async def test_a_resumed_runs_counters_go_on_from_its_totals_in_the_log() -> None:
    """Before, a resumed process's spend and token counters restarted at zero: a dashboard
    of the run showed what the last process spent, not the run. Now they start from the
    stored events and end where ``serve-metrics`` (a replay of the whole log) ends them."""
    stored = first_process()
    state = RunState.fold(stored)
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()))
    bus = EventBus(telemetry_sample.RUN_ID, state=state)
    later: list[EventBase] = []
    bus.listen(later.append)
    telemetry.attach(bus, stored)
    at_resume = samples(telemetry.metrics)
    assert total(at_resume, "shopfloor_llm_cost_usd_total") == pytest.approx(state.cost_usd)
    assert state.cost_usd > 0
    tokens = (
        total(at_resume, "shopfloor_llm_tokens_total", kind="input")
        + total(at_resume, "shopfloor_llm_tokens_total", kind="cache_read")
        + total(at_resume, "shopfloor_llm_tokens_total", kind="cache_write")
    )
    assert tokens == state.input_tokens
    assert value(at_resume, "shopfloor_runs_active") == 1  # counted once, not twice

    bus.emit(RunResumed(restarted=["b"]))
    telemetry_sample.attempt(bus, "b", 2, passes=True)
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/done"))
    await bus.close()
    await telemetry.close()
    live = samples(telemetry.metrics)
    replayed = FactoryMetrics(redactor=Redactor(()))
    replayed.observe_all([*stored, *later])
    from_log = samples(replayed)
    for name in (
        "shopfloor_llm_cost_usd_total",
        "shopfloor_llm_tokens_total",
        "shopfloor_llm_requests_total",
        "shopfloor_attempts_total",
        "shopfloor_gate_runs_total",
        "shopfloor_runs_active",
        "shopfloor_tasks",
    ):
        assert total(live, name) == pytest.approx(total(from_log, name)), name
    assert total(live, "shopfloor_llm_cost_usd_total") == pytest.approx(bus.state.cost_usd)
