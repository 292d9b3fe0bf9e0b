"""What the monitoring examples ask of /metrics, and what in it they ask for but do not get.

The alert rules (``examples/prometheus/shopfloor-alerts.yml``) and the Grafana dashboard
(``examples/grafana/shopfloor-dashboard.json``) are PromQL. Each expression is parsed with
promql-parser (the Python binding of the Rust parser GreptimeDB maintains), and every
selector in it is held against a scrape of the real endpoint: its metric must be served; each
label it matches on must be one of that metric's; a value it asks for by equality (or by a
plain ``a|b`` alternation) must be one the endpoint serves; and the labels an aggregation
groups by or a binary operator matches on must be labels of the metrics in that expression.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALERTS = EXAMPLES / "prometheus" / "shopfloor-alerts.yml"
DASHBOARD = EXAMPLES / "grafana" / "shopfloor-dashboard.json"
SCRAPE_CONFIG = EXAMPLES / "prometheus" / "prometheus.yml"

TARGET_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus puts on every series it scrapes."""
PROMETHEUS_OWN = {"up": frozenset()}
"""Series Prometheus writes itself for each target, with their labels (besides the target's)."""
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".*",
}
PLAIN_ALTERNATION = re.compile(r"[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*")


@dataclass
class Served:
    """One scrape: each sample name's label names, and the values each label took."""

    labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    values: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def parse(cls, text: str) -> Served:
        served = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                served.labels[sample.name].update(sample.labels)
                for label, value in sample.labels.items():
                    served.values[sample.name, label].add(value)
        return served


def alert_rules() -> list[dict[str, object]]:
    """Every rule of the alert file, in order."""
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard, its variables included."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    variables = dashboard["templating"]["list"]
    queries.extend(
        (f"variable {v['name']}", v["definition"]) for v in variables if v["type"] == "query"
    )
    return queries


def scrape_jobs() -> set[str]:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    return {job["job_name"] for job in config["scrape_configs"]}


def parsed(expr: str) -> promql_parser.Expr:
    """``expr`` with Grafana's variables given values, parsed; ``label_values(m, l)`` (a
    Grafana query, not PromQL) is read as ``count by (l) (m)``."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    if found := re.fullmatch(r"label_values\((.+),\s*(\w+)\)", expr.strip()):
        expr = f"count by ({found[2]}) ({found[1]})"
    return promql_parser.parse(expr)


def problems(expr: str, served: Served) -> list[str]:
    """What in ``expr`` the scrape ``served`` does not have (empty: all of it is there)."""
    selectors: list[promql_parser.VectorSelector] = []
    grouping: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                grouping.update(node.modifier.matching.labels)
            grouping.update(node.modifier.group_labels or ())

    promql_parser.walk(parsed(expr), visit)
    found: list[str] = []
    known = set(TARGET_LABELS)
    for selector in selectors:
        name = selector.name
        if name in PROMETHEUS_OWN:
            labels = set(PROMETHEUS_OWN[name])
        elif name in served.labels:
            labels = served.labels[name]
        else:
            found.append(f"{name}: not served")
            continue
        known |= labels
        for matcher in selector.matchers.matchers:
            found.extend(_matcher_problems(name, matcher, labels, served))
    found.extend(f"grouped by {label}: no metric here has it" for label in grouping - known)
    return found


def _matcher_problems(
    name: str, matcher: promql_parser.Matcher, labels: set[str], served: Served
) -> list[str]:
    label, value, op = matcher.name, matcher.value, matcher.op
    if label == "__name__":
        return []
    if label not in labels | TARGET_LABELS:
        return [f"{name}{{{label}}}: no such label"]
    if label == "job":
        if op == promql_parser.MatchOp.Equal and value not in scrape_jobs():
            return [f'{name}{{job="{value}"}}: no such job in prometheus.yml']
        return []
    if label in TARGET_LABELS:
        return []
    if op == promql_parser.MatchOp.Equal:
        wanted = {value}
    elif op == promql_parser.MatchOp.Re and PLAIN_ALTERNATION.fullmatch(value):
        wanted = set(value.split("|"))
    else:
        return []
    return [
        f'{name}{{{label}="{missing}"}}: never served'
        for missing in sorted(wanted - served.values[name, label])
    ]
