"""The factory runs without the TUI: importing the core never loads textual or tui.

Every module of engine, agents, gates, storage and telemetry is imported in a fresh
interpreter (so nothing the test run already imported can hide a leak), then sys.modules is
checked. import-linter states the same contract statically; this catches runtime imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_importing_the_core_does_not_import_textual_or_tui() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(core=CORE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(CORE) <= set(report["imported"])
    assert any(name.startswith("engine.") for name in report["imported"])
    assert report["leaks"] == [], f"the core imported {report['leaks']}"


def test_headless_reporting_does_not_need_textual() -> None:
    probe = (
        "import sys, tui.headless; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_cli_loads_no_model_sdk_until_a_run_asks_for_one() -> None:
    # Loading anthropic and google-genai took ~2.5 s of every command's start on a slow
    # machine: `shopfloor status` or `approve` from another shell should not pay for them.
    probe = (
        "import json, sys\n"
        "import tui.cli\n"
        "tui.cli.build_parser()\n"
        "print(json.dumps(sorted(m for m in ('anthropic', 'google.genai') if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
