"""In a real terminal (tmux), keys typed in one burst right after the key that opens a text
box go into the box, not to the screen's bindings.

tmux's send-keys writes them in one go, as a paste does, or SSH when keys pile up: ``c``
then "add a test" in the escalation dialog approved the plan (the ``a`` of "add").
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.support.tmux_session import TmuxSession, tmux_session

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[2]

APP = """
import asyncio, sys
sys.path[:0] = [{repo!r}]
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import BlueprintProposed, EscalationRaised, RunStarted, Stage, StageChanged
from tui.app import ShopfloorApp

bus = EventBus("r-type-ahead")
out = open({out!r}, "a", encoding="utf-8")

async def feed() -> None:
    await asyncio.sleep(0.5)
    bus.emit(RunStarted(request="Add a greeting", repo="/srv", base_branch="main",
                        base_commit="0" * 40, integration_branch="wip", simulated=True))
    tasks = [Task(id="t1", title="Hi"), Task(id="t2", title="Bye")]
    bus.emit(BlueprintProposed(blueprint=Blueprint(spec="s", tasks=tasks)))
    bus.emit(StageChanged(stage=Stage.TWIN))
    bus.emit(EscalationRaised(escalation_id="esc-1", kind="twin", question="Accept the plan?",
                              options=["accept", "change", "reject"], default="reject"))
    await asyncio.sleep(3600)

async def on_decision(decision) -> None:
    out.write(f"{{decision.decision}}|{{decision.note}}\\n")
    out.flush()

ShopfloorApp(bus.subscribe("tui"), run_task=feed, on_decision=on_decision).run()
"""


def wait_for(session: TmuxSession, needle: str) -> str:
    deadline = time.monotonic() + 30
    screen = ""
    while time.monotonic() < deadline:
        screen = session.screen()
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared:\n{screen}")


def test_a_note_typed_fast_after_c_is_the_note_not_an_approval(tmp_path: Path) -> None:
    decided = tmp_path / "decided.txt"
    script = tmp_path / "app.py"
    script.write_text(APP.format(repo=str(REPO), out=str(decided)), encoding="utf-8")
    with tmux_session(sys.executable, str(script), width=120, height=40, cwd=REPO) as session:
        wait_for(session, "press e to answer")
        session.keys("e")
        wait_for(session, "decision needed")
        # One write: c, the note (its a, r and 1 are the dialog's keys), backspace, enter.
        session.keys("cadd a test for r1 x", literal=True)
        session.keys("BSpace", "BSpace", "Enter")
        deadline = time.monotonic() + 15
        # The app opens the file as it starts: wait for a line in it, not for the file.
        while time.monotonic() < deadline and not decided.read_text(encoding="utf-8"):
            time.sleep(0.2)
        time.sleep(0.5)  # a second decision, if one were sent
        assert decided.read_text(encoding="utf-8").splitlines() == ["change|add a test for r1"]


def test_a_search_typed_fast_after_slash_is_the_search_not_an_answer(tmp_path: Path) -> None:
    """ "/release" in one burst: its e opened the waiting escalation and its a approved it."""
    decided = tmp_path / "decided.txt"
    script = tmp_path / "app.py"
    script.write_text(APP.format(repo=str(REPO), out=str(decided)), encoding="utf-8")
    with tmux_session(sys.executable, str(script), width=120, height=40, cwd=REPO) as session:
        wait_for(session, "press e to answer")
        session.keys("/release", literal=True)
        wait_for(session, "release")
        time.sleep(1.0)  # a decision, if one were sent
        screen = session.screen()
        assert decided.read_text(encoding="utf-8") == ""
        assert "decision needed" not in screen and "press e to answer" in screen
        # The task filter takes its keys too: escape leaves the search, f opens the filter.
        session.keys("Escape")
        time.sleep(0.3)
        session.keys("fBye", literal=True)
        time.sleep(0.8)
        session.keys("Enter")
        time.sleep(0.5)
        screen = session.screen()
        assert "t2 Bye" in screen and "t1 Hi" not in screen  # the filter applied
        assert decided.read_text(encoding="utf-8") == ""
