"""The factory runs without the TUI: importing the core never loads textual or tui.

Every module of engine, agents, gates, storage and telemetry is imported in a fresh
interpreter (so nothing the test run already imported can hide a leak), then sys.modules is
checked. import-linter states the same contract statically; this catches runtime imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tui

ROOT = Path(__file__).resolve().parents[1]
CORE = ["engine", "agents", "gates", "storage", "telemetry"]

PROBE = """
import importlib, json, pkgutil, sys
core = {core!r}
imported = []
for name in core:
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
leaks = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "tui"))
print(json.dumps({{"imported": imported, "leaks": leaks}}))
"""


def run_probe(code: str, env: dict[str, str] | None = None) -> str:
    """What ``code`` prints in a fresh interpreter (nothing this test run imported)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_core_does_not_import_textual_or_tui() -> None:
    report = json.loads(run_probe(PROBE.format(core=CORE)).splitlines()[-1])
    assert set(CORE) <= set(report["imported"])
    assert any(name.startswith("engine.") for name in report["imported"])
    assert report["leaks"] == [], f"the core imported {report['leaks']}"


def test_headless_reporting_does_not_need_textual() -> None:
    probe = (
        "import sys, tui.headless; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    assert run_probe(probe) == "[]"


FPS_PROBE = "import tui, textual.constants; print(textual.constants.MAX_FPS)"


def test_the_tui_sets_textuals_frame_rate_unless_the_environment_does() -> None:
    bare = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    assert run_probe(FPS_PROBE, env=bare) == str(tui.FRAME_RATE)
    assert run_probe(FPS_PROBE, env=bare | {"TEXTUAL_FPS": "30"}) == "30"


QUICK_PROBE = """
import json, sys
import tui.cli
words = {words!r}
parser = tui.cli.build_parser(words[0] if words else None)
if words:
    parser.parse_args(words).handler.load()
heavy = ("anthropic", "google.genai", "textual", "tui.compose", "httpx", "opentelemetry.sdk",
         "gates.pytest_gate")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


@pytest.mark.parametrize(
    ("words", "loaded"),
    [
        # A quick command typed from another shell loads the store and nothing of a run,
        # its handler's module included: status reads one key of gates.interpreter, and
        # importing the gates package loaded every gate (~80 ms).
        (["status", "RUN"], []),
        (["approve", "ID"], []),
        # Every command registered (help, a mistyped name): no SDK (loading anthropic and
        # google-genai took ~2.5 s of every start on a slow machine), nor the run's wiring,
        # nor Textual or OpenTelemetry: the parsers name their handlers, not import them.
        ([], []),
    ],
)
def test_a_command_loads_only_what_it_needs(words: list[str], loaded: list[str]) -> None:
    assert json.loads(run_probe(QUICK_PROBE.format(words=words))) == loaded
