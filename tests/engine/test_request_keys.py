"""A key typed into the factory's request goes to no model and into no log.

"Add retry to the client, our key is sk-ant-api03-..." was sent as typed to the critic, the
planner, the reviewers and the twin — third-party models — and the run's planning and audit
worked from it; the log kept it cleaned, so the models had seen what ``status`` hid.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from recording_provider import Recording
from repo_helpers import git

from agents.crew import build_crew
from agents.provider import Provider
from agents.registry import make_provider
from agents.routing import route
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import Outcome
from engine.pipeline import Factory
from engine.workspace import GitWorkspaces
from gates.sandbox import ProcessSandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "units"
SHAPED = "sk-ant-api03-" + "Kq4" * 12
LITERAL = "plain-secret-value-8e2d41"


async def test_a_key_in_the_request_reaches_no_model_and_no_event(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FAKE_PROVIDER_API_KEY", LITERAL)
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE / "seed", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "seed")
    playbook = EXAMPLE / "playbook.yaml"
    recorders: list[Recording] = []

    def provider(spec: str) -> Provider:
        recorders.append(Recording(make_provider(spec, playbook=playbook, speed=1000)))
        return recorders[-1]

    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        crew = build_crew(route({}, {}), provider, sandbox=sandbox)
        request = (EXAMPLE / "request.md").read_text()
        bus = EventBus("r-request-key")
        factory = Factory(
            bus=bus,
            workspaces=GitWorkspaces(repo, bus.run_id, tmp_path / "worktrees"),
            request=f"{request}\nOur key is {SHAPED}; the staging one is {LITERAL}.",
            planner=crew.planner,
            engineer=crew.engineer,
            critic=crew.critic,
            reviewers=crew.reviewers,
            twin=crew.twin,
            config=EngineConfig(workers=2, escalation_policy="twin"),
        )
        state = await asyncio.wait_for(factory.run(), 120)
    finally:
        sandbox.close()
    assert state.outcome is Outcome.SHIPPED, state.reason
    sent = [text for recorder in recorders for text in recorder.sent]
    assert any("Add Kelvin to the units library" in text for text in sent)
    for text in sent:
        assert SHAPED[:12] not in text and LITERAL not in text
    assert any("Our key is [REDACTED]; the staging one is [REDACTED]" in t for t in sent)
    # The run's log keeps the request as the models saw it.
    assert state.request.endswith("Our key is [REDACTED]; the staging one is [REDACTED].")
