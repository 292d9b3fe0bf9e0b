"""``shopfloor serve-metrics`` stopped by a signal says so, as a stopped run does.

It is the long-lived endpoint a unit runs overnight; ``systemctl stop`` sends SIGTERM. Before,
SIGTERM killed the process where it stood: no line in the journal, and a death by signal
instead of the exit code 130 that a unit's ``SuccessExitStatus=130`` takes as a clean stop.
"""

from __future__ import annotations

import os
import signal
import socket
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


def serve_metrics_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("SHOPFLOOR_DB", None)
    return env


def test_serve_metrics_stopped_while_its_database_does_not_answer_says_so(
    tmp_path: Path,
) -> None:
    """A signal while it opens the database (or folds its runs) is a stop like any other:
    before, it killed the process where it stood, with no line (measured: a PostgreSQL
    that accepts connections and says nothing, SIGTERM 4 s in: death by SIGTERM)."""
    mute = socket.create_server(("127.0.0.1", 0))
    port = mute.getsockname()[1]
    db = f"postgresql://postgres@127.0.0.1:{port}/shopfloor"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve-metrics", "--port", "0", "--db", db],
        cwd=ROOT,
        env=serve_metrics_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        mute.settimeout(60)
        connection, _ = mute.accept()  # it is opening the store
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
        connection.close()
    finally:
        mute.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, output
    assert output == "stopped serving metrics before it served any\n"


HOOK = """
import os, signal, sys

class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "prometheus_client":  # the command is loading what it runs on
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{signal})
        return None

sys.meta_path.insert(0, SignalOnImport())
from tui.cli import main
sys.exit(main(["serve-metrics", "--port", "0"]))
"""


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_command_stopped_while_it_loads_says_so(tmp_path: Path, signum: str) -> None:
    """The command's modules load for a second or more before its event loop handles
    signals: SIGTERM or a hang-up then killed it with no line, Ctrl-C printed a traceback."""
    done = subprocess.run(
        [sys.executable, "-c", HOOK.format(signal=signum)],
        cwd=ROOT,
        env=serve_metrics_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "shopfloor: interrupted\n")
