"""A provider outside a fallback chain waits out its usage or rate limit: a Claude Max
subscriber's ``cli:claude`` engineer reached its limit at 2 a.m., to reset at 7, and every
attempt after it failed at once, until the breaker tripped and the night's run ended failed.
The waits are a fake clock's: nothing here sleeps for hours."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from agents.provider import Completion, CompletionRequest, Message, ProviderError, Usage
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from agents.providers.fallback_chain import FallbackProvider
from agents.providers.provider_errors import LIMITED, RetriesExhausted, TransientProviderError
from agents.providers.usage_wait import UsageLimitWait
from agents.registry import ProviderOptions, make_provider
from agents.roles.common import AgentSession
from agents.roles.engineer import EngineerRole
from engine.blueprint import Blueprint, Task
from engine.events import AgentFinished, AgentOutput, EventBase, LLMCallFinished
from engine.protocols import EngineerJob
from gates.sandbox import ProcessSandbox

FAKES = Path(__file__).parent / "fake_agents"
ASK = CompletionRequest(system="s", messages=(Message("user", "x"),))
TWO_AM = datetime(2026, 11, 24, 2, 2).timestamp()
"""02:02 on the machine's clock, when the limit is reached."""
UNTIL_SEVEN = (4 * 60 + 58) * 60.0


class Clock:
    """Monotonic and wall-clock seconds that move only when the wrapper sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def wall(self) -> float:
        return TWO_AM + self.now


def waiting(inner: object, clock: Clock, max_wait_s: float = 6 * 3600) -> UsageLimitWait:
    return UsageLimitWait(
        inner,  # type: ignore[arg-type]
        max_wait_s,
        sleep=clock.sleep,
        clock=lambda: clock.now,
        wall=clock.wall,
    )


class Scripted:
    family, model, spec, simulated = "anthropic", "claude-x", "anthropic:claude-x", False

    def __init__(self, outcomes: list[Exception | str]) -> None:
        self.outcomes = outcomes
        self.calls: list[CompletionRequest] = []

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.calls.append(request)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return Completion(outcome, usage=Usage(input_tokens=1, output_tokens=1))


def limit(retry_after: float | None = None) -> TransientProviderError:
    said = "anthropic:claude-x: HTTP 429 rate limited"
    return TransientProviderError(said, retry_after=retry_after, status=LIMITED)


def notices(events: list[EventBase]) -> list[str]:
    return [e.text for e in events if isinstance(e, AgentOutput) and e.kind == "notice"]


async def test_a_limit_with_its_reset_time_is_waited_out_and_said_once():
    clock = Clock()
    inner = Scripted([limit(UNTIL_SEVEN), "after seven"])
    events: list[EventBase] = []
    session = AgentSession(waiting(inner, clock), events.append, agent_id="critic", role="critic")
    assert (await session.complete(ASK)).text == "after seven"
    assert clock.slept == [UNTIL_SEVEN]
    assert notices(events) == [
        "anthropic:claude-x: HTTP 429 rate limited; usage limit: waiting until 07:00 "
        "(4 h 58 min); Ctrl-C stops the run resumable"
    ]


async def test_a_limit_that_lifts_later_than_the_wait_allows_fails_the_call_at_once():
    clock = Clock()
    inner = Scripted([limit(30 * 3600)])
    events: list[EventBase] = []
    session = AgentSession(waiting(inner, clock), events.append, agent_id="critic", role="critic")
    with pytest.raises(TransientProviderError, match=r"HTTP 429 rate limited$"):
        await session.complete(ASK)
    assert clock.slept == [] and len(inner.calls) == 1
    assert notices(events) == [
        "anthropic:claude-x: HTTP 429 rate limited; usage limit: it lifts in 30 h, later than "
        "[providers] usage_limit_wait_s (6 h)"
    ]


async def test_a_limit_without_a_reset_time_backs_off_doubling_within_the_bound():
    clock = Clock()
    exhausted = RetriesExhausted("anthropic:claude-x: HTTP 429 (gave up)", status=LIMITED)
    inner = Scripted([exhausted, limit(), limit(), "fine"])
    assert (await waiting(inner, clock).complete(ASK)).text == "fine"
    assert clock.slept == [300, 600, 1200]

    bounded = Scripted([limit()] * 5)
    clock = Clock()
    with pytest.raises(TransientProviderError):
        await waiting(bounded, clock, max_wait_s=1000).complete(ASK)
    assert clock.slept == [300, 600, 100] and len(bounded.calls) == 4


@pytest.mark.parametrize(
    "failure",
    [
        TransientProviderError("anthropic:claude-x: HTTP 529 overloaded", status=529),
        RetriesExhausted("anthropic:claude-x: HTTP 503 (gave up)", status=503),
        ProviderError("anthropic:claude-x: HTTP 401 bad key", status=401),
    ],
)
async def test_other_failures_are_not_waited_for(failure: ProviderError):
    clock = Clock()
    with pytest.raises(ProviderError):
        await waiting(Scripted([failure]), clock).complete(ASK)
    assert clock.slept == []


async def test_a_call_made_while_the_provider_is_paused_waits_before_it_starts():
    """Another task's call does not start a coding agent only to hear the limit again."""
    clock = Clock()
    inner = Scripted([limit(3600)])
    provider = waiting(inner, clock)
    hold = clock.sleep

    async def stalled(seconds: float) -> None:  # the first call's wait: the second call comes
        provider._sleep = hold
        other: list[EventBase] = []
        session = AgentSession(provider, other.append, agent_id="planner", role="planner")
        assert (await session.complete(ASK)).text == "ok"
        assert notices(other) == [
            "anthropic:claude-x: paused by its usage limit: waiting until 03:02 (1 h); "
            "Ctrl-C stops the run resumable"
        ]

    provider._sleep = stalled
    assert (await provider.complete(ASK)).text == "ok"
    assert len(inner.calls) == 3 and clock.slept == [3600]


def test_a_lone_provider_waits_a_chain_and_the_sim_do_not(tmp_path: Path):
    lone = make_provider("cli:claude")
    assert isinstance(lone, UsageLimitWait) and isinstance(lone.inner, CliProvider)
    assert lone.max_wait_s == 6 * 3600
    assert isinstance(make_provider("cli:claude | cli:codex"), FallbackProvider)
    never = ProviderOptions.from_mapping({"usage_limit_wait_s": 0})
    assert isinstance(make_provider("cli:claude", options=never), CliProvider)
    with pytest.raises(ValueError, match="usage_limit_wait_s"):
        ProviderOptions.from_mapping({"usage_limit_wait_s": float("inf")})
    with pytest.raises(ValueError, match="usage_limit_wait_s"):
        ProviderOptions.from_mapping({"usage_limit_wait_s": -1})


async def test_an_engineer_at_its_usage_limit_waits_for_the_reset_and_its_attempt_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Claude Code says "Claude AI usage limit reached|<reset>": the attempt waits until then
    and the agent is started again for it, rather than fail the attempt (and every one after
    it) at once."""
    resets = int(time.time()) + 3 * 3600
    monkeypatch.setenv("FAKE_AGENT_MODE", "limit")
    monkeypatch.setenv("FAKE_AGENT_RESETS", str(resets))
    argv = (sys.executable, str(FAKES / "fake_claude.py"), "-p", "{prompt}", "--verbose")
    agent = CliProvider("claude", CliAgent(argv, "claude-stream-json", 30.0, fence=False))
    clock = Clock()

    async def night(seconds: float) -> None:
        await clock.sleep(seconds)
        monkeypatch.setenv("FAKE_AGENT_MODE", "ok")  # the limit has reset

    provider = waiting(agent, clock)
    provider._sleep = night
    blueprint = Blueprint(
        spec="Say hi",
        acceptance_criteria=["hello.py prints hi"],
        tasks=[Task(id="hi", title="Write hello.py", files=["hello.py"])],
    )
    job = EngineerJob("run-1", blueprint.tasks[0], blueprint, tmp_path, attempt=1, max_attempts=2)
    events: list[EventBase] = []
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        report = await EngineerRole(provider, sandbox, context_budget=0).work(job, events.append)
    finally:
        sandbox.close()
    assert report.finished, report.summary
    assert (tmp_path / "hello.py").exists()
    assert clock.slept == [pytest.approx(3 * 3600, abs=60)]
    [said] = notices(events)
    assert said.startswith("cli:claude: the agent is rate limited (the agent failed): Claude AI")
    assert "; usage limit: waiting until " in said and said.endswith(
        "; Ctrl-C stops the run resumable"
    )
    assert [e.ok for e in events if isinstance(e, AgentFinished)] == [True]
    assert len([e for e in events if isinstance(e, LLMCallFinished)]) == 2  # both accounted
