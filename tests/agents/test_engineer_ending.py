"""How an engineer's attempt ends when the model stops calling tools without ``finish``."""

from __future__ import annotations

from pathlib import Path

from role_fakes import RecordingSandbox, Reply, ScriptedProvider, collector, of

from agents.provider import ToolCall
from agents.roles.engineer import EngineerRole
from engine.blueprint import Blueprint, Task
from engine.events import AgentFinished
from engine.protocols import EngineerJob

BLUEPRINT = Blueprint(
    spec="A greeting library",
    acceptance_criteria=["greet('x') == 'hello x'"],
    tasks=[Task(id="greet", title="Write greet()", files=["greet.py"])],
)


def job(workspace: Path) -> EngineerJob:
    return EngineerJob(
        run_id="run-1",
        task=BLUEPRINT.task("greet"),
        blueprint=BLUEPRINT,
        workspace=workspace,
        attempt=1,
        max_attempts=3,
        failure_context="",
    )


async def test_an_engineer_that_wrote_its_files_and_ended_in_words_is_done_not_failed(
    tmp_path: Path,
) -> None:
    """A model that writes the code and ends on "Implemented greet; the tests pass" with no
    finish call did its work: the TUI, status and metrics showed the agent failed while its
    attempt merged. Its report stays unfinished: the gates judge the work, and a next
    attempt hears how this one ended."""
    write = ToolCall("c1", "write_file", {"path": "greet.py", "content": "X = 1\n"})
    provider = ScriptedProvider([Reply(calls=(write,)), "Implemented greet; the tests pass."])
    events, emit = collector()
    report = await EngineerRole(provider, RecordingSandbox()).work(job(tmp_path), emit)
    assert not report.finished and report.files_written == ("greet.py",)
    finished = of(events, AgentFinished)[0]
    assert finished.ok
    assert finished.summary == "ended without calling finish: Implemented greet; the tests pass."


async def test_an_engineer_that_only_talked_has_failed(tmp_path: Path) -> None:
    provider = ScriptedProvider(["I will just talk."])
    events, emit = collector()
    report = await EngineerRole(provider, RecordingSandbox()).work(job(tmp_path), emit)
    assert not report.finished and report.files_written == ()
    finished = of(events, AgentFinished)[0]
    assert not finished.ok
    assert finished.summary == "stopped without calling finish: I will just talk."
