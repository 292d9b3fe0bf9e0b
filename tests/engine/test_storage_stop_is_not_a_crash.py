"""A run whose storage writer stopped ends quietly, not as a bug of ours.

Under load, a database refusing the run's events was first met by the engine's durability
barrier (before an escalation, before shipping): ``DurabilityLost`` fell to the catch-all,
which printed "run ... crashed: DurabilityLost ... (a bug: its traceback is in the run's
log)" above the storage watch's own line saying the database refuses the events, and
recorded the run as failed by an internal error. The watch's line is the one that is true.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.blueprint import Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import AgentOutput, EscalationRaised, Merged, Outcome, RunFinished
from engine.pipeline import Factory
from engine.workspace import GitWorkspaces
from tests.engine.test_pipeline import REQUEST, RUN_ID, FakeEngineer, FakePlanner, blueprint, writes


async def test_a_stopped_storage_writer_ends_the_run_unfinished_and_says_no_crash(
    user_repo: Path, worktree_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus(RUN_ID)
    events: list[object] = []
    bus.listen(events.append)
    storage = bus.subscribe("storage", durable=True)
    storage.close()  # the writer gave up: the database refuses the run's events
    factory = Factory(
        bus=bus,
        workspaces=GitWorkspaces(user_repo, RUN_ID, worktree_root),
        planner=FakePlanner(blueprint(Task(id="a", title="Add a"))),
        engineer=FakeEngineer({"a": writes({"a.txt": "a\n"})}),
        request=REQUEST,
        config=EngineConfig(workers=1, max_attempts=1),
        simulated=True,
    )
    with caplog.at_level(logging.ERROR):
        state = await factory.run()

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not [e for e in events if isinstance(e, AgentOutput) and e.agent_id == "engine"]
    assert not [e for e in events if isinstance(e, RunFinished)]  # resumable from its log
    assert state.outcome is Outcome.RUNNING
    # The barrier held: the work was merged on the integration branch, nothing shipped.
    assert [e.task_id for e in events if isinstance(e, Merged)] == ["a"]
    assert not [e for e in events if isinstance(e, EscalationRaised)]
