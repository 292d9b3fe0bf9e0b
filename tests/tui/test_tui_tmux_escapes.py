"""In a real terminal (tmux), an agent's escape sequences must not act on the terminal.

An agent that prints ``ESC[2J`` or an OSC title change used to have them written to the
terminal as they were: the screen was cleared under the app and the window renamed.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.support.tmux_session import tmux_session

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[2]

APP = """
import asyncio, sys
sys.path[:0] = [{repo!r}]
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentOutput, AgentStarted, BlueprintProposed, RunStarted, Stage, StageChanged,
)
from tui.app import ShopfloorApp

ESC, BEL = "\\x1b", "\\x07"
bus = EventBus("r-tmux")

async def feed() -> None:
    await asyncio.sleep(0.5)
    bus.emit(RunStarted(request="Add a greeting", repo="/srv", base_branch="main",
                        base_commit="0" * 40, integration_branch="wip", simulated=True))
    title = f"Greeting {{ESC}}]2;PWNED-BY-TITLE{{BEL}}module"
    bus.emit(BlueprintProposed(blueprint=Blueprint(spec="s", tasks=[Task(id="t1", title=title)])))
    bus.emit(StageChanged(stage=Stage.BUILD))
    bus.emit(AgentStarted(agent_id="engineer:t1:a1", role="engineer", model="sim:",
                          simulated=True, task_id="t1", attempt=1))
    for text in ("first line", f"{{ESC}}[2J{{ESC}}[H{{ESC}}[41mcleared?{{BEL}}",
                 f"{{ESC}}]2;PWNED-BY-OUTPUT{{BEL}}titled?", "last line"):
        bus.emit(AgentOutput(agent_id="engineer:t1:a1", text=text))
    await asyncio.sleep(3600)

ShopfloorApp(bus.subscribe("tui"), run_task=feed).run()
"""


def test_an_agents_escape_sequences_do_not_clear_or_rename_the_terminal(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP.format(repo=str(REPO)), encoding="utf-8")
    with tmux_session(width=120, height=30, cwd=REPO) as session:
        session.tmux("set-option", "-t", "main", "allow-rename", "on")
        session.keys(f"{sys.executable} {script}", "Enter")
        deadline = time.monotonic() + 30
        screen = ""
        while time.monotonic() < deadline:
            screen = session.screen()
            if "last line" in screen:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the agent's last line never appeared:\n{screen}")
        time.sleep(0.5)  # any late effect of the sequences
        screen = session.screen()
        titles = session.tmux("display-message", "-p", "-t", "main", "#{pane_title}|#{window_name}")
        assert "PWNED" not in titles
        assert "run r-tmux" in screen  # the header was not cleared away
        assert "first line" in screen and "cleared?" in screen and "titled?" in screen
        assert "Greeting module" in screen
