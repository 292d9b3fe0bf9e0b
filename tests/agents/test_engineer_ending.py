"""How an engineer's attempt ends when the model stops calling tools without ``finish``."""

from __future__ import annotations

from pathlib import Path

from recording_sandbox import RecordingSandbox
from role_fakes import Reply, ScriptedProvider, collector, of

from agents.provider import ToolCall
from agents.roles.engineer import EngineerRole
from agents.tool_specs import EMPTY_REPLY_NOTICE
from engine.blueprint import Blueprint, Task
from engine.events import AgentFinished, AgentOutput
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


async def test_an_empty_reply_is_asked_to_go_on_once_before_it_ends_the_attempt(
    tmp_path: Path,
) -> None:
    """A reply with no text and no call (Claude's empty end_turn after a tool result, Gemini
    answering STOP with no parts) ended the attempt as "stopped without calling finish: "; the
    task's next attempt started over in a fresh worktree. It is asked to go on once, as
    Anthropic advises; a second empty reply ends the attempt as before."""
    write = ToolCall("c1", "write_file", {"path": "greet.py", "content": "X = 1\n"})
    finish = ToolCall("c2", "finish", {"summary": "greet written"})
    provider = ScriptedProvider([Reply(calls=(write,)), "", Reply(calls=(finish,))])
    events, emit = collector()
    report = await EngineerRole(provider, RecordingSandbox()).work(job(tmp_path), emit)
    assert report.finished and report.summary == "greet written"
    asked = provider.requests[2].messages[-1]
    assert asked.role == "user" and asked.content == EMPTY_REPLY_NOTICE
    assert [o.text for o in of(events, AgentOutput) if o.kind == "error"] == [EMPTY_REPLY_NOTICE]

    silent = ScriptedProvider(["", " ", "never asked"])
    report = await EngineerRole(silent, RecordingSandbox()).work(job(tmp_path), collector()[1])
    assert not report.finished and len(silent.requests) == 2
