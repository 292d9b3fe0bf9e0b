"""The alert rules, the Grafana dashboard and the scrape config in examples/ hold up.

Every series they ask for is what the real /metrics endpoint serves after a run
(``monitoring_examples``); the rule file is a Prometheus rule file, which promtool accepts,
and each alert fires in a scenario where it should and stays quiet in one where it should
not (``promtool test rules``); the dashboard is Grafana's JSON model on a Prometheus
datasource variable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import telemetry_sample
import yaml
from monitoring_examples import (
    ALERTS,
    DASHBOARD,
    SCRAPE_CONFIG,
    Served,
    alert_rules,
    dashboard_queries,
    problems,
)

from engine.bus import EventBus
from engine.redaction import Redactor
from telemetry.metrics import FactoryMetrics
from telemetry.session import MetricsServer


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A scrape of the real endpoint after a run like the demo's, with a retry, a gate that
    failed, an escalation and a merge."""
    metrics = FactoryMetrics(redactor=Redactor(()))
    server = MetricsServer(metrics, "127.0.0.1", 0)
    try:
        bus = EventBus(telemetry_sample.RUN_ID)
        bus.listen(metrics.observe)
        telemetry_sample.whole_run(bus)
        with urllib.request.urlopen(server.url, timeout=5) as response:
            yield Served.parse(response.read().decode())
    finally:
        server.close()


def test_every_alert_asks_only_for_served_series(served: Served) -> None:
    missing = {rule["alert"]: problems(str(rule["expr"]), served) for rule in alert_rules()}
    assert not {alert: found for alert, found in missing.items() if found}


def test_every_dashboard_query_asks_only_for_served_series(served: Served) -> None:
    missing = [
        (title, found) for title, expr in dashboard_queries() if (found := problems(expr, served))
    ]
    assert not missing


def test_the_check_finds_what_is_not_served(served: Served) -> None:
    """The two tests above would pass on anything if the check saw nothing."""
    assert problems("rate(shopfloor_no_such_total[5m])", served) == [
        "shopfloor_no_such_total: not served"
    ]
    assert problems('shopfloor_tasks{colour="red"}', served) == [
        "shopfloor_tasks{colour}: no such label"
    ]
    assert problems('shopfloor_tasks{state=~"merged|lost"}', served) == [
        'shopfloor_tasks{state="lost"}: never served'
    ]
    assert problems('sum by (role) (shopfloor_tasks{job=~"$job"})', served) == [
        "grouped by role: no metric here has it"
    ]
    assert problems('up{job="nightly"} == 0', served) == [
        'up{job="nightly"}: no such job in prometheus.yml'
    ]
    assert problems("label_values(shopfloor_runs_active, job)", served) == []


SEVERITIES = {"page", "ticket"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")


def test_the_alert_file_is_a_prometheus_rule_file() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    rules = alert_rules()
    alerts = [rule["alert"] for rule in rules]
    assert len(alerts) == len(set(alerts))
    for rule in rules:
        assert set(rule) <= RULE_KEYS and {"alert", "expr"} <= set(rule), rule
        assert re.fullmatch(r"Shopfloor[A-Z][A-Za-z]+", str(rule["alert"])), rule["alert"]
        assert isinstance(rule["expr"], str)
        assert DURATION.fullmatch(str(rule.get("for", "0s"))), rule
        assert rule["labels"]["severity"] in SEVERITIES, rule
        assert {"summary", "description"} <= set(rule["annotations"]), rule
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    assert ALERTS.name in config["rule_files"]


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    source = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == source and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source and target["expr"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    titles = {p["title"] for p in panels}
    for wanted in ("Tasks merged / total", "Stage", "Escalations waiting", "Merge queue depth"):
        assert wanted in titles


def test_scrape_example_targets_the_default_ports() -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    targets = [
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    ]
    assert "127.0.0.1:9464" in targets


# -- promtool -----------------------------------------------------------------------------------

RUN = {"job": "shopfloor-run", "instance": "factory:9464"}
HISTORY = {"job": "shopfloor-history", "instance": "factory:9465"}


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    where = {**RUN, **labels}
    text = ",".join(f'{k}="{v}"' for k, v in where.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def fires(
    alert: str, at: str, inputs: list[dict[str, str]], *expected: dict[str, str]
) -> dict[str, Any]:
    """A promtool test case: ``alert`` at ``at`` is firing with exactly ``expected``
    labels (besides its own), or not at all when none are given."""
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in alert_rules()}[alert]
    return {
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": {"severity": severity, **e}} for e in expected],
            }
        ],
    }


# Unix time in promtool's tests starts at 0: a timestamp gauge of 60 says "at minute one".
SCENARIOS = [
    fires(
        "ShopfloorRunStalled",
        "40m",
        [series("shopfloor_last_progress_timestamp_seconds", "60x60")],
        RUN,
    ),
    fires(
        "ShopfloorRunStalled", "20m", [series("shopfloor_last_progress_timestamp_seconds", "60x60")]
    ),
    fires(
        "ShopfloorRunStalled", "40m", [series("shopfloor_last_progress_timestamp_seconds", "0x60")]
    ),
    fires(
        "ShopfloorEscalationWaiting",
        "20m",
        [series("shopfloor_escalations_oldest_open_timestamp_seconds", "120x30")],
        RUN,
    ),
    fires(
        "ShopfloorEscalationWaiting",
        "10m",
        [series("shopfloor_escalations_oldest_open_timestamp_seconds", "120x30")],
    ),
    fires(
        "ShopfloorEscalationWaiting",
        "20m",
        [series("shopfloor_escalations_oldest_open_timestamp_seconds", "0x30")],
    ),
    fires(
        "ShopfloorBudgetNearLimit",
        "5m",
        [
            series("shopfloor_budget_used_ratio", "0.85x10", limit="cost"),
            series("shopfloor_runs_active", "1x10"),
        ],
        {**RUN, "limit": "cost"},
    ),
    fires(
        "ShopfloorBudgetNearLimit",
        "5m",
        [
            series("shopfloor_budget_used_ratio", "0.85x10", limit="cost"),
            series("shopfloor_runs_active", "0x10"),
        ],
    ),
    fires(
        "ShopfloorBudgetNearLimit",
        "5m",
        [
            series("shopfloor_budget_used_ratio", "1.1x10", limit="cost"),
            series("shopfloor_runs_active", "1x10"),
        ],
    ),
    fires(
        "ShopfloorBudgetExceeded",
        "5m",
        [
            series("shopfloor_budget_used_ratio", "1.1x10", limit="tokens"),
            series("shopfloor_runs_active", "1x10"),
        ],
        {**RUN, "limit": "tokens"},
    ),
    fires(
        "ShopfloorCircuitBreakerTripped",
        "5m",
        [
            series("shopfloor_escalations_raised_total", "0 0 0 1 1 1", kind="circuit_breaker"),
            series("shopfloor_escalations_raised_total", "0 1 2 3 4 5", kind="twin"),
        ],
        {**RUN, "kind": "circuit_breaker"},
    ),
    fires(
        "ShopfloorCircuitBreakerTripped",
        "5m",
        [
            series("shopfloor_escalations_raised_total", "0x5", kind="circuit_breaker"),
            series("shopfloor_escalations_raised_total", "0 1 2 3 4 5", kind="twin"),
        ],
    ),
    fires(
        "ShopfloorRunFailed",
        "5m",
        [series("shopfloor_runs_total", "0 0 1 1 1 1", outcome="failed")],
        {**RUN, "outcome": "failed"},
    ),
    fires(
        "ShopfloorRunFailed",
        "5m",
        [series("shopfloor_runs_total", "0 0 1 1 1 1", outcome="shipped")],
    ),
    fires(
        "ShopfloorMergeQueueRed",
        "5m",
        [series("shopfloor_attempts_total", "0 1 2 2 2 2", outcome="merge_gates_failed")],
        {**RUN, "outcome": "merge_gates_failed"},
    ),
    fires(
        "ShopfloorMergeQueueRed",
        "5m",
        [series("shopfloor_attempts_total", "0 1 1 1 1 1", outcome="merge_gates_failed")],
    ),
    fires(
        "ShopfloorMergeQueueStuck",
        "40m",
        [series("shopfloor_merge_queue_waiting_since_timestamp_seconds", "60x60")],
        RUN,
    ),
    fires(
        "ShopfloorMergeQueueStuck",
        "40m",
        [series("shopfloor_merge_queue_waiting_since_timestamp_seconds", "0x60")],
    ),
    fires(
        "ShopfloorRunProcessGone",
        "10m",
        [series("shopfloor_runs_stopped", "1x10", **HISTORY)],
        HISTORY,
    ),
    fires("ShopfloorRunProcessGone", "3m", [series("shopfloor_runs_stopped", "1x10", **HISTORY)]),
    # Killed mid-run: the last scrape said a run was under way, then the target went down.
    fires(
        "ShopfloorFactoryDown",
        "8m",
        [series("up", "1 1 1 0 0 0 0 0 0"), series("shopfloor_runs_active", "1 1 1 stale")],
        RUN,
    ),
    # Ended, and its endpoint waited for a scrape to see it end (runs_active 0): quiet.
    fires(
        "ShopfloorFactoryDown",
        "8m",
        [series("up", "1 1 1 0 0 0 0 0 0"), series("shopfloor_runs_active", "1 1 0 stale")],
    ),
    fires("ShopfloorMetricsServerDown", "10m", [series("up", "0x10", **HISTORY)], {}),
    fires("ShopfloorMetricsServerDown", "10m", [series("up", "1x10", **HISTORY)]),
    fires(
        "ShopfloorStorageRetrying",
        "5m",
        [
            series("shopfloor_storage_retrying", "0 0 0 0 0 0"),
            series("shopfloor_storage_write_retries_total", "0 0 0 1 1 1"),
        ],
        RUN,
    ),
    fires(
        "ShopfloorStorageRetrying",
        "5m",
        [
            series("shopfloor_storage_retrying", "0 0 1 0 0 0"),
            series("shopfloor_storage_write_retries_total", "1x5"),
        ],
        RUN,
    ),
    fires(
        "ShopfloorStorageRetrying",
        "5m",
        [
            series("shopfloor_storage_retrying", "0x5"),
            series("shopfloor_storage_write_retries_total", "1x5"),
        ],
    ),
]


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs the prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_promtool_accepts_the_rules_and_the_config_that_loads_them(promtool: str) -> None:
    for argv in (["check", "rules", str(ALERTS)], ["check", "config", str(SCRAPE_CONFIG)]):
        done = subprocess.run([promtool, *argv], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_each_alert_fires_when_it_should_and_only_then(promtool: str, tmp_path: Path) -> None:
    tested = {
        case["alert_rule_test"][0]["alertname"]
        for case in SCENARIOS
        if case["alert_rule_test"][0]["exp_alerts"]
    }
    assert tested == {rule["alert"] for rule in alert_rules()}  # a new alert needs a scenario
    # promtool compares annotations too; their wording is checked by `check rules` above.
    document = yaml.safe_load(ALERTS.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(document))
    cases = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": SCENARIOS}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(cases))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
