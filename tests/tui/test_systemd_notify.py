"""A run under systemd speaks sd_notify: READY, STATUS lines, WATCHDOG pings, STOPPING.

There is no systemd here: the tests bind the datagram socket a unit's ``$NOTIFY_SOCKET``
names, run a real ``shopfloor demo`` with it, and read what the run sent, in order.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from demo_process import ROOT, cli
from notify_listener import NotifyListener, listening

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    BlueprintProposed,
    Merged,
    Outcome,
    RunFinished,
    RunStarted,
    TaskState,
    TaskStateChanged,
)
from engine.state import RunState
from tui.notify_target import NotifyTarget
from tui.systemd_notify import SystemdNotifier, status_line


@pytest.fixture
def listener() -> Iterator[tuple[str, NotifyListener]]:
    with listening() as heard:
        yield heard


def descendants(pid: int) -> list[int]:
    """The processes below ``pid``, from /proc (whatever their depth)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


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
        asked = heard.wait_for(r"escalation (\S+) waiting: (shopfloor answer .*)")
        escalation, how = asked.group(1), asked.group(2)
        # Meanwhile the run's children (its storage writer) inherited none of the variables.
        children = descendants(proc.pid)
        assert children, "the run has its storage writer"
        for child in children:
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except PermissionError:
                pytest.skip("a non-dumpable process's environ is root's to read")
            except FileNotFoundError:
                continue
            assert not [v for v in environ if v.startswith((b"NOTIFY_", b"WATCHDOG_"))]
        run = how.split()[-1]
        assert how == f"shopfloor answer {escalation} accept|change|reject --run {run}"
        # What the status says, typed with one of the options it names.
        answered = cli(home, "answer", escalation, "accept", "--run", run)
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
    # At 50 times the SIM's pace (its latencies are not what this is about), as above.
    demo = ["demo", "--headless", "--speed", "50", "--out", str(tmp_path / "repo")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *demo],
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


async def test_the_watchdog_pings_from_the_runs_loop_so_a_hung_loop_stops_them(
    listener: tuple[str, NotifyListener],
):
    address, heard = listener
    bus = EventBus("0123456789ab")
    notifier = SystemdNotifier.attach(NotifyTarget("\0" + address[1:], 0.05), bus)
    try:
        await asyncio.sleep(0.3)
        hung = time.monotonic()
        time.sleep(0.6)  # noqa: ASYNC251 - the loop hangs; a ping from a thread would not stop
        woke = time.monotonic()
        await asyncio.sleep(0.3)
    finally:
        await bus.close()
        await notifier.close()
    pings = [at for at, text in heard.messages if text == "WATCHDOG=1"]
    assert len([at for at in pings if at < hung]) >= 3
    assert [at for at in pings if hung + 0.1 < at < woke] == []
    assert len([at for at in pings if at > woke]) >= 3


def test_the_status_counts_a_merge_whose_task_state_the_log_lacks() -> None:
    """A process killed between a task's Merged and its MERGED state leaves the task in the
    merged list still merging; the status counts the merged list, as ``status`` does (it
    said "merged 1/2" for a run that shipped both)."""
    plan = Blueprint(
        spec="Greet.",
        acceptance_criteria=["greets"],
        tasks=[Task(id="core", title="Greet"), Task(id="cli", title="CLI", depends_on=["core"])],
    )
    merging = TaskStateChanged(task_id="cli", state=TaskState.MERGING, attempt=1)
    events = [
        RunStarted(
            request="Greet",
            repo="/r",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/wip/run-1",
        ),
        BlueprintProposed(blueprint=plan),
        Merged(task_id="core", attempt=1, commit="c" * 40),
        TaskStateChanged(task_id="core", state=TaskState.MERGED, attempt=1),
        merging,
        Merged(task_id="cli", attempt=1, commit="e" * 40),
        RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/greet", commit="e" * 40),
    ]
    state = RunState.fold(
        e.model_copy(update={"run_id": "run-1", "seq": i}) for i, e in enumerate(events, 1)
    )
    assert state.tasks["cli"].state is TaskState.MERGING
    assert status_line(state) == "run run-1: shipped, merged 2/2, branch shopfloor/greet"
