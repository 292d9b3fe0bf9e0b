"""A gate's output quoting a secret file reaches no event and no retry prompt unmasked.

The bus cleaned events of the environment's secrets and of key shapes only: a custom gate
printing ``.env`` on failure put ``DB_PASSWORD=hunter2-prod-77`` into GateFinished (the
run's log, the TUI, ``export``) and, through the failure context, into the next attempt's
prompt to the engineer's model. The run now cleans them of the values of the secret files
its base commit tracks (engine/secret_values.py, ``EventBus.add_secrets``).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from recording_provider import Recording
from repo_helpers import git

from agents.crew import build_crew
from agents.provider import Provider
from agents.registry import make_provider
from agents.routing import route
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import EventBase, GateFinished
from engine.pipeline import Factory
from engine.workspace import GitWorkspaces
from gates.command_gate import CommandGate
from gates.sandbox import ProcessSandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "units"
SECRET = "hunter2-prod-77"


async def test_a_gate_printing_env_leaves_its_values_out_of_events_and_prompts(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE / "seed", repo)
    (repo / ".env").write_text(f"DB_HOST=localhost\nDB_PASSWORD={SECRET}\n")  # last: quoted
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed")
    first = tmp_path / "gate-ran-once"
    script = (
        "import pathlib, sys\n"
        "print(pathlib.Path('.env').read_text())\n"
        f"mark = pathlib.Path({str(first)!r})\n"
        "again = mark.exists(); mark.touch()\n"
        "sys.exit(0 if again else 1)\n"
    )
    recorders: list[Recording] = []

    def provider(spec: str) -> Provider:
        # The SIM's pacing is not what this test is about: its turns at 1000 times the pace.
        sim = make_provider(spec, playbook=EXAMPLE / "playbook.yaml", speed=1000)
        recorders.append(Recording(sim))
        return recorders[-1]

    sandbox = ProcessSandbox(use_bwrap=False)
    seen: list[EventBase] = []
    try:
        crew = build_crew(route({}, {}), provider, sandbox=sandbox)
        bus = EventBus("r-secret-file")
        bus.listen(seen.append)
        factory = Factory(
            bus=bus,
            workspaces=GitWorkspaces(repo, bus.run_id, tmp_path / "worktrees"),
            request=(EXAMPLE / "request.md").read_text(),
            planner=crew.planner,
            engineer=crew.engineer,
            critic=crew.critic,
            reviewers=crew.reviewers,
            twin=crew.twin,
            task_gates=[CommandGate(sandbox, name="settings", argv=[sys.executable, "-c", script])],
            config=EngineConfig(workers=1, escalation_policy="twin"),
        )
        await asyncio.wait_for(factory.run(), 120)
    finally:
        sandbox.close()
    failed = [e for e in seen if isinstance(e, GateFinished) and not e.passed]
    assert failed and "DB_PASSWORD=[REDACTED]" in failed[0].output_tail
    assert "DB_HOST=localhost" in failed[0].output_tail
    for event in seen:
        assert SECRET not in event.model_dump_json(), event
    prompts = [text for recorder in recorders for text in recorder.sent]
    retry = [text for text in prompts if "DB_PASSWORD=[REDACTED]" in text]
    assert retry, "the next attempt's prompt holds the gate's failure"
    assert not any(SECRET in text for text in prompts)
