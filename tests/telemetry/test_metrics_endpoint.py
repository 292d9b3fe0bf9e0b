"""/metrics over real HTTP during a demo run, parsed with prometheus_client's parser."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from monitoring_examples import Served, alert_rules, dashboard_queries, problems
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-ant-canary-e2e-9c1f0b7d3a5e42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = scrape_text(port)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def test_scrape_metrics_during_a_demo_run(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    share_gate_cache(tmp_path / "home")
    port = free_port()
    trace = tmp_path / "trace.jsonl"
    env = {
        **os.environ,
        "SHOPFLOOR_HOME": str(tmp_path / "home"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "SHOPFLOOR_E2E_API_KEY": CANARY,
    }
    env.pop("SHOPFLOOR_DB", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    argv = [sys.executable, "-m", "tui.cli", "demo", "--headless", "--speed", "50"]
    argv += ["--max-tokens", "100000000", "--max-cost", "1000"]  # as overnight: a budget
    argv += ["--metrics-port", str(port), "--metrics-linger", "60", "--trace-file", str(trace)]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        during = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if during is None:  # scraped until it shows the run going, then left to run
                try:
                    found = scrape(port)
                except OSError:
                    time.sleep(0.05)
                    continue
                if total(found, "shopfloor_runs_active") == 1:
                    during = found
            if any("run finished" in line for line in lines):
                break
            time.sleep(0.1)
        assert during is not None, "".join(lines)
        assert any("run finished: shipped" in line for line in lines), "".join(lines)
        final = scrape(port)
        served = Served.parse(scrape_text(port))
    finally:
        # SIGTERM while the endpoint lingers: it cuts the linger short, after the flush.
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(5)
    assert proc.returncode == 0, "".join(lines)

    # While the run was going: one run active, in one stage.
    assert total(during, "shopfloor_stage") == 1
    # At the end: consistent with the demo (6 tasks, one retried after a failing gate).
    assert total(final, "shopfloor_tasks", state="merged") == 6
    assert total(final, "shopfloor_tasks") == 6
    assert total(final, "shopfloor_runs_total", outcome="shipped") == 1
    assert total(final, "shopfloor_runs_active") == 0
    requests = total(final, "shopfloor_llm_requests_total")
    assert requests > 0
    assert total(final, "shopfloor_llm_latency_seconds_count") == requests
    assert total(final, "shopfloor_llm_tokens_total", kind="input") > 0
    assert total(final, "shopfloor_llm_requests_total", provider="sim", role="engineer") > 0
    merged_attempts = total(final, "shopfloor_attempts_total", outcome="merged")
    assert merged_attempts == 6
    merge_gates = total(final, "shopfloor_gate_runs_total", scope="merge", result="passed")
    assert merge_gates >= 6 and merge_gates % 6 == 0  # every merge ran every merge gate
    assert total(final, "shopfloor_retries_total") >= 1  # the demo's pricing task is retried
    assert total(final, "shopfloor_gate_runs_total", scope="task", result="failed") >= 1
    assert total(final, "shopfloor_task_time_to_merge_seconds_count") == 6
    first = total(final, "shopfloor_tasks_merged_first_attempt_total")
    assert 0 < first < 6
    assert total(final, "shopfloor_first_attempt_acceptance_ratio") == pytest.approx(first / 6)
    assert total(final, "shopfloor_merge_queue_depth") == 0
    assert total(final, "shopfloor_agent_runs_total", role="engineer", result="ok") >= 6
    spans = [json.loads(line) for line in trace.read_text().splitlines()]
    (run,) = [s for s in spans if s["parent_id"] is None]
    labels = {v for (_, ls) in final for _, v in ls}
    assert run["attributes"]["shopfloor.run_id"] not in labels
    assert not {"models", "stock", "pricing", "csv_io", "reports", "cli"} & labels  # task ids
    assert sum(1 for s in spans if s["parent_id"] is None) == 1
    assert sum(1 for s in spans if s["name"].startswith("task ")) == 6
    output = "".join(lines)
    assert CANARY not in output and CANARY not in trace.read_text()
    # The example alerts and dashboard ask for nothing the demo's endpoint does not serve.
    queries = [str(rule["expr"]) for rule in alert_rules()]
    queries += [expr for _, expr in dashboard_queries()]
    missing = [problems(expr, served) for expr in queries]
    assert not [found for found in missing if found]


def test_a_scraped_demo_exits_once_a_scrape_saw_it_end(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """No --metrics-linger, scraped every 3 s from the start as Prometheus would: the
    process's last answer says the run ended (runs_active 0), so ShopfloorFactoryDown stays
    quiet. Before, the process exited right after the run and the last scrape said 1."""
    share_gate_cache(tmp_path / "home")
    port = free_port()
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env["COLUMNS"] = "200"
    env.pop("SHOPFLOOR_DB", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    argv = [sys.executable, "-m", "tui.cli", "demo", "--headless", "--speed", "50"]
    proc = subprocess.Popen(
        [*argv, "--metrics-port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[float] = []

    def scrape_every_3_seconds() -> None:
        while proc.poll() is None:
            try:
                seen.append(total(scrape(port), "shopfloor_runs_active"))
            except OSError:
                pass
            time.sleep(3)

    scraper = threading.Thread(target=scrape_every_3_seconds, daemon=True)
    scraper.start()
    try:
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        scraper.join(5)
    assert proc.returncode == 0, output[-2000:]
    assert 1 in seen, "never scraped while the run went on"
    assert seen[-1] == 0, seen[-5:]
    # It waited, and said so, unless a scrape came during its closing steps already.
    said = [line for line in output.splitlines() if "for a last scrape of" in line]
    assert len(said) <= 1, said
    # Two intervals as measured between the scrapes seen (3 s apart, and later under load:
    # a clean clone's line did not say 6), or the 60 s cap when only one was seen.
    waits = [re.match(r"waiting up to (\d+) s for a last scrape of http://", line) for line in said]
    assert all(m is not None and 6 <= int(m.group(1)) <= 60 for m in waits), said
