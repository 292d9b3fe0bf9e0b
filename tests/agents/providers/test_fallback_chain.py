"""A fallback chain over a night: a dead link is skipped, an overloaded one cools down and
comes back, what a failed link billed is still counted, a stream cut off by a failure is
marked as such, and all of it reaches the agent's log as a ``notice``.

The links are scripted in-process providers, a fake coding agent (tests/agents/providers/
fake_agents) and the loopback servers of the conformance suite; nothing leaves the machine.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from provider_loopback import LoopbackServer, Reply
from provider_wires import WIRES

from agents.provider import Completion, CompletionRequest, Message, ProviderError, Usage
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from agents.providers.fallback_chain import Cooldown, FallbackProvider
from agents.providers.provider_errors import RetriesExhausted, TransientProviderError
from agents.providers.retrying import RetryingProvider, RetryPolicy
from agents.registry import ProviderOptions, close_provider, make_provider
from agents.roles.common import AgentSession
from engine.event_codec import event_from_json
from engine.events import AgentOutput, EventBase, LLMCallFinished
from engine.state import RunState

ASK = CompletionRequest(system="s", messages=(Message("user", "hi"),), max_tokens=64)
FAKES = Path(__file__).parent / "fake_agents"
PLAYBOOK = Path(__file__).parents[3] / "examples" / "units" / "playbook.yaml"
IN_A_CHAIN = {"usage_limit_wait_s": 0.0}
"""A link built alone and put in a chain by hand: a chain's link does not wait out a limit."""


class Link:
    """A scripted link: each call pops the next outcome (an error, or text streamed in
    ``pieces`` before an optional error) and counts itself."""

    simulated = False

    def __init__(self, name: str, outcomes: list[object], family: str = "openai") -> None:
        self.family = family
        self.model = name
        self.spec = f"{family}:{name}"
        self.outcomes = outcomes
        self.calls = 0

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, tuple):  # (pieces streamed, then the error)
            pieces, error = outcome
            for piece in pieces:
                if on_text is not None:
                    on_text(piece)
            outcome = error
        if isinstance(outcome, Exception):
            raise outcome
        text = str(outcome)
        if on_text is not None:
            on_text(text)
        usage = Usage(input_tokens=100, output_tokens=10)
        return Completion(text, usage=usage, model=self.model)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session(chain: FallbackProvider, events: list[EventBase], agent_id: str) -> AgentSession:
    return AgentSession(chain, events.append, agent_id=agent_id, role=agent_id.split(":")[0])


def notices(events: list[EventBase]) -> list[tuple[str, str]]:
    return [(e.agent_id, e.text) for e in events if isinstance(e, AgentOutput)]


def down(status: int) -> ProviderError:
    return ProviderError(f"HTTP {status} no", status=status)


# -- 1. A dead or overloaded link is skipped, not asked on every call --------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_dead_primary_is_asked_once_for_the_whole_run_and_said_once(status: int):
    primary = Link("primary", [down(status)] * 10)
    backup = Link("backup", [])
    clock = Clock()
    chain = FallbackProvider([primary, backup], clock=clock)
    events: list[EventBase] = []
    for n in range(6):  # six agents, hours apart, all on the same chain
        clock.now += 3 * 3600
        completion = await session(chain, events, f"engineer:t{n}").complete(ASK)
        assert completion.model == "backup"
    assert primary.calls == 1 and backup.calls == 6
    assert notices(events) == [
        (
            "engineer:t0",
            f"HTTP {status} no; openai:primary is skipped for the rest of the run; "
            "falling back to openai:backup",
        )
    ]
    assert chain.skipped() == {"openai:primary": float("inf")}
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert len(calls) == 6 and {c.model for c in calls} == {"backup"}


async def test_a_coding_agent_that_is_not_installed_is_tried_once_and_said_once(tmp_path: Path):
    """``cli:claude | model`` on a machine without ``claude``: every turn of every attempt
    tried the missing command again and said so again."""
    missing = CliProvider("ghost", CliAgent(("shopfloor-no-such-agent", "{prompt}")))
    backup = Link("backup", [])
    chain = FallbackProvider([missing, backup])
    events: list[EventBase] = []
    ask = CompletionRequest(
        system="s", messages=(Message("user", "hi"),), labels={"workspace": str(tmp_path)}
    )
    for n in range(4):
        completion = await session(chain, events, f"engineer:t{n}").complete(ask)
        assert completion.model == "backup"
    assert backup.calls == 4
    assert notices(events) == [
        (
            "engineer:t0",
            "cli:ghost: command not found: shopfloor-no-such-agent; cli:ghost is skipped for "
            "the rest of the run; falling back to openai:backup",
        )
    ]


async def test_a_coding_agent_whose_login_is_refused_is_skipped_for_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``cli:claude | model`` with an expired key: Claude Code answers "Invalid API key ·
    Please run /login" (is_error, exit 1). Every attempt of every task started it again, and
    its log said the same failure each time; it is now a refused login, skipped for the run."""
    monkeypatch.setenv("FAKE_AGENT_MODE", "login")
    backup = Link("backup", [])
    chain = FallbackProvider([coding_agent(), backup])
    events: list[EventBase] = []
    for n in range(3):
        ask = in_worktree(tmp_path)
        ask = replace(ask, labels={**ask.labels, "task": f"t{n}", "attempt": "1"})
        completion = await session(chain, events, f"engineer:t{n}:a1").complete(ask)
        assert completion.model == "backup"
    assert backup.calls == 3
    assert notices(events) == [
        (
            "engineer:t0:a1",
            "cli:claude: the agent's login was refused (the agent failed): Invalid API key · "
            "Please run /login; cli:claude is skipped for the rest of the run; "
            "falling back to openai:backup",
        )
    ]


async def test_a_coding_agent_at_its_usage_limit_is_skipped_until_the_limit_resets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Claude Code's "Claude AI usage limit reached|<epoch>": a rate limit, not a failure
    of the task, and the chain leaves the agent alone until the time it gave."""
    resets = int(time.time()) + 3 * 3600
    monkeypatch.setenv("FAKE_AGENT_MODE", "limit")
    monkeypatch.setenv("FAKE_AGENT_RESETS", str(resets))
    chain = FallbackProvider([coding_agent(), Link("backup", [])])
    events: list[EventBase] = []
    await session(chain, events, "engineer:t1:a1").complete(in_worktree(tmp_path))
    [(_, said)] = notices(events)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(resets))
    assert said.startswith(
        f"cli:claude: the agent is rate limited (the agent failed): Claude AI usage limit "
        f"reached (resets {stamp}); cli:claude is skipped for "
    ), said
    assert chain.skipped()["cli:claude"] == pytest.approx(3 * 3600, abs=60)


async def test_a_request_the_primary_refused_does_not_put_it_down():
    """A 400 is about this request (too long, a schema it did not take), not the model."""
    primary = Link("primary", [down(400), "fine again"])
    chain = FallbackProvider([primary, Link("backup", [])])
    assert (await chain.complete(ASK)).model == "backup"
    assert (await chain.complete(ASK)).text == "fine again"
    assert chain.skipped() == {}


async def test_an_overloaded_primary_cools_down_longer_each_time_then_comes_back():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    busy = TransientProviderError("openai:primary: HTTP 529 overloaded")
    primary = Link("primary", [busy] * 6)  # two runs of its three attempts, then it answers
    retrying = RetryingProvider(primary, RetryPolicy(max_retries=2, base_delay_s=1.0), sleep=sleep)
    clock = Clock()
    chain = FallbackProvider([retrying, Link("backup", [])], clock=clock)
    events: list[EventBase] = []
    ask = session(chain, events, "critic").complete

    assert (await ask(ASK)).model == "backup"
    assert primary.calls == 3 and len(slept) == 2  # its retries, once
    *retries, skipped = [text for _, text in notices(events)]
    assert len(retries) == 2 and all("retrying in" in line for line in retries)
    assert re.fullmatch(
        r"openai:primary: HTTP 529 overloaded \(gave up after 3 attempts in [\d.]+s\); "
        r"openai:primary is skipped for 60s \(until \d\d:\d\d:\d\d\); "
        r"falling back to openai:backup",
        skipped,
    ), skipped

    events.clear()
    clock.now += 59
    assert (await ask(ASK)).model == "backup"
    assert primary.calls == 3 and notices(events) == []  # skipped, silently: said once

    clock.now += 2  # its cooldown is over: asked again, fails again, skipped twice as long
    assert (await ask(ASK)).model == "backup"
    assert primary.calls == 6
    assert "openai:primary is skipped for 120s" in notices(events)[-1][1]
    clock.now += 119
    await ask(ASK)
    assert primary.calls == 6

    events.clear()
    clock.now += 2
    assert (await ask(ASK)).model == "primary"  # back
    assert notices(events) == [("critic", "openai:primary answers again after its cooldown")]
    assert (await ask(ASK)).model == "primary" and chain.skipped() == {}


async def test_a_server_asking_for_a_long_wait_is_skipped_at_least_that_long():
    hint = RetriesExhausted("HTTP 429 (server asks to wait 600s)", retry_after=600)
    clock = Clock()
    chain = FallbackProvider([Link("primary", [hint]), Link("backup", [])], clock=clock)
    await chain.complete(ASK)
    assert chain.skipped() == {"openai:primary": 600}


async def test_when_every_link_is_down_the_one_back_first_is_asked_and_the_chain_fails():
    first = Link("first", [down(401)] * 5)
    second = Link("second", [RetriesExhausted("HTTP 503 (gave up)")] * 5)
    clock = Clock()
    chain = FallbackProvider([first, second], clock=clock)
    with pytest.raises(ProviderError, match="every model in the chain failed"):
        await chain.complete(ASK)
    assert (first.calls, second.calls) == (1, 1)

    clock.now += 10  # both down: the overloaded one is back first, so it alone is asked
    with pytest.raises(ProviderError) as failed:
        await chain.complete(ASK)
    assert (first.calls, second.calls) == (1, 2)
    message = str(failed.value)
    assert message.startswith(
        "every model in the chain failed — openai:first: skipped for the rest of the run; "
        "openai:second: HTTP 503 (gave up)"
    )
    assert "\n" not in message


async def test_concurrent_calls_that_meet_the_same_failure_put_the_link_down_once():
    import asyncio

    gate = asyncio.Event()

    class Slow(Link):
        async def complete(
            self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
        ) -> Completion:
            await gate.wait()
            return await super().complete(request, on_text)

    primary = Slow("primary", [RetriesExhausted("HTTP 503 (gave up)")] * 3)
    chain = FallbackProvider([primary, Link("backup", [])])
    events: list[EventBase] = []
    calls = [session(chain, events, f"reviewer-{n}").complete(ASK) for n in range(3)]
    running = asyncio.gather(*calls)
    await asyncio.sleep(0)
    gate.set()
    await running
    skipped = [text for _, text in notices(events) if "is skipped for" in text]
    assert len(skipped) == 1 and "for 60s" in skipped[0]  # not 60, 120 and 240


def test_cooldowns_are_configured_under_providers_and_reach_the_chains():
    options = ProviderOptions.from_mapping(
        {"fallback_cooldown_s": 30, "fallback_dead_cooldown_s": 3600}
    )
    chain = make_provider("cli:claude | cli:codex", options=options)
    assert isinstance(chain, FallbackProvider)
    assert chain.cooldown == Cooldown(down_s=30.0, dead_s=3600.0)
    assert ProviderOptions().fallback_dead_cooldown_s is None  # the rest of the run
    with pytest.raises(ValueError, match=r"\[providers\] fallback_cooldown_s must be a number"):
        ProviderOptions.from_mapping({"fallback_cooldown_s": "soon"})


async def test_a_dead_links_cooldown_may_be_bounded_and_zero_never_skips_an_overloaded_one():
    clock = Clock()
    dead = Link("primary", [down(403), down(403)])
    chain = FallbackProvider([dead, Link("b", [])], cooldown=Cooldown(dead_s=300), clock=clock)
    await chain.complete(ASK)
    clock.now += 301
    await chain.complete(ASK)
    assert dead.calls == 2

    busy = Link("primary", [RetriesExhausted("HTTP 503 (gave up)")] * 2)
    chain = FallbackProvider([busy, Link("b", [])], cooldown=Cooldown(down_s=0))
    await chain.complete(ASK)
    await chain.complete(ASK)
    assert busy.calls == 2


async def test_a_dead_cooldown_of_zero_asks_the_link_every_time_and_says_no_skip():
    """``fallback_dead_cooldown_s = 0``: a gateway's passing 403 is asked again at once; the
    log must not claim, call after call, that the link "is skipped for 0s"."""
    dead = Link("primary", [down(403)] * 2)
    chain = FallbackProvider([dead, Link("b", [])], cooldown=Cooldown(dead_s=0))
    events: list[EventBase] = []
    for _ in range(2):
        await session(chain, events, "critic").complete(ASK)
    assert dead.calls == 2 and chain.skipped() == {}
    assert [text for _, text in notices(events)] == ["HTTP 403 no; falling back to openai:b"] * 2


def test_the_crew_shares_one_chain_per_spec_so_what_one_role_learns_spares_the_others():
    from agents.crew import build_crew
    from agents.routing import route
    from gates.sandbox import ProcessSandbox

    spec = "openai:a@http://127.0.0.1:9/v1 | openai:b@http://127.0.0.1:9/v1"
    routing = route({"critic": spec, "twin": spec, "task_reviewer": spec, "reviewers": [spec]}, {})
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        crew = build_crew(routing, lambda s: make_provider(s, playbook=PLAYBOOK), sandbox=sandbox)
    finally:
        sandbox.close()
    chains = [crew.critic.provider, crew.twin.provider, crew.task_reviewer.provider]
    assert isinstance(chains[0], FallbackProvider)
    assert all(chain is chains[0] for chain in [*chains, crew.reviewers[0].provider])


DEAD_REPLIES = {
    "bad key": lambda wire: wire.error(401, "invalid x-api-key"),
    "unknown model": lambda wire: wire.error(404, "model: claude-nope not found"),
}


@pytest.mark.parametrize("why", sorted(DEAD_REPLIES))
@pytest.mark.parametrize("wire_name", sorted(WIRES))
async def test_each_provider_says_its_status_so_a_dead_link_is_not_asked_again(
    wire_name: str, why: str, server: LoopbackServer
):
    wire = WIRES[wire_name]
    options = ProviderOptions(
        max_retries=2, retry_base_delay_s=0.01, env=wire.env(server.url), **IN_A_CHAIN
    )
    primary = make_provider(wire.spec(server.url), options=options)
    chain = FallbackProvider([primary, Link("backup", [])])
    server.queue(DEAD_REPLIES[why](wire), wire.text("never asked"))
    try:
        for _ in range(3):
            assert (await chain.complete(ASK)).model == "backup"
    finally:
        await close_provider(primary)
    # (an OpenAI-compatible server's unknown model is followed by GET /models, for its names)
    assert len([seen for seen in server.seen if seen.method == "POST"]) == 1
    assert chain.skipped() == {primary.spec: float("inf")}


async def test_gemini_s_400_for_a_bad_key_is_a_dead_link(server: LoopbackServer):
    """Gemini answers an invalid key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    wire = WIRES["gemini"]
    error = {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ],
    }
    server.queue(Reply(status=400, json_body={"error": error}))
    options = ProviderOptions(max_retries=0, env=wire.env(server.url), **IN_A_CHAIN)
    primary = make_provider(wire.spec(server.url), options=options)
    chain = FallbackProvider([primary, Link("backup", [])])
    try:
        await chain.complete(ASK)
        await chain.complete(ASK)
    finally:
        await close_provider(primary)
    assert len(server.seen) == 1


@pytest.mark.parametrize("wire_name", sorted(WIRES))
async def test_a_server_asking_to_wait_beyond_any_date_puts_its_link_down_without_a_crash(
    wire_name: str, server: LoopbackServer
):
    """A broken gateway's ``retry-after: 999999999999`` (31,000 years): the link is skipped;
    saying until when must not raise (the date is past year 9999)."""
    wire = WIRES[wire_name]
    options = ProviderOptions(
        max_retries=2, retry_base_delay_s=0.01, env=wire.env(server.url), **IN_A_CHAIN
    )
    primary = make_provider(wire.spec(server.url), options=options)
    chain = FallbackProvider([primary, Link("backup", [])])
    server.queue(wire.error(429, "quota", retry_after="999999999999"))
    events: list[EventBase] = []
    try:
        assert (await session(chain, events, "critic").complete(ASK)).model == "backup"
        assert (await chain.complete(ASK)).model == "backup"
    finally:
        await close_provider(primary)
    assert len(server.seen) == 1
    [(_, said)] = notices(events)
    assert f"{primary.spec} is skipped for the rest of the run; falling back" in said


async def test_a_cooldown_over_a_day_says_the_day_it_ends():
    """A daily quota's ``retry-after`` of two days: "until 16:43:28" would read as today."""
    hint = RetriesExhausted("HTTP 429 quota", retry_after=2 * 86400)
    chain = FallbackProvider([Link("primary", [hint]), Link("backup", [])])
    events: list[EventBase] = []
    await session(chain, events, "critic").complete(ASK)
    [(_, said)] = notices(events)
    assert re.search(r"skipped for 172800s \(until \d{4}-\d\d-\d\d \d\d:\d\d\)", said), said


# -- 2. What a failed link billed is counted when a later link answers --------------------------


def coding_agent() -> CliProvider:
    argv = (sys.executable, str(FAKES / "fake_claude.py"), "-p", "{prompt}", "--verbose")
    return CliProvider("claude", CliAgent(argv, "claude-stream-json", 30.0, fence=False))


def in_worktree(workspace: Path) -> CompletionRequest:
    return CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "Task t1: add hello.py"),),
        labels={"role": "engineer", "task": "t1", "workspace": str(workspace)},
    )


async def test_a_coding_agent_that_billed_and_failed_is_counted_when_the_next_link_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")  # error_max_turns after billing $0.02
    chain = FallbackProvider([coding_agent(), Link("backup", [])])
    events: list[EventBase] = []
    completion = await session(chain, events, "engineer:t1:a1").complete(in_worktree(tmp_path))
    assert completion.model == "backup" and completion.paid_failures == ()
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert [(c.provider, c.model) for c in calls] == [
        ("cli", "claude-sonnet-4-6"),
        ("openai", "backup"),
    ]
    assert calls[0].cost_usd == pytest.approx(0.02)
    assert (calls[0].input_tokens, calls[0].output_tokens) == (1, 1)
    # The run's spend (what the budget and `status` read) holds both calls.
    state = RunState.fold(calls)
    assert state.cost_usd == pytest.approx(0.02 + calls[1].cost_usd)
    assert state.input_tokens == 1 + 100


async def test_a_chain_that_failed_throughout_still_counts_what_its_links_billed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_AGENT_MODE", "fail")
    chain = FallbackProvider([coding_agent(), coding_agent()])
    events: list[EventBase] = []
    with pytest.raises(ProviderError, match="every model in the chain failed"):
        await session(chain, events, "engineer:t1:a1").complete(in_worktree(tmp_path))
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert [c.cost_usd for c in calls] == [pytest.approx(0.02), pytest.approx(0.02)]
    assert all(c.provider == "cli" for c in calls)


async def test_failed_attempts_that_were_paid_for_are_counted_through_the_retries():
    async def sleep(seconds: float) -> None:
        return None

    billed = Completion("", usage=Usage(input_tokens=50, output_tokens=5), model="m", cost_usd=0.5)
    flaky = Link("primary", [TransientProviderError("HTTP 503", spent=billed), "ok"])
    retrying = RetryingProvider(flaky, RetryPolicy(max_retries=1), sleep=sleep)
    events: list[EventBase] = []
    await AgentSession(retrying, events.append, agent_id="critic", role="critic").complete(ASK)
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert [c.cost_usd for c in calls][:1] == [0.5] and len(calls) == 2


# -- 3. A stream cut off by a failure is marked before the next model's answer -----------------


async def test_a_stream_cut_off_by_a_failure_is_marked_before_the_fallbacks_answer():
    primary = Link("primary", [(["The answer is", " forty"], TransientProviderError("reset"))])
    chain = FallbackProvider([primary, Link("backup", ["The answer is 42."])])
    events: list[EventBase] = []
    agent = session(chain, events, "engineer:t1:a1")
    await agent.complete(ASK, agent.say)
    said = [(e.kind, e.text) for e in events if isinstance(e, AgentOutput)]
    assert said == [
        ("text", "The answer is"),
        ("text", " forty"),
        (
            "notice",
            "reset; the text openai:primary streamed above is cut off, not an answer; "
            "openai:primary is skipped for 60s (until " + said[2][1].split("(until ")[1],
        ),
        ("text", "The answer is 42."),
    ]
    assert said[2][1].endswith("); falling back to openai:backup")


async def test_a_stream_cut_off_before_a_retry_is_marked_too():
    async def sleep(seconds: float) -> None:
        return None

    flaky = Link("primary", [(["Hel"], TransientProviderError("openai:primary: reset")), "Hello"])
    retrying = RetryingProvider(flaky, RetryPolicy(max_retries=1, base_delay_s=0), sleep=sleep)
    events: list[EventBase] = []
    agent = AgentSession(retrying, events.append, agent_id="critic", role="critic")
    await agent.complete(ASK, agent.say)
    said = [(e.kind, e.text) for e in events if isinstance(e, AgentOutput)]
    assert said == [
        ("text", "Hel"),
        (
            "notice",
            "openai:primary: reset; the text openai:primary streamed above is cut off, not an "
            "answer; retrying in 0.0s (attempt 2 of 2)",
        ),
        ("text", "Hello"),
    ]


# -- 4. Notices are a kind of their own; old logs still load -----------------------------------


async def test_provider_notices_are_their_own_kind_apart_from_failing_tools():
    chain = FallbackProvider([Link("primary", [down(401)]), Link("backup", [])])
    events: list[EventBase] = []
    await session(chain, events, "critic").complete(ASK)
    assert [e.kind for e in events if isinstance(e, AgentOutput)] == ["notice"]


def test_an_old_log_with_notices_stored_as_errors_still_loads_and_new_notices_round_trip():
    old = (
        '{"type": "AgentOutput", "run_id": "r", "seq": 7, "ts": "2026-01-01T00:00:00Z",'
        ' "agent_id": "critic", "kind": "error", "text": "HTTP 503; retrying in 1.0s"}'
    )
    loaded = event_from_json(old)
    assert isinstance(loaded, AgentOutput) and loaded.kind == "error"
    notice = AgentOutput(agent_id="critic", kind="notice", text="falling back to x")
    again = event_from_json(notice.model_dump_json())
    assert isinstance(again, AgentOutput) and again.kind == "notice"
