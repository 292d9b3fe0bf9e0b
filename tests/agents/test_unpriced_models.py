"""A model the price table does not know costs an unknown amount, not $0.00.

Its calls were recorded at cost 0 with nothing to say so: ``status --json``, the TUI's strip
and the console said $0.0000 for a night on a new Anthropic id or an unpriced gateway model,
and a cost budget never tripped. Now each such call is marked unpriced, the run keeps which
models they were, every place that shows the cost says "+ unpriced", and a run with a cost
budget is warned at its start about the models the budget cannot see.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from role_fakes import ScriptedProvider, collector, of

from agents.crew import Crew
from agents.pricing import DEFAULT_PRICES, Price
from agents.provider import CompletionRequest, Message, Usage
from agents.providers.cli import CliProvider
from agents.roles.common import AgentSession
from engine.event_codec import event_from_json
from engine.events import LLMCallFinished
from engine.state import RunState
from tui.text import cost_text
from tui.widgets.run_header import budget_text


def call(provider: ScriptedProvider) -> list[LLMCallFinished]:
    events, emit = collector()
    session = AgentSession(provider, emit, agent_id="planner", role="planner")
    request = CompletionRequest(system="you plan", messages=[Message(role="user", content="plan")])
    asyncio.run(session.complete(request))
    return of(events, LLMCallFinished)


def test_a_call_on_a_model_without_a_price_is_marked_unpriced() -> None:
    (known,) = call(ScriptedProvider(["ok"], family="anthropic", model="claude-sonnet-4-5"))
    assert known.priced and known.cost_usd > 0
    (unknown,) = call(ScriptedProvider(["ok"], family="openai", model="qwen3-coder"))
    assert not unknown.priced and unknown.cost_usd == 0
    (sim,) = call(ScriptedProvider(["ok"], family="sim", model="inventory", simulated=True))
    assert sim.priced  # the SIM is free: nothing it says was bought


def test_the_run_keeps_the_unpriced_models_and_every_cost_says_so() -> None:
    (unknown,) = call(ScriptedProvider(["ok"], family="openai", model="qwen3-coder"))
    (known,) = call(ScriptedProvider(["ok"], family="anthropic", model="claude-sonnet-4-5"))
    state = RunState.fold([known, unknown, unknown])
    assert state.unpriced_models == {"openai:qwen3-coder": 2}
    assert state.to_status()["unpriced_models"] == {"openai:qwen3-coder": 2}
    assert cost_text(state.cost_usd, state.unpriced_models).endswith("+ unpriced")
    assert "+ unpriced" in str(budget_text(state))
    priced_only = RunState.fold([known])
    assert "unpriced" not in str(budget_text(priced_only))


def test_a_call_whose_usage_was_estimated_says_so() -> None:
    estimated = Usage(input_tokens=120, output_tokens=10, estimated=True)
    provider = ScriptedProvider(["ok"], family="anthropic", model="claude-sonnet-4-5")
    (call_,) = call(replace(provider, usage=estimated))
    assert call_.tokens_estimated and call_.input_tokens == 120
    (exact,) = call(provider)
    assert not exact.tokens_estimated


def test_a_call_logged_before_the_field_existed_loads_as_priced() -> None:
    (known,) = call(ScriptedProvider(["ok"], family="anthropic", model="claude-sonnet-4-5"))
    body = known.model_dump(mode="json")
    del body["priced"]
    old = event_from_json(json.dumps(body))
    assert isinstance(old, LLMCallFinished) and old.priced
    assert RunState.fold([old]).unpriced_models == {}


def test_the_crew_names_its_models_the_price_table_does_not_know() -> None:
    class Role:
        prices = DEFAULT_PRICES

    unknown = ScriptedProvider([], family="openai", model="qwen3-coder")
    known = ScriptedProvider([], family="anthropic", model="claude-sonnet-4-5")
    cli = ScriptedProvider([], family="cli", model="codex")
    crew = Crew.__new__(Crew)
    object.__setattr__(crew, "planner", Role())
    object.__setattr__(
        crew, "providers", {p.spec: p for p in (unknown, known, cli, replace(unknown))}
    )
    assert crew.unpriced() == ["openai:qwen3-coder"]


def test_a_coding_agent_that_says_only_tokens_is_named_unless_priced() -> None:
    """``cli:codex`` (and ``cli:gemini``, ``cli:aider``) say tokens, not dollars: a run with
    a cost budget was not warned that the budget could not see its engineer. Claude Code,
    which bills each run, and a priced agent are not named."""
    agents = [CliProvider(name) for name in ("claude", "codex", "gemini", "aider")]
    crew = Crew.__new__(Crew)

    class Role:
        prices = DEFAULT_PRICES

    object.__setattr__(crew, "planner", Role())
    object.__setattr__(crew, "providers", {p.spec: p for p in agents})
    assert crew.unpriced() == ["cli:aider", "cli:codex", "cli:gemini"]

    class Priced:
        prices = DEFAULT_PRICES.with_overrides({"cli:codex": Price(1.25, 10.0)})

    object.__setattr__(crew, "planner", Priced())
    assert crew.unpriced() == ["cli:aider", "cli:gemini"]
