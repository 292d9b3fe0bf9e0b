"""A run under systemd speaks sd_notify: READY, STATUS lines, WATCHDOG pings, STOPPING.

There is no systemd here: the tests bind the datagram socket a unit's ``$NOTIFY_SOCKET``
names, run a real ``shopfloor demo`` with it, and read what the run sent, in order.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from demo_process import ROOT, cli

from tui.systemd_notify import NotifyTarget


class NotifyListener:
    """The service manager's end: a datagram socket collecting what the run sends."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, message in list(self.messages):
                if found := re.search(pattern, message):
                    return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {self.messages}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[tuple[str, NotifyListener]]:
    name = f"shopfloor-test-{secrets.token_hex(4)}"
    heard = NotifyListener("\0" + name)  # an abstract socket, as systemd's may be
    try:
        yield "@" + name, heard
    finally:
        heard.close()


def test_a_demo_under_systemd_says_ready_its_status_the_escalation_pings_and_stopping(
    tmp_path: Path,
    listener: tuple[str, NotifyListener],
    share_gate_cache: Callable[[Path], None],
):
    address, heard = listener
    home = tmp_path / "home"
    share_gate_cache(home)
    env = {
        **os.environ,
        "SHOPFLOOR_HOME": str(home),
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "200000",  # a ping every 0.1 s
    }
    env.pop("SHOPFLOOR_DB", None)
    # The twin's question waits for a person: the status line says how to answer it.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "demo",
            "--headless",
            "--speed",
            "50",
            "--escalations",
            "wait",
            "--out",
            str(tmp_path / "repo"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        asked = heard.wait_for(r"escalation (\S+) waiting: (shopfloor approve\|reject\|change .*)")
        escalation, how = asked.group(1), asked.group(2)
        assert how == f"shopfloor approve|reject|change {escalation} --run {how.split()[-1]}"
        answered = cli(home, "approve", escalation, "--run", how.split()[-1])
        assert answered.returncode == 0, answered.stdout + answered.stderr
        out, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out[-3000:]
    time.sleep(0.2)  # the last datagram is in the socket's queue already
    messages = [text for _, text in heard.messages]
    said = [text for text in messages if text != "WATCHDOG=1"]
    pings = len(messages) - len(said)
    run_id = re.search(r"run (\w+) SIM: shipped", out)
    assert run_id is not None, out[-2000:]
    run = run_id.group(1)
    # READY first, once the run started, with its first status.
    assert said[0].startswith(f"READY=1\nSTATUS=run {run} SIM: "), said[:3]
    assert sum("READY=1" in text for text in said) == 1
    statuses = [line[len("STATUS=") :] for text in said for line in text.split("\n")[-1:]]
    assert all(line.startswith(f"run {run} SIM: ") for line in statuses), statuses
    # The stages in the order the run passed them, tasks merged counted up to all six.
    stages = [s.split(": ")[1].split(",")[0] for s in statuses]
    order = ["critic", "blueprint", "review", "twin", "build", "qc", "verify", "ship"]
    seen = [stage for stage in dict.fromkeys(stages) if stage in order]
    assert seen == order, stages
    merged = [int(m.group(1)) for s in statuses if (m := re.search(r"merged (\d)/6", s))]
    assert merged == sorted(merged) and merged[-1] == 6, statuses
    # The end: STOPPING with the outcome, the last thing said.
    assert said[-1].startswith("STOPPING=1\nSTATUS="), said[-3:]
    assert f"run {run} SIM: shipped, merged 6/6, branch shopfloor/" in said[-1]
    assert sum("STOPPING=1" in text for text in said) == 1
    assert all("\n" not in line for line in statuses)
    # The loop pinged the watchdog all along (a run of several seconds, every 0.1 s).
    assert pings >= 10, messages


def test_without_notify_socket_nothing_is_sent_and_the_variables_are_taken_out():
    environ = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "42", "A": "b"}
    target = NotifyTarget.take(environ, pid=42)
    assert target == NotifyTarget("\0x", 1.5)
    assert environ == {"A": "b"}  # nothing the run starts inherits them
    assert NotifyTarget.take({"WATCHDOG_USEC": "3000000"}) is None
    assert NotifyTarget.take({"NOTIFY_SOCKET": "relative/path"}) is None


def test_the_watchdog_is_for_the_process_systemd_names():
    assert NotifyTarget.take(
        {"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "41"}, pid=42
    ) == NotifyTarget("/run/n", None)
    assert NotifyTarget.take({"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "0"}, pid=42) == (
        NotifyTarget("/run/n", None)
    )


def test_a_stop_signal_says_stopping_at_once_with_the_resume_command(
    tmp_path: Path, listener: tuple[str, NotifyListener], share_gate_cache: Callable[[Path], None]
):
    address, heard = listener
    home = tmp_path / "home"
    share_gate_cache(home)
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NOTIFY_SOCKET": address}
    env.pop("SHOPFLOOR_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "demo", "--headless", "--out", str(tmp_path / "repo")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run = heard.wait_for(r"STATUS=run (\w+) SIM: build").group(1)
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out[-2000:]  # stopped by a person: resumable
    time.sleep(0.2)
    said = [text for _, text in heard.messages]
    assert "WATCHDOG=1" not in said  # no $WATCHDOG_USEC: no pings
    assert said[0].startswith("READY=1\n")
    stopping = [text for text in said if text.startswith("STOPPING=1\n")]
    assert len(stopping) == 1 and stopping[0] == said[-1], said[-3:]
    assert stopping[0].startswith(f"STOPPING=1\nSTATUS=run {run} SIM: build, merged ")
    assert stopping[0].endswith(f"; stopping, resumable: shopfloor resume {run}")


def test_a_run_stopped_on_its_budget_says_the_resume_that_raises_it(
    tmp_path: Path, listener: tuple[str, NotifyListener], share_gate_cache: Callable[[Path], None]
):
    address, heard = listener
    home = tmp_path / "home"
    share_gate_cache(home)
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NOTIFY_SOCKET": address}
    env.pop("SHOPFLOOR_DB", None)
    # Nobody answers the budget's question: its timeout stops the run, resumable.
    ended = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "demo",
            "--headless",
            "--speed",
            "50",
            "--max-tokens",
            "1000",
            "--escalation-timeout",
            "0.5",
            "--out",
            str(tmp_path / "repo"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ended.returncode == 130, ended.stdout[-2000:] + ended.stderr[-2000:]
    time.sleep(0.2)
    said = [text for _, text in heard.messages]
    command = re.search(r"`(shopfloor resume \w+ --max-tokens \d+)` carries it on", ended.stdout)
    assert command is not None, ended.stdout[-2000:]
    assert said[-1].startswith("STOPPING=1\nSTATUS="), said[-3:]
    assert said[-1].endswith(f"; stopping, resumable: {command.group(1)}"), said[-1]
