"""``shopfloor serve-metrics`` stopped by a signal says so, as a stopped run does.

It is the long-lived endpoint a unit runs overnight; ``systemctl stop`` sends SIGTERM. Before,
SIGTERM killed the process where it stood: no line in the journal, and a death by signal
instead of the exit code 130 that a unit's ``SuccessExitStatus=130`` takes as a clean stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from demo_process import ROOT
from test_metrics_endpoint import free_port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_metrics_stopped_by_a_signal_says_it_stopped(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("SHOPFLOOR_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve-metrics", "--port", str(port), "--poll", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("serving metrics" in line for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert b"shopfloor_runs_active" in response.read()
        proc.send_signal(signum)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        reader.join(5)
    output = "".join(lines)
    assert proc.returncode == 130, output
    assert output.splitlines()[-1] == f"stopped serving metrics at {url}", output
    assert "Traceback" not in output
    with pytest.raises(OSError):  # the port is released
        urllib.request.urlopen(url, timeout=2)
