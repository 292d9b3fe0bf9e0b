"""A run that serves no /metrics and exports no trace loads neither Prometheus's client nor
the OpenTelemetry SDK, and folds no metrics.

Every run made a :class:`~telemetry.session.RunTelemetry` whatever it was asked: ~0.1 s of
CPU loading the two libraries before ``RunStarted`` (every demo, every test that starts a
factory), and a subscriber folding each event into series nothing could scrape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.options import TelemetryOptions

EXPORTERS = ("opentelemetry", "prometheus_client", "telemetry.session")

PROBE = """
import json, sys
from pathlib import Path
from telemetry.options import TelemetryOptions
from tui.run_telemetry import start_telemetry
import tui.commands.run, tui.compose

given = {options!r}
if "trace_file" in given:
    given["trace_file"] = Path(given["trace_file"])
options = TelemetryOptions(**given)
telemetry = start_telemetry(options)
print(json.dumps([telemetry is not None, sorted(m for m in {exporters!r} if m in sys.modules)]))
"""


def start_fresh(options: dict[str, object], env: dict[str, str]) -> tuple[bool, list[str]]:
    """The composition root's telemetry for ``options`` in a fresh interpreter: whether it
    made one, and which of :data:`EXPORTERS` it loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(options=options, exporters=EXPORTERS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    made, loaded = json.loads(result.stdout.splitlines()[-1])
    return made, loaded


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def test_a_run_asking_for_nothing_loads_no_exporter(quiet_env: dict[str, str]) -> None:
    assert start_fresh({}, quiet_env) == (False, [])


def test_a_trace_file_still_loads_the_tracer(quiet_env: dict[str, str], tmp_path: Path) -> None:
    made, loaded = start_fresh({"trace_file": str(tmp_path / "spans.jsonl")}, quiet_env)
    assert made
    assert "opentelemetry" in loaded


@pytest.mark.parametrize(
    ("options", "env", "wanted"),
    [
        (TelemetryOptions(), {}, False),
        (TelemetryOptions(metrics_linger_s=5.0, otel_content=True), {}, False),
        (TelemetryOptions(metrics_port=0), {}, True),
        (TelemetryOptions(trace_file=Path("spans.jsonl")), {}, True),
        (TelemetryOptions(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        (TelemetryOptions(), {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/traces"}, True),
        (TelemetryOptions(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
    ids=["nothing", "linger, content", "port", "trace file", "otlp", "otlp traces", "blank"],
)
def test_telemetry_is_wanted_when_something_could_see_it(
    options: TelemetryOptions, env: dict[str, str], wanted: bool
) -> None:
    assert options.wanted(env) is wanted
