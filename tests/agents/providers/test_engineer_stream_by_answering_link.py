"""The engineer on a fallback chain of a coding agent and a model: it follows a coding agent's
lines as it works and says a model's reply whole, by the link that actually answers — not by
the chain's first link; and a coding agent that failed an attempt is not started again on
each of the model's turns after it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.provider import Completion, CompletionRequest, ToolCall, Usage
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from agents.providers.fallback_chain import FallbackProvider
from agents.providers.provider_errors import RetriesExhausted
from agents.roles.engineer import EngineerRole
from engine.blueprint import Blueprint, Task
from engine.events import AgentOutput, EventBase, LLMCallFinished
from engine.protocols import EngineerJob
from gates.sandbox import ProcessSandbox

FAKES = Path(__file__).parent / "fake_agents"
REPLY = ["I am ", "done: ", "hello.py ", "is written."]


class Model:
    """A model link that streams its reply in deltas (when asked to) and calls finish."""

    simulated = False

    def __init__(self, fail: bool = False) -> None:
        self.family, self.model, self.spec = "anthropic", "claude-x", "anthropic:claude-x"
        self.fail = fail
        self.streamed_to: list[object] = []

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.streamed_to.append(on_text)
        if self.fail:
            raise RetriesExhausted(f"{self.spec}: HTTP 529 overloaded (gave up)")
        for piece in REPLY:
            if on_text is not None:
                on_text(piece)
        summary = {"summary": "wrote hello.py"}
        return Completion(
            "".join(REPLY),
            tool_calls=(ToolCall("c1", "finish", summary),),
            usage=Usage(input_tokens=10, output_tokens=5),
            stop_reason="tool_use",
            model=self.model,
        )


def coding_agent() -> CliProvider:
    argv = (sys.executable, str(FAKES / "fake_claude.py"), "-p", "{prompt}", "--verbose")
    return CliProvider("claude", CliAgent(argv, "claude-stream-json", 30.0, fence=False))


async def work(chain: FallbackProvider, workspace: Path, attempt: int = 1) -> list[EventBase]:
    blueprint = Blueprint(
        spec="Say hi",
        acceptance_criteria=["hello.py prints hi"],
        tasks=[Task(id="hi", title="Write hello.py", files=["hello.py"])],
    )
    job = EngineerJob(
        "run-1", blueprint.tasks[0], blueprint, workspace, attempt=attempt, max_attempts=2
    )
    events: list[EventBase] = []
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        report = await EngineerRole(chain, sandbox, context_budget=0).work(job, events.append)
    finally:
        sandbox.close()
    assert report.finished
    return events


def said(events: list[EventBase]) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in events if isinstance(e, AgentOutput)]


async def test_a_model_answering_after_a_failed_coding_agent_is_said_whole_not_delta_by_delta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    model = Model()
    events = await work(FallbackProvider([coding_agent(), model]), tmp_path)
    lines = said(events)
    assert ("text", "I will write hello.py.") in lines  # the agent's lines, live
    assert ("text", "".join(REPLY)) in lines  # the model's reply, once and whole
    assert not any(text in REPLY for _, text in lines)
    assert model.streamed_to == [None]  # the model was not asked to stream


async def test_a_coding_agent_answering_after_a_failed_model_is_followed_line_by_line(
    tmp_path: Path,
):
    (tmp_path / "alone").mkdir()
    (tmp_path / "second").mkdir()
    alone = await work(FallbackProvider([coding_agent()]), tmp_path / "alone")
    events = await work(FallbackProvider([Model(fail=True), coding_agent()]), tmp_path / "second")
    accounted = next(i for i, e in enumerate(events) if isinstance(e, LLMCallFinished))
    # What the agent does reaches the log while it works, before its call is accounted...
    live = [i for i, e in enumerate(events) if isinstance(e, AgentOutput) and e.kind == "text"]
    assert live and live[0] < accounted
    # ... and the log reads as it does with the agent alone, after the step down the chain.
    notice, *rest = said(events)
    assert notice[0] == "notice" and "falling back to cli:claude" in notice[1]
    assert rest == said(alone)
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert [c.provider for c in calls] == ["cli"]


class Turns(Model):
    """A model that lists the files for two turns, then finishes."""

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        turn = sum(m.role == "assistant" for m in request.messages)
        if turn < 2:
            call = ToolCall(f"c{turn}", "list_files", {})
            return Completion("looking", (call,), Usage(10, 5), "tool_use", self.model)
        return await super().complete(request, on_text)


async def test_a_coding_agent_that_failed_the_attempt_is_not_started_again_on_each_model_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """It failed after its whole run (its turn limit, billed); the model took over. Each of
    the model's next turns started the agent again from the task, each run billed."""
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    events = await work(FallbackProvider([coding_agent(), Turns()]), tmp_path)
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert [c.provider for c in calls] == ["cli", "anthropic", "anthropic", "anthropic"]
    started = [text for _, text in said(events) if text == "I will write hello.py."]
    assert len(started) == 1


async def test_the_next_attempt_starts_the_coding_agent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    chain = FallbackProvider([coding_agent(), Turns()])
    await work(chain, tmp_path)
    again = await work(chain, tmp_path, attempt=2)
    calls = [e for e in again if isinstance(e, LLMCallFinished)]
    assert [c.provider for c in calls][:2] == ["cli", "anthropic"]
