"""How the run's agents stand, as the run screen's budget line and ``status`` say it.

The line said "agents 1 running / 76": every agent ever started as the denominator, which
grows all night and says nothing (a retry, a reviewer, the twin all count). It now says the
agents at work, those done and those that failed; and an agent of a run no process drives
any more is not "running" but cut off. ``status`` prints the same counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sample_run
from pilot_helpers import caught_up
from test_plan_view import RUN_ID, db, started

from engine import loop as event_loop
from engine.bus import EventBus
from engine.events import AgentFinished, AgentStarted, EventBase, Outcome, RunFinished, RunResumed
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.cli import main
from tui.widgets.agent_table import AgentTable
from tui.widgets.run_header import BudgetStrip

__all__ = ["db"]  # the fixture, imported for the status tests

SIZE = (120, 40)


def agents(running: int, done: int, failed: int) -> list[EventBase]:
    """``running + done + failed`` engineers on t1, the first ``done`` finish well, the next
    ``failed`` finish failing, the rest run on."""
    events: list[EventBase] = []
    for n in range(running + done + failed):
        agent_id = sample_run.engineer_id("t1", n + 1)
        events.append(
            AgentStarted(
                agent_id=agent_id, role="engineer", model="sim:", simulated=True,
                task_id="t1", attempt=n + 1,
            )
        )  # fmt: skip
        if n < done + failed:
            events.append(AgentFinished(agent_id=agent_id, ok=n < done, summary=""))
    return events


def totals(app: ShopfloorApp) -> str:
    return str(app.screen.query_one(BudgetStrip).content)


async def test_the_budget_line_counts_agents_at_work_done_and_failed() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        for event in agents(running=2, done=5, failed=1):
            bus.emit(event)
        await caught_up(app, bus, pilot)
        assert "agents 2 running · 5 done · 1 failed  tokens" in totals(app)
        assert "/ 8" not in totals(app)

        app.main.show_stopped(True)  # the run's process was killed: nothing runs
        await pilot.pause()
        assert "agents 0 running · 5 done · 1 failed · 2 cut off" in totals(app)
        app.main.show_stopped(False)  # resumed elsewhere
        await pilot.pause()
        assert "agents 2 running · 5 done · 1 failed  tokens" in totals(app)


def standing(app: ShopfloorApp, agent_id: str) -> tuple[str, str]:
    """How the agent table's row and the log's title say ``agent_id`` stands."""
    row = str(app.screen.query_one(AgentTable).row_cells(agent_id)[1])
    title = str(app.screen.query_one(".agent-log--title").content)  # type: ignore[attr-defined]
    assert agent_id in title
    return row, next(w for w in ("running", "done", "failed", "cut off") if w in title)


async def test_the_agent_table_and_the_log_title_say_cut_off_as_the_budget_line_does() -> None:
    """Before, a stopped or ended run's agents without an end were "running" in the agent
    table and the log's title while the line below counted them cut off; and after a
    resume, the killed process's agents stayed running in the fold for good."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    cut = sample_run.engineer_id("t1", 2)  # started, never finished: t1's log shows it
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        for event in agents(running=1, done=1, failed=0):
            bus.emit(event)
        await caught_up(app, bus, pilot)
        assert standing(app, cut) == ("running", "running")
        app.main.show_stopped(True)  # attached, and the run's process was killed
        await pilot.pause(0.3)
        assert standing(app, cut) == ("cut off", "cut off")
        assert "· 1 cut off" in totals(app)
        app.main.show_stopped(False)  # resumed elsewhere: the log shows what it restarts
        bus.emit(RunResumed(restarted=["t1"]))
        await caught_up(app, bus, pilot)
        assert standing(app, cut) == ("cut off", "cut off")
        assert "agents 0 running · 1 done · 1 cut off" in totals(app)
        restarted = AgentStarted(
            agent_id=cut, role="engineer", model="sim:", simulated=True, task_id="t1", attempt=2
        )
        bus.emit(restarted)  # the resume restarts the attempt under its agent id
        await caught_up(app, bus, pilot)
        assert standing(app, cut) == ("running", "running")
        bus.emit(RunFinished(outcome=Outcome.FAILED, reason="disk full"))  # ended around it
        await caught_up(app, bus, pilot)
        assert standing(app, cut) == ("cut off", "cut off")


async def test_the_budget_line_keeps_sim_and_the_agents_on_80_columns() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        for event in agents(running=3, done=60, failed=4):
            bus.emit(event)
        await caught_up(app, bus, pilot)
        strip = app.screen.query_one(BudgetStrip)
        drawn = "".join(segment.text for segment in strip.render_line(0))
        assert drawn.startswith(" SIM  merged 0/3  agents 3 running · 60 done · 4 failed")


def store(db: Path, events: list[EventBase]) -> None:
    async def append() -> None:
        bus = EventBus(RUN_ID)
        async with await SqlEventStore.open(str(db)) as opened:
            await opened.append([bus.emit(event) for event in events])

    event_loop.run(append())


def test_status_says_how_the_agents_stand(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store(db, [started(), *agents(running=2, done=5, failed=1)])

    async def take() -> RunLease:
        async with await SqlEventStore.open(str(db)) as opened:
            return await RunLease.take(opened, RUN_ID)  # a process drives the run

    lease = event_loop.run(take())  # a file lock beside the database: held until released
    try:
        assert main(["status", RUN_ID, "--db", str(db)]) == 0
        assert main(["status", RUN_ID, "--json", "--db", str(db)]) == 0
    finally:
        event_loop.run(lease.release())
    text, as_json = capsys.readouterr().out.split("{", 1)
    assert "agents: 2 running, 5 done, 1 failed\n" in text
    report = json.loads("{" + as_json)
    assert report["live"] is True
    assert report["agents"] == {"running": 2, "done": 5, "failed": 1, "cut_off": 0}

    assert main(["status", RUN_ID, "--db", str(db)]) == 0  # the process is gone
    assert "agents: 0 running, 5 done, 1 failed, 2 cut off\n" in capsys.readouterr().out
    assert main(["status", RUN_ID, "--json", "--db", str(db)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["agents"] == {"running": 0, "done": 5, "failed": 1, "cut_off": 2}
