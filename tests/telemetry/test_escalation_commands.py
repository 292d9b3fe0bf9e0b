"""Approve, reject or answer with a named option, from a second process, an escalation of a
running headless demo."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from escalation_records import open_escalation
from stored_log import open_escalation_ids

from tui.commands.escalations import choose_option
from tui.commands.exit_codes import UsageError

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "tui.cli", "demo", "--headless", "--speed", "50"]


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("SHOPFLOOR_DB", None)
    return env


def shopfloor(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for_escalation(home: Path, demo: subprocess.Popen[str]) -> dict[str, object]:
    """The escalation the demo waits on, as ``shopfloor escalations`` lists it once the log
    has one (the log is polled directly: a poll of the command costs a process)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and demo.poll() is None:
        if open_escalation_ids(home / "shopfloor.db"):
            listed = shopfloor(home, "escalations", "--json")
            assert listed.returncode == 0, listed.stderr
            if found := json.loads(listed.stdout):
                (escalation,) = found
                return dict(escalation)
        time.sleep(0.1)
    raise AssertionError(f"no escalation was raised (demo exit {demo.poll()})")


def start_demo(home: Path) -> subprocess.Popen[str]:
    """The headless demo, waiting for a human, its events as JSON lines."""
    return subprocess.Popen(
        [*DEMO, "--escalations", "wait", "--log-format", "json"],
        cwd=ROOT,
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_demo_and_decide(home: Path, *decide: str) -> tuple[int, str, dict[str, object], str]:
    """The demo answered by ``shopfloor DECIDE... ID``."""
    demo = start_demo(home)
    try:
        escalation = wait_for_escalation(home, demo)
        answer = shopfloor(home, *decide, str(escalation["id"]))
        assert answer.returncode == 0, answer.stderr
        out, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    return demo.returncode, out, escalation, answer.stdout


@pytest.mark.e2e
def test_approve_from_another_process_lets_the_run_ship(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    share_gate_cache(tmp_path)
    code, out, escalation, answer = run_demo_and_decide(tmp_path, "approve", "--note", "fine")
    assert escalation["kind"] == "twin" and "accept" in escalation["options"]
    assert "accept posted for escalation" in answer
    events = [json.loads(line) for line in out.splitlines()]
    (resolved,) = [e for e in events if e["type"] == "EscalationResolved"]
    assert resolved["decision"] == "accept"
    assert resolved["decided_by"] == f"human:{getpass.getuser()}"
    assert resolved["note"] == "fine"
    assert events[-1]["type"] == "RunFinished" and events[-1]["outcome"] == "shipped"
    assert code == 0
    assert json.loads(shopfloor(tmp_path, "escalations", "--json").stdout) == []


@pytest.mark.e2e
def test_reject_from_another_process_ends_the_run(tmp_path: Path) -> None:
    code, out, _, _ = run_demo_and_decide(tmp_path, "reject", "--reason", "not now")
    events = [json.loads(line) for line in out.splitlines()]
    (resolved,) = [e for e in events if e["type"] == "EscalationResolved"]
    assert resolved["decision"] == "reject" and resolved["note"] == "not now"
    assert events[-1]["type"] == "RunFinished"
    assert events[-1]["outcome"] in ("killed", "failed")
    assert code in (1, 3)
    assert not any(e["type"] == "Merged" for e in events)


@pytest.mark.e2e
def test_answer_names_the_option_and_refuses_one_not_offered(tmp_path: Path) -> None:
    """``answer ID OPTION`` picks any of the escalation's options; one it does not offer
    (the twin's question has no ``abort``) is refused in one line naming those it does,
    and the run goes on waiting for a right one."""
    demo = start_demo(tmp_path)
    try:
        escalation = wait_for_escalation(tmp_path, demo)
        esc = str(escalation["id"])
        assert escalation["commands"] == {
            o: f"shopfloor answer {esc} {o}{' --note TEXT' if o == 'change' else ''}"
            f" --run {escalation['run_id']}"
            for o in ("accept", "change", "reject")
        }
        refused = shopfloor(tmp_path, "answer", esc, "abort")
        assert refused.returncode == 2
        assert refused.stderr.splitlines() == [
            f"shopfloor: escalation {esc} has no option 'abort'; its options: "
            "accept, change, reject"
        ]
        answer = shopfloor(tmp_path, "answer", esc, "reject", "--note", "not now")
        assert answer.returncode == 0, answer.stderr
        assert f"reject posted for escalation {esc}" in answer.stdout
        out, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    events = [json.loads(line) for line in out.splitlines()]
    (resolved,) = [e for e in events if e["type"] == "EscalationResolved"]
    assert (resolved["decision"], resolved["note"]) == ("reject", "not now")
    assert events[-1]["type"] == "RunFinished" and events[-1]["outcome"] in ("killed", "failed")


def test_deciding_an_unknown_escalation_is_one_line(tmp_path: Path) -> None:
    proc = shopfloor(tmp_path, "approve", "esc-9")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "shopfloor: no such escalation 'esc-9'; `shopfloor escalations` lists those waiting"
    ]
    listed = shopfloor(tmp_path, "escalations")
    assert listed.returncode == 0 and "no escalations waiting" in listed.stdout


def test_each_verb_maps_to_the_option_the_escalation_offers() -> None:
    record = open_escalation
    assert choose_option("approve", record("retry", "skip", "abort")) == "retry"
    assert choose_option("reject", record("retry", "skip", "abort")) == "skip"
    assert choose_option("approve", record("raise", "stop")) == "raise"
    assert choose_option("change", record("approve", "revise", "reject")) == "revise"
    assert choose_option("approve", record("Accept", "Reject")) == "Accept"  # as the dialog's a
    with pytest.raises(UsageError, match="has no change option; its options: raise, stop"):
        choose_option("change", record("raise", "stop"))
