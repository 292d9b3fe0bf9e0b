"""Model routing (defaults from keys, the cross-family rule) and per-call pricing."""

from __future__ import annotations

import pytest

from agents.pricing import DEFAULT_PRICES, Price, PriceTable, parse_price_overrides
from agents.provider import Usage
from agents.routing import SINGLE_ROLES, RoutingError, default_models, family_of, route

BOTH = {"ANTHROPIC_API_KEY": "a", "GEMINI_API_KEY": "g"}


def test_no_key_means_the_sim_everywhere_with_a_loud_warning():
    routing = route({}, {})
    assert set(routing.models.values()) == {"sim:"} and routing.reviewers == ("sim:",) * 3
    assert routing.warnings == (
        "WARNING: only one model family (sim) is configured: the review panel and the task "
        "reviewer review the planner's and the engineer's work on their own family, so the "
        "reviews are not independent; configure a second family in [models]",
    )


def test_both_keys_put_every_review_on_another_family():
    routing = route({}, BOTH)
    assert routing.spec("planner") == "anthropic:claude-sonnet-5-5"
    assert routing.spec("engineer") == "anthropic:claude-sonnet-5-5"
    assert {family_of(s) for s in routing.reviewers} == {"gemini"}
    assert routing.spec("task_reviewer") == "gemini:gemini-3.8-flash"
    assert routing.warnings == ()
    assert routing.as_dict()["reviewer-2"] == "gemini:gemini-3.5-flash-lite"


def test_one_key_runs_on_that_family_and_warns():
    routing = route({}, {"GOOGLE_API_KEY": "g"})
    assert {family_of(s) for s in routing.models.values()} == {"gemini"}
    assert len(routing.warnings) == 1 and "only one model family (gemini)" in routing.warnings[0]
    assert default_models({"ANTHROPIC_API_KEY": "k"})["reviewers"][0].startswith("anthropic:")


def test_a_reviewer_on_the_authors_family_is_refused_when_another_exists():
    with pytest.raises(RoutingError, match=r"reviewers 'anthropic:claude-haiku-4-5' is on the"):
        route({"reviewers": ["gemini:gemini-2.5-pro", "anthropic:claude-haiku-4-5"]}, BOTH)
    with pytest.raises(RoutingError, match=r"task_reviewer .* on the engineer's family"):
        route({"task_reviewer": "anthropic:claude-opus-4-1"}, BOTH)


LOCAL = "openai:qwen2.5-coder@http://127.0.0.1:8000/v1"


def test_a_local_model_everywhere_and_claude_code_as_the_engineer_is_routed_with_a_warning():
    """A coding agent can review nothing, so it is no family a review panel must move to:
    one local model for every other role is the one-family case (a warning), not a refusal
    that names ``cli`` as where the reviewers should go."""
    configured = dict.fromkeys(SINGLE_ROLES, LOCAL) | {"engineer": "cli:claude"}
    routing = route({**configured, "reviewers": [LOCAL, LOCAL]}, {})
    assert routing.spec("engineer") == "cli:claude"
    assert routing.warnings and "only one model family (openai)" in routing.warnings[0]


@pytest.mark.parametrize("role", ["planner", "verifier", "task_reviewer", "reviewers"])
def test_a_coding_agent_on_a_role_other_than_the_engineer_is_refused_before_the_run(role: str):
    value: str | list[str] = "sim: | cli:codex" if role != "reviewers" else ["sim:", "cli:claude"]
    with pytest.raises(RoutingError, match=rf"\[models\] {role} 'cli:\w+': an external coding"):
        route({role: value}, {})


def test_config_overrides_the_defaults_and_bad_input_is_one_line():
    routing = route({"engineer": "openai:qwen2.5-coder@http://127.0.0.1:8000/v1"}, BOTH)
    assert routing.spec("engineer").startswith("openai:")
    assert routing.spec("task_reviewer") == "gemini:gemini-3.8-flash"
    with pytest.raises(RoutingError, match="unknown role"):
        route({"designer": "sim:"}, {})
    with pytest.raises(RoutingError, match=r"\[models\] planner: bad model spec 'gpt4'"):
        route({"planner": "gpt4"}, {})
    # An unknown family is named as such, not reported as a reviewer-family clash later.
    with pytest.raises(RoutingError, match="planner: unknown model family 'nosuch' in 'nosuch:x'"):
        route({"planner": "nosuch:x"}, {})
    with pytest.raises(RoutingError, match="reviewers: unknown model family 'gemni'"):
        route({"reviewers": ["openai:q@http://127.0.0.1:1/v1 | gemni:flash"]}, {})
    with pytest.raises(RoutingError, match="takes one model spec"):
        route({"judge": ["sim:", "sim:"]}, {})
    assert set(SINGLE_ROLES) >= {"planner", "critic", "verifier", "judge"}


def test_pricing_math_includes_cache_reads_and_writes():
    usage = Usage(
        input_tokens=200_000,
        output_tokens=50_000,
        cache_read_tokens=1_000_000,
        cache_write_tokens=100_000,
    )
    cost = DEFAULT_PRICES.cost("anthropic", "claude-sonnet-4-5", usage)
    # 0.2 * 3 + 0.05 * 15 + 1.0 * 0.30 + 0.1 * 3.75
    assert cost.priced and cost.usd == pytest.approx(0.6 + 0.75 + 0.30 + 0.375)


def test_dated_models_match_their_entry_and_unknown_models_are_unpriced():
    usage = Usage(input_tokens=1_000_000)
    assert DEFAULT_PRICES.cost("gemini", "gemini-2.5-pro-preview-05", usage).usd == 1.25
    unknown = DEFAULT_PRICES.cost("openai", "qwen2.5-coder@http://x/v1", usage)
    assert (unknown.usd, unknown.priced, unknown.key) == (0.0, False, "openai:qwen2.5-coder")
    assert DEFAULT_PRICES.cost("sim", "sim-inventory", usage).usd == 0.0
    assert DEFAULT_PRICES.cost("anthropic", "claude-sonnet-4-5", usage, simulated=True).usd == 0


def test_every_default_model_has_a_list_price_and_no_opus_falls_to_the_old_opus_rates():
    """A default that costs 0 is a bill a cost budget cannot see; claude-opus-4-7 and 4-8
    matched the retired claude-opus-4's entry by prefix and were billed at $15/$75."""
    for env in ({"ANTHROPIC_API_KEY": "a"}, {"GEMINI_API_KEY": "g"}, BOTH):
        for value in default_models(env).values():
            for spec in [value] if isinstance(value, str) else value:
                family, _, model = spec.partition(":")
                assert DEFAULT_PRICES.lookup(family, model) is not None, spec
    for model in ("claude-opus-4-7", "claude-opus-4-8"):
        assert DEFAULT_PRICES.lookup("anthropic", model) == Price(5.0, 25.0, 0.50, 6.25)
    assert DEFAULT_PRICES.lookup("anthropic", "claude-opus-4-20250514") == Price(
        15.0, 75.0, 1.50, 18.75
    )
    # Gemini 3.8 Flash at its list price, not the promotion's half that ends 2026-12-31.
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert DEFAULT_PRICES.cost("gemini", "gemini-3.8-flash", usage).usd == pytest.approx(9.15)
    assert DEFAULT_PRICES.cost("gemini", "gemini-3.5-flash-lite", usage).usd == pytest.approx(2.83)


def test_a_minor_version_is_another_model_but_a_date_is_the_same():
    """``claude-sonnet-5`` is a prefix of ``claude-sonnet-5-5``: by prefix, Sonnet 5.5 would
    take Sonnet 5's price, and a Claude model a minor version past the table (Opus 4.9) the
    retired Opus 4's $15/$75. A date or a ``-latest`` still names the entry's model."""
    sonnet_5_5 = Price(2.0, 10.0, 0.20, 2.50)
    table = PriceTable({"anthropic:claude-sonnet-5": Price(9.0, 9.0)})
    assert table.lookup("anthropic", "claude-sonnet-5-5") is None
    assert table.lookup("anthropic", "claude-sonnet-5-5-20260928") is None
    assert table.lookup("anthropic", "claude-sonnet-5-20260630") == Price(9.0, 9.0)
    for model in ("claude-sonnet-5-5", "claude-sonnet-5-5-20260928"):
        assert DEFAULT_PRICES.lookup("anthropic", model) == sonnet_5_5
    assert DEFAULT_PRICES.lookup("anthropic", "claude-sonnet-5-20260630") == sonnet_5_5
    assert DEFAULT_PRICES.lookup("anthropic", "claude-opus-4-9") is None
    assert DEFAULT_PRICES.lookup("anthropic", "claude-3-5-haiku-latest") is not None
    assert DEFAULT_PRICES.lookup("gemini", "gemini-2.5-flash-preview-09-2025") is not None


def test_config_overrides_prices_and_refuses_bad_entries():
    overrides = parse_price_overrides(
        {"openai:qwen2.5-coder@http://x/v1": {"input": 0.1, "output": 0.2}}, "shopfloor.toml"
    )
    table = PriceTable().with_overrides(overrides)
    assert table.cost("openai", "qwen2.5-coder", Usage(output_tokens=10_000_000)).usd == 2.0
    assert table.lookup("anthropic", "claude-sonnet-4-5") == Price(3.0, 15.0, 0.30, 3.75)
    for bad, message in [
        ({"qwen": {"input": 1, "output": 1}}, "must be a model spec"),
        ({"a:b": {"input": 1}}, "needs at least input and output"),
        ({"a:b": {"input": 1, "output": "x"}}, "output must be a number"),
        ({"a:b": {"input": 1, "output": 1, "tip": 2}}, "unknown key"),
        ({"a:b": {"input": -1, "output": 1}}, "must not be negative"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_price_overrides(bad, "f.toml")
