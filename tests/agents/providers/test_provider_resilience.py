"""Retry policy, fallback chains, concurrency and tokens-per-minute limits, and the registry's
key handling — without a network."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from agents.provider import Completion, CompletionRequest, Message, ProviderError, Usage
from agents.providers.context_fit import ContextFit
from agents.providers.fallback_chain import FallbackProvider
from agents.providers.limits import LimitedProvider, Limiter, LimiterPool, Limits
from agents.providers.provider_errors import TransientProviderError
from agents.providers.retrying import RetryingProvider, RetryPolicy, retry_notices
from agents.providers.usage_wait import UsageLimitWait
from agents.registry import AVAILABLE_FAMILIES, ProviderOptions, make_provider

ASK = CompletionRequest(system="s", messages=(Message("user", "x" * 400),), max_tokens=100)


class Scripted:
    """A provider that fails or answers as scripted, and counts concurrent calls."""

    family = "openai"
    model = "scripted"
    simulated = False

    def __init__(self, name: str, outcomes: list[Exception | str], pause: float = 0.0) -> None:
        self.spec = f"openai:{name}@http://x"
        self.outcomes = outcomes
        self.pause = pause
        self.calls = 0
        self.active = 0
        self.peak = 0

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.pause)
            outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        finally:
            self.active -= 1
        if isinstance(outcome, Exception):
            raise outcome
        return Completion(outcome, usage=Usage(input_tokens=100, output_tokens=10), model=self.spec)


def test_full_jitter_backoff_is_bounded_and_honours_retry_after():
    policy = RetryPolicy(max_retries=5, base_delay_s=1.0, max_delay_s=8.0)
    rng = random.Random(7)
    for retry in range(6):
        delays = [policy.delay(retry, None, rng) for _ in range(200)]
        ceiling = min(8.0, 2.0**retry)
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spans the whole window
    assert policy.delay(0, 5.0, rng) >= 5.0


async def test_retries_stop_at_the_bound_and_permanent_errors_are_not_retried():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    flaky = Scripted("a", [TransientProviderError("HTTP 503 busy")] * 2 + ["fine"])
    provider = RetryingProvider(flaky, RetryPolicy(max_retries=2, base_delay_s=0.1), sleep=sleep)
    assert (await provider.complete(ASK)).text == "fine"
    assert flaky.calls == 3 and len(slept) == 2

    broken = Scripted("b", [ProviderError("HTTP 401 bad key")])
    provider = RetryingProvider(broken, RetryPolicy(max_retries=3), sleep=sleep)
    with pytest.raises(ProviderError, match=r"^HTTP 401 bad key$"):
        await provider.complete(ASK)
    assert broken.calls == 1


async def test_each_retry_is_told_to_the_agent_whose_call_waits():
    from agents.roles.common import AgentSession
    from engine.events import AgentOutput, EventBase

    async def sleep(seconds: float) -> None:
        return None

    flaky = Scripted("a", [TransientProviderError("openai:a: HTTP 429 slow down", retry_after=3)])
    provider = RetryingProvider(flaky, RetryPolicy(max_retries=2), sleep=sleep)
    events: list[EventBase] = []
    session = AgentSession(provider, events.append, agent_id="critic", role="critic")
    assert (await session.complete(ASK)).text == "ok"
    said = [(e.kind, e.text) for e in events if isinstance(e, AgentOutput)]
    assert said == [("notice", "openai:a: HTTP 429 slow down; retrying in 3.0s (attempt 2 of 3)")]

    heard: list[str] = []
    with retry_notices(heard.append):
        flaky.outcomes = [TransientProviderError("openai:a: HTTP 503")]
        await provider.complete(ASK)
    flaky.outcomes = [TransientProviderError("openai:a: HTTP 503")]
    await provider.complete(ASK)  # outside the block: nobody to tell
    assert len(heard) == 1 and heard[0].startswith("openai:a: HTTP 503; retrying in ")


async def test_a_hanging_attempt_is_cut_by_the_attempt_timeout():
    stuck = Scripted("c", [], pause=5.0)
    provider = RetryingProvider(
        stuck, RetryPolicy(max_retries=1, base_delay_s=0.0), attempt_timeout_s=0.05
    )
    with pytest.raises(ProviderError, match=r"no answer within 0.05s \(gave up after 2 attempts"):
        await provider.complete(ASK)


async def test_a_fallback_chain_moves_on_and_reports_who_answered():
    local = Scripted("vllm", [ProviderError("connection refused")])
    remote = Scripted("gemini", ["from the fallback"])
    chain = FallbackProvider([local, remote])
    completion = await chain.complete(ASK)
    assert completion.text == "from the fallback"
    assert chain.last_used is remote and chain.family == "openai"
    assert chain.failures == ["openai:vllm@http://x: connection refused"]
    assert chain.spec == "openai:vllm@http://x | openai:gemini@http://x"

    dead = FallbackProvider(
        [Scripted("p", [ProviderError("down")]), Scripted("q", [ProviderError("also down")])]
    )
    with pytest.raises(
        ProviderError, match=r"^every model in the chain failed — .*down; .*also down$"
    ):
        await dead.complete(ASK)


async def test_concurrency_is_capped_per_endpoint_across_providers():
    inner = Scripted("shared", [], pause=0.02)
    pool = LimiterPool()
    limiter = pool.get("openai:shared", Limits(max_concurrency=2))
    assert pool.get("openai:shared", Limits(max_concurrency=9)) is limiter
    agents = [LimitedProvider(inner, limiter) for _ in range(6)]
    await asyncio.gather(*(a.complete(ASK) for a in agents))
    assert inner.calls == 6 and inner.peak == 2 and limiter.peak_in_flight == 2


async def test_tokens_per_minute_make_calls_wait_for_the_bucket_to_refill():
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = Limiter(Limits(tokens_per_minute=600), clock=lambda: now[0], sleep=sleep)
    provider = LimitedProvider(Scripted("tpm", []), limiter)
    await provider.complete(ASK)  # ~200 estimated tokens; settles to 110 real ones
    await provider.complete(ASK)
    assert waits == []
    for _ in range(5):
        await provider.complete(ASK)
    assert waits and sum(waits) == pytest.approx(limiter.waited_s)
    assert now[0] > 0  # time had to pass: 7 calls of ~110 tokens exceed 600 a minute


def test_every_family_is_available_and_keys_come_from_the_environment():
    assert set(AVAILABLE_FAMILIES) == {"anthropic", "gemini", "openai", "cli", "sim"}
    empty = ProviderOptions(env={})
    with pytest.raises(
        ProviderError,
        match=r"^the anthropic provider needs an API key: set ANTHROPIC_API_KEY in the env",
    ):
        make_provider("anthropic:claude-sonnet-4-6", options=empty)
    with pytest.raises(ProviderError, match=r"set GEMINI_API_KEY or GOOGLE_API_KEY"):
        make_provider("gemini:gemini-2.5-pro", options=empty)
    with pytest.raises(ProviderError, match=r"^openai spec needs a base URL"):
        make_provider("openai:qwen", options=empty)
    local = make_provider("openai:qwen@http://127.0.0.1:9/v1", options=empty)
    assert local.spec == "openai:qwen@http://127.0.0.1:9/v1" and local.family == "openai"
    google = make_provider(
        "gemini:gemini-2.5-flash", options=ProviderOptions(env={"GOOGLE_API_KEY": "k"})
    )
    assert google.spec == "gemini:gemini-2.5-flash"


def test_a_chain_spec_builds_a_fallback_and_limits_come_from_options():
    options = ProviderOptions.from_mapping(
        {
            "max_retries": 1,
            "limits": {"openai:qwen@http://127.0.0.1:9/v1": {"max_concurrency": 4}},
        }
    )
    chain = make_provider(
        "openai:qwen@http://127.0.0.1:9/v1 | gemini:gemini-2.5-pro",
        options=ProviderOptions(
            max_retries=options.max_retries, limits=options.limits, env={"GEMINI_API_KEY": "k"}
        ),
    )
    assert isinstance(chain, FallbackProvider)
    fit = chain.providers[0]
    assert isinstance(fit, ContextFit) and fit.window is None  # learnt from a refusal
    first = fit.inner
    assert isinstance(first, RetryingProvider) and first.policy.max_retries == 1
    assert isinstance(first.inner, LimitedProvider)
    assert first.inner.limiter.limits == Limits(max_concurrency=4)
    for written in ["anthropic:claude-x@http://127.0.0.1:9", "gemini:gemini-2.5-pro@http://h:1"]:
        keyed = ProviderOptions(
            limits={written: Limits(max_concurrency=2)},
            env={"ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "k"},
        )
        waits = make_provider(written, options=keyed)  # their spec names no URL; still keyed
        assert isinstance(waits, UsageLimitWait)  # alone: it waits out a usage limit
        assert isinstance(waits.inner, ContextFit)
        built = waits.inner.inner
        assert isinstance(built, RetryingProvider) and isinstance(built.inner, LimitedProvider)
        assert built.inner.limiter.limits == Limits(max_concurrency=2)
    with pytest.raises(ValueError, match=r"unknown key\(s\) in \[providers\]: \['retries'\]"):
        ProviderOptions.from_mapping({"retries": 2})
    with pytest.raises(ValueError, match=r"\[providers\] max_retries must be a whole number"):
        ProviderOptions.from_mapping({"max_retries": "3"})


def test_deprecated_models_are_named_behind_wrappers_and_in_fallback_chains():
    """Two models the installed SDK lists as deprecated (the list changes with each SDK
    release: old models leave it once retired), one behind a fallback chain, one named twice:
    each said once, with its end-of-life date; a current model not at all."""
    from agents.crew import deprecations
    from agents.providers.anthropic import DEPRECATED_MODELS

    assert len(DEPRECATED_MODELS) >= 2, "the SDK lists no deprecated models to test with"
    first, second = sorted(DEPRECATED_MODELS)[:2]
    options = ProviderOptions(env={"ANTHROPIC_API_KEY": "k"})
    providers = [
        make_provider(f"anthropic:{second}", options=options),
        make_provider(f"openai:qwen@http://127.0.0.1:9/v1 | anthropic:{first}", options=options),
        make_provider(f"anthropic:{second}", options=options),  # named once
        make_provider("anthropic:claude-sonnet-4-6", options=options),
    ]
    assert "claude-sonnet-4-6" not in DEPRECATED_MODELS
    assert deprecations(providers) == [
        f"anthropic:{first} is deprecated: it reaches its end of life on "
        f"{DEPRECATED_MODELS[first]}",
        f"anthropic:{second} is deprecated: it reaches its end of life on "
        f"{DEPRECATED_MODELS[second]}",
    ]


async def test_a_fallback_answer_is_labelled_sim_exactly_when_a_sim_link_gave_it():
    """A chain presents itself as its first link: a real model answering after a SIM link
    failed was labelled SIM, and a SIM link answering after a real one must be."""
    from agents.roles.common import AgentSession
    from engine.events import EventBase, LLMCallFinished

    class Sim(Scripted):
        family = "sim"
        simulated = True

    for first, second, simulated in [
        (Sim("s", [ProviderError("no playbook")]), Scripted("real", ["ok"]), False),
        (Scripted("real", [ProviderError("down")]), Sim("s", ["ok"]), True),
    ]:
        events: list[EventBase] = []
        chain = FallbackProvider([first, second])
        session = AgentSession(chain, events.append, agent_id="critic", role="critic")
        await session.complete(ASK)
        call = next(e for e in events if isinstance(e, LLMCallFinished))
        assert (call.provider, call.simulated) == (second.family, simulated)


def test_retry_after_is_read_as_seconds_or_a_date_and_nonsense_is_no_hint():
    import email.utils
    import time

    from agents.providers.provider_errors import parse_retry_after

    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("0.25") == 0.25
    ahead = parse_retry_after(email.utils.formatdate(time.time() + 120, usegmt=True))
    assert ahead is not None and 115 <= ahead <= 121
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: now
    for nonsense in ("-5", "inf", "1e400", "nan", "30s", "soon", ""):
        assert parse_retry_after(nonsense) is None, nonsense


@pytest.mark.parametrize(
    "key",
    [
        "timeout_s",
        "attempt_timeout_s",
        "retry_base_delay_s",
        "fallback_cooldown_s",
        "fallback_dead_cooldown_s",
    ],
)
def test_nan_in_the_providers_table_is_refused_in_one_line(key: str):
    """TOML has ``nan``: as a timeout it raised ValueError mid-call, as the retry delay it
    slept forever, as a cooldown it put a link down for good while saying nothing of it."""
    import tomllib

    raw = tomllib.loads(f"[providers]\n{key} = nan\n")["providers"]
    with pytest.raises(ValueError, match=rf"^\[providers\] {key} must be a number >= 0, got nan"):
        ProviderOptions.from_mapping(raw)
    cli = tomllib.loads("[cli.mine]\nargv = ['mine']\ntimeout_s = nan\n")
    with pytest.raises(ValueError, match=r"^\[providers.cli.mine\] timeout_s must be a number"):
        ProviderOptions.from_mapping(cli)


def test_a_context_window_is_configured_per_spec_or_family_and_checked():
    spec = "openai:qwen@http://127.0.0.1:9/v1"
    options = ProviderOptions.from_mapping({"limits": {spec: {"context_tokens": 8192}}})
    assert options.limits[spec] == Limits(context_tokens=8192)
    built = make_provider(spec, options=options)
    assert isinstance(built, UsageLimitWait) and isinstance(built.inner, ContextFit)
    assert built.inner.window == 8192
    assert not isinstance(built.inner.inner.inner, LimitedProvider)  # a window limits no rate
    with pytest.raises(ValueError, match=r"^\[providers.limits\] context_tokens must be a whole"):
        ProviderOptions.from_mapping({"limits": {"openai": {"context_tokens": "32k"}}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['num_ctx'\]; expected max_conc"):
        ProviderOptions.from_mapping({"limits": {"openai": {"num_ctx": 8192}}})
