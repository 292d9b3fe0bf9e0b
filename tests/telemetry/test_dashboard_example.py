"""The Grafana dashboard and the Prometheus scrape example use series that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from telemetry.metrics import FactoryMetrics

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def exposed_names() -> set[str]:
    names = set()
    for family in FactoryMetrics().registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_every_dashboard_query_uses_a_real_series() -> None:
    dashboard = json.loads((EXAMPLES / "grafana" / "shopfloor-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"shopfloor_[a-z_]+", target["expr"])
    }
    assert used and used <= exposed_names(), used - exposed_names()
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_scrape_example_targets_the_default_ports() -> None:
    config = yaml.safe_load((EXAMPLES / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    ]
    assert "127.0.0.1:9464" in targets
