"""SIGINT, SIGTERM and SIGHUP: the first stops a run gracefully, the second exits at once.

The unit tests send real signals to this process while a loop has the handlers installed;
the end-to-end tests stop a real ``shopfloor demo`` with SIGTERM (as ``systemctl stop``
does) and by hanging up its terminal (as a dropped SSH session does), and resume each to
shipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from demo_process import ROOT, cli, stored_events
from own_terminal import OwnTerminal
from stored_log import open_escalation_ids

from engine.interrupt import ShutdownSignals, run_interruptible


async def _signal_soon(signum: signal.Signals, delay: float = 0.05) -> None:
    await asyncio.sleep(delay)
    os.kill(os.getpid(), signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
async def test_first_signal_cancels_the_run_and_returns_none(signum: signal.Signals) -> None:
    cleaned = asyncio.Event()

    async def run() -> str:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()  # the run's own cleanup runs: it is cancelled, not killed
        return "finished"

    exits: list[int] = []
    poke = asyncio.create_task(_signal_soon(signum))
    assert await run_interruptible(run, hard_exit=exits.append) is None
    await poke
    assert cleaned.is_set()
    # A first signal never exits the process. (The loop swallows what a signal handler
    # raises, so a stand-in like ``pytest.fail`` could not have failed the test.)
    assert exits == []
    # The handlers are gone afterwards: the default action is back.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_second_signal_exits_at_once_with_128_plus_its_number() -> None:
    exits: list[int] = []

    async def stubborn() -> str:
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                if exits:
                    return "stopped by the hard exit"
                await asyncio.sleep(0.2)  # a slow cleanup the second signal will not wait for
                if exits:
                    return "stopped by the hard exit"
                raise

    async def poke() -> None:
        await _signal_soon(signal.SIGINT)
        await _signal_soon(signal.SIGTERM)

    poker = asyncio.create_task(poke())
    result = await run_interruptible(stubborn, hard_exit=exits.append)
    await poker
    assert exits == [128 + signal.SIGTERM]
    assert result == "stopped by the hard exit"


async def test_a_run_that_ends_by_itself_returns_its_result() -> None:
    async def run() -> int:
        await asyncio.sleep(0)
        return 42

    exits: list[int] = []
    assert await run_interruptible(run, hard_exit=exits.append) == 42
    assert exits == []


async def test_shutdown_signals_set_stopping_then_exit_on_the_second() -> None:
    exits: list[int] = []
    with ShutdownSignals(hard_exit=exits.append).installed() as shutdown:
        await _signal_soon(signal.SIGTERM, 0)
        await asyncio.wait_for(shutdown.stopping.wait(), 5)
        assert exits == []
        await _signal_soon(signal.SIGINT, 0)
        for _ in range(100):
            if exits:
                break
            await asyncio.sleep(0.01)
    assert exits == [128 + signal.SIGINT]


def start_headless_demo(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[str], Path]:
    """A headless ``shopfloor demo`` at speed 50 in its own data folder; returns the
    process and that folder."""
    home = tmp_path / "home"
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    argv = [sys.executable, "-m", "tui.cli", "demo", "--headless", "--speed", "50", *options]
    proc = subprocess.Popen(
        [*argv, "--out", str(tmp_path / "repo")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, home


def sigterm_once(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> str:
    """Send SIGTERM once ``ready()`` holds (90 s at most, the demo still running); the
    demo's whole output. The demo is killed if anything here fails."""
    deadline = time.monotonic() + 90
    try:
        while not ready():
            assert proc.poll() is None, "the demo finished before the signal; send it earlier"
            assert time.monotonic() < deadline, "the demo never got to where the signal goes"
            time.sleep(0.02)
        assert proc.poll() is None, "the demo finished before the signal; send it earlier"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return output


def test_sigterm_stops_a_demo_which_resumes_to_shipped(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    proc, home = start_headless_demo(tmp_path)
    db = home / "shopfloor.db"
    output = sigterm_once(proc, lambda: stored_events(db)[0] >= 40)
    assert proc.returncode == 130, output[-2000:]
    assert "interrupted" in output and "Traceback" not in output, output[-2000:]
    _, run_id = stored_events(db)
    assert run_id is not None
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "running"  # stopped, resumable; not failed
    # The graceful stop removed the attempts' worktrees; nothing is left running.
    share_gate_cache(home)
    resumed = cli(home, "resume", run_id, "--headless")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    assert sorted(status["merged"]) == sorted(t["id"] for t in status["tasks"])


def test_a_second_sigterm_exits_at_once_while_the_stop_waits_on_the_database(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """``systemctl stop`` sends SIGTERM, and a person who sees it hang sends another (or
    presses Ctrl-C twice). The graceful stop waits for the last events to be stored; with
    the database locked by another process, the second signal only asked it to hurry (the
    signal that stopped the run did not count), and the process stayed until the lock was
    let go. Now it exits at once with 143, and the run resumes from what was committed."""
    proc, home = start_headless_demo(tmp_path)
    db = home / "shopfloor.db"
    lock: sqlite3.Connection | None = None
    try:
        deadline = time.monotonic() + 90
        while stored_events(db)[0] < 40:
            assert proc.poll() is None and time.monotonic() < deadline, "the demo never got far"
            time.sleep(0.02)
        lock = sqlite3.connect(db, isolation_level=None, timeout=30)
        lock.execute("BEGIN IMMEDIATE")  # the writer's next batch waits for this
        time.sleep(1.0)  # the run goes on, its events pile up unstored
        assert proc.poll() is None, "the demo finished before the signal; send it earlier"
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None  # still storing its last events, as it should
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)  # before: alive until the lock went
        assert proc.returncode == 128 + signal.SIGTERM
    finally:
        if lock is not None:
            lock.execute("COMMIT")
            lock.close()
        if proc.poll() is None:
            proc.kill()
        output, _ = proc.communicate(timeout=10)
    assert "Traceback" not in output, output[-2000:]
    _, run_id = stored_events(db)
    assert run_id is not None
    # The closing lines had no time: the process said nothing at all of how to go on.
    assert output.endswith(
        f"shopfloor: exited at once; `shopfloor resume {run_id}` carries the run on\n"
    ), output[-2000:]
    share_gate_cache(home)
    resumed = cli(home, "resume", run_id, "--headless")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    assert sorted(status["merged"]) == sorted(t["id"] for t in status["tasks"])


def test_a_run_stopped_by_sigterm_does_not_wait_out_the_metrics_linger(tmp_path: Path) -> None:
    """``--metrics-linger`` keeps /metrics up after a run ends for a last scrape; a run that
    ``systemctl stop`` stopped is not one to linger for (systemd kills what is still there
    after its grace period). Before, the process stayed the whole linger (20.8 s for 20)."""
    proc, home = start_headless_demo(tmp_path, "--metrics-port", "0", "--metrics-linger", "60")
    db = home / "shopfloor.db"
    deadline = time.monotonic() + 90
    try:
        while stored_events(db)[0] < 40:
            assert proc.poll() is None and time.monotonic() < deadline, "the demo never got far"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, output[-2000:]
    assert "shopfloor resume" in output and "Traceback" not in output, output[-2000:]


def test_a_run_waiting_for_a_human_resumes_with_the_twin_answering(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """A run left waiting on a human (``--escalations wait``, as a TUI run is) is stopped
    while it waits; ``resume --escalations twin`` carries it on unwatched, and the policy
    it resumed with is what the log says from then on."""
    proc, home = start_headless_demo(tmp_path, "--escalations", "wait")
    db = home / "shopfloor.db"
    waiting: list[dict[str, object]] = []

    def escalation_waits() -> bool:
        _, run_id = stored_events(db)
        if run_id is not None and open_escalation_ids(db, run_id):
            # What a person would look at: the escalation as ``shopfloor escalations`` lists it.
            waiting[:] = json.loads(cli(home, "escalations", run_id, "--json").stdout or "[]")
        return bool(waiting)

    output = sigterm_once(proc, escalation_waits)
    assert waiting, "the demo raised no escalation for a human"
    assert proc.returncode == 130, output[-2000:]
    assert "waiting for a human" in output
    _, run_id = stored_events(db)
    assert run_id is not None

    trace = tmp_path / "resumed-spans.jsonl"
    share_gate_cache(home)
    resumed = cli(
        home, "resume", run_id, "--headless", "--escalations", "twin", "--trace-file", str(trace)
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "waiting for a human" not in resumed.stdout
    spans = [json.loads(line) for line in trace.read_text().splitlines()]
    assert spans  # telemetry is asked for again by the resuming process, and it gets it
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    events = [json.loads(line) for line in cli(home, "export", run_id).stdout.splitlines()]
    decided = {
        e["escalation_id"]: e["decided_by"] for e in events if e["type"] == "EscalationResolved"
    }
    assert decided[str(waiting[0]["id"])].startswith("twin")
    resumes = [e for e in events if e["type"] == "RunResumed"]
    assert [r["settings"]["escalation_policy"] for r in resumes] == ["twin"]


def test_a_run_stopped_while_its_plan_waits_for_a_human_is_not_planned_again(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """Stopped while the reviewed plan waits on the twin's escalation, answered from another
    shell meanwhile, resumed: the answer is taken for that plan. The critic, planner,
    reviewers and twin are not run again (with real models: paid again, and a new plan with
    a new question that the answer given to the old one would not reach)."""
    proc, home = start_headless_demo(tmp_path, "--escalations", "wait")
    db = home / "shopfloor.db"

    def escalation_waits() -> bool:
        _, run_id = stored_events(db)
        return run_id is not None and bool(open_escalation_ids(db, run_id))

    output = sigterm_once(proc, escalation_waits)
    assert proc.returncode == 130, output[-2000:]
    _, run_id = stored_events(db)
    assert run_id is not None
    (waiting,) = open_escalation_ids(db, run_id)

    def exported() -> list[dict[str, object]]:
        return [json.loads(line) for line in cli(home, "export", run_id).stdout.splitlines()]

    def planning(events: list[dict[str, object]]) -> list[tuple[object, ...]]:
        """What planning did: its agents, stages, plans and escalations."""
        return [
            (e["type"], e.get("role") or e.get("stage"))
            for e in events
            if e["type"] in ("EscalationRaised", "BlueprintProposed")
            or (
                e["type"] == "AgentStarted"
                and e["role"] in ("critic", "planner", "reviewer", "twin")
            )
            or (
                e["type"] == "StageChanged"
                and e["stage"] in ("critic", "blueprint", "review", "twin")
            )
        ]

    before = planning(exported())
    approved = cli(home, "approve", waiting, "--run", run_id)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    share_gate_cache(home)
    resumed = cli(home, "resume", run_id, "--headless")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    events = exported()
    resumed_at = next(i for i, e in enumerate(events) if e["type"] == "RunResumed")
    assert planning(events[:resumed_at]) == before
    assert planning(events[resumed_at:]) == []  # nothing of the planning is done again
    decided = [e for e in events if e["type"] == "EscalationResolved"]
    assert [(e["escalation_id"], e["decision"]) for e in decided] == [(waiting, "accept")]
    assert str(decided[0]["decided_by"]).startswith("human:")
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]


@pytest.mark.parametrize(
    ("front", "moment"),
    [
        ("--headless", "under way"),
        ("--tui", "under way"),
        ("--tui", "waiting on a human"),
    ],
    ids=["--headless", "--tui", "--tui-dialog-open"],
)
def test_a_terminal_hang_up_stops_a_demo_which_resumes_to_shipped(
    tmp_path: Path, front: str, moment: str, share_gate_cache: Callable[[Path], None]
) -> None:
    """The demo runs on a terminal of its own (a pty it controls, as a login shell's child
    does); closing the terminal's other end is an SSH connection dropping: the kernel sends
    SIGHUP, and every later write to the terminal fails. Headless, the console stops; in
    the TUI, the app quits as its quit key makes it. Either way the run stops like Ctrl-C.

    Waiting on a human, the TUI shows the escalation dialog and draws nothing more: the
    hang-up finds the dialog open. (Such a quiet TUI never got the hang-up while the test
    held its end of the terminal in a read; see tests/support/own_terminal.py.)"""
    home = tmp_path / "home"
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    argv = [sys.executable, "-m", "tui.cli", "demo", front, "--speed", "50"]
    terminal = OwnTerminal([*argv, "--out", str(tmp_path / "repo")], cwd=ROOT, env=env)
    proc = terminal.proc
    db = home / "shopfloor.db"

    def under_way() -> bool:
        # The run is under way and the terminal shows it (the TUI draws late on a busy
        # machine).
        return stored_events(db)[0] >= 40 and b"SIM" in terminal.shown

    deadline = time.monotonic() + 90
    try:
        if moment == "under way":
            while time.monotonic() < deadline and proc.poll() is None and not under_way():
                time.sleep(0.02)
            assert proc.poll() is None, "the demo finished before the hang-up; hang up earlier"
            assert under_way(), "the demo never got far"
        else:
            terminal.wait_for(b"press e to answer", within_s=90)  # the run waits on a human
            terminal.type(b"e")
            terminal.wait_for(b"Accept")  # the dialog is open: its keys in its footer
        terminal.hang_up()  # the connection drops
        proc.wait(timeout=60)
    finally:
        terminal.close()
    assert proc.returncode == 130  # stopped like Ctrl-C, not killed and not crashed
    _, run_id = stored_events(db)
    assert run_id is not None
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "running"  # stopped, resumable
    # ... and said so: its log ends with RunInterrupted, not as a crash's (the TUI's ended
    # so, the bus closed while the app's cancelled worker still unwound the run)
    said = cli(home, "status", run_id).stdout
    assert "the run was interrupted at " in said and "a signal or a crash" not in said
    share_gate_cache(home)
    resumed = resume_answering_escalations(home, run_id)
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    assert sorted(status["merged"]) == sorted(t["id"] for t in status["tasks"])


def resume_answering_escalations(home: Path, run_id: str) -> subprocess.CompletedProcess[str]:
    """``resume --headless``, approving from this process what the run asks a human (a run
    started in the TUI keeps its ``wait`` policy), until it ends."""
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    argv = [sys.executable, "-m", "tui.cli", "resume", run_id, "--headless"]
    resumed = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    approved: set[str] = set()
    try:
        deadline = time.monotonic() + 120
        while resumed.poll() is None and time.monotonic() < deadline:
            for escalation_id in open_escalation_ids(home / "shopfloor.db", run_id):
                if escalation_id not in approved:
                    if cli(home, "approve", escalation_id, "--run", run_id).returncode == 0:
                        approved.add(escalation_id)
            time.sleep(0.1)
        output, _ = resumed.communicate(timeout=60)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.wait(10)
    return subprocess.CompletedProcess(argv, resumed.returncode, output, "")
