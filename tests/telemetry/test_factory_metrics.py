"""FactoryMetrics folds a run's events into Prometheus series with bounded labels."""

from __future__ import annotations

import telemetry_sample
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from engine.bus import EventBus
from engine.redaction import Redactor
from telemetry.metrics import FactoryMetrics, decided_by_kind


def samples(metrics: FactoryMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def folded(echo: str = "", redactor: Redactor | None = None) -> FactoryMetrics:
    bus = EventBus(telemetry_sample.RUN_ID)
    metrics = FactoryMetrics(redactor=redactor or Redactor(()))
    bus.listen(metrics.observe)
    telemetry_sample.whole_run(bus, echo=echo)
    return metrics


def test_series_match_the_run() -> None:
    found = samples(folded())
    assert value(found, "shopfloor_tasks", state="merged") == 2
    assert value(found, "shopfloor_tasks", state="running") == 0
    assert value(found, "shopfloor_attempts_total", outcome="merged") == 2
    assert value(found, "shopfloor_attempts_total", outcome="gates_failed") == 1
    assert value(found, "shopfloor_retries_total") == 1
    assert (
        value(found, "shopfloor_gate_runs_total", gate="tests", scope="task", result="passed") == 2
    )
    assert (
        value(found, "shopfloor_gate_runs_total", gate="tests", scope="task", result="failed") == 1
    )
    assert (
        value(found, "shopfloor_gate_runs_total", gate="tests", scope="merge", result="passed") == 2
    )
    assert value(found, "shopfloor_gate_cache_hits_total", gate="tests") == 1
    # Cache hits take no time: 3 task + 1 uncached merge + 1 verify gate were timed.
    assert value(found, "shopfloor_gate_duration_seconds_count", gate="tests") == 5
    llm = {"provider": "anthropic", "model": "claude-sonnet-4-5", "role": "engineer"}
    assert value(found, "shopfloor_llm_requests_total", **llm) == 3
    assert value(found, "shopfloor_llm_tokens_total", kind="input", **llm) == 3000
    assert value(found, "shopfloor_llm_tokens_total", kind="output", **llm) == 600
    assert value(found, "shopfloor_llm_tokens_total", kind="cache_read", **llm) == 150
    assert value(found, "shopfloor_llm_tokens_total", kind="cache_write", **llm) == 30
    assert abs(value(found, "shopfloor_llm_cost_usd_total", **llm) - 0.03) < 1e-9
    planner = {"provider": "anthropic", "model": "claude-opus", "role": "planner"}
    assert value(found, "shopfloor_llm_requests_total", **planner) == 1
    assert (
        value(
            found,
            "shopfloor_llm_latency_seconds_bucket",
            provider="anthropic",
            model="claude-opus",
            le="5.0",
        )
        == 1
    )
    assert value(found, "shopfloor_escalations_open") == 0
    assert value(found, "shopfloor_escalations_raised_total", kind="circuit_breaker") == 1
    assert value(found, "shopfloor_escalations_decided_total", decided_by_kind="human") == 1
    assert value(found, "shopfloor_merge_queue_depth") == 0
    assert value(found, "shopfloor_budget_used_ratio", limit="tokens") == 0.425
    assert value(found, "shopfloor_budget_used_ratio", limit="cost") == 0.5
    assert value(found, "shopfloor_budget_used_ratio", limit="time") == 0.25
    assert value(found, "shopfloor_task_time_to_merge_seconds_count") == 2
    assert value(found, "shopfloor_first_attempt_acceptance_ratio") == 0.5
    assert abs(value(found, "shopfloor_rework_ratio") - 1 / 3) < 1e-9
    assert value(found, "shopfloor_agent_runs_total", role="engineer", result="ok") == 3
    assert value(found, "shopfloor_agent_runs_total", role="planner", result="ok") == 1
    assert value(found, "shopfloor_runs_total", outcome="shipped") == 1
    assert value(found, "shopfloor_runs_active") == 0
    assert all(v == 0 for (name, _), v in found.items() if name == "shopfloor_stage")


def test_gauges_follow_a_run_in_progress() -> None:
    bus = EventBus("live")
    metrics = FactoryMetrics(redactor=Redactor(()))
    bus.listen(metrics.observe)
    telemetry_sample.start(bus)
    found = samples(metrics)
    assert value(found, "shopfloor_stage", stage="build") == 1
    assert value(found, "shopfloor_tasks", state="pending") == 2
    assert value(found, "shopfloor_runs_active") == 1
    from engine.events import EscalationRaised, MergeQueued, TaskState, TaskStateChanged

    bus.emit(TaskStateChanged(task_id="a", state=TaskState.MERGING, attempt=1))
    bus.emit(MergeQueued(task_id="a", attempt=1))
    bus.emit(EscalationRaised(escalation_id="esc-1", question="?", options=["approve"]))
    found = samples(metrics)
    assert value(found, "shopfloor_merge_queue_depth") == 1
    assert value(found, "shopfloor_escalations_open") == 1
    assert value(found, "shopfloor_tasks", state="merging") == 1
    assert value(found, "shopfloor_tasks", state="pending") == 1


def test_no_run_or_task_id_is_a_label_value() -> None:
    found = samples(folded())
    label_values = {v for (_, labels), _ in found.items() for _, v in labels}
    for forbidden in (telemetry_sample.RUN_ID, "a", "b", "esc-1", "engineer:a:a1"):
        assert forbidden not in label_values


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = FactoryMetrics(), FactoryMetrics(CollectorRegistry())
    first.retries.inc()
    assert first.registry is not second.registry
    assert value(samples(second), "shopfloor_retries_total") == 0


def test_label_values_are_redacted() -> None:
    canary = "sk-ant-canary-1234567890abcdef"
    bus = EventBus("r")
    metrics = FactoryMetrics(redactor=Redactor([canary]))
    bus.listen(metrics.observe)
    from engine.events import GateFinished

    bus.emit(GateFinished(gate=f"custom {canary}", scope="task", passed=True, summary="ok"))
    text = metrics.render().decode()
    assert canary not in text and "[REDACTED]" in text


def test_decided_by_kinds() -> None:
    assert decided_by_kind("human:ana") == "human"
    assert decided_by_kind("twin") == "twin"
    assert decided_by_kind("policy:reject") == "policy"
    assert decided_by_kind("timeout") == "timeout"
    assert decided_by_kind("martian") == "other"
