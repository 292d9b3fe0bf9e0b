"""A configured model its provider retires is said in one line, from 30 days before the date.

Google's Gemini API answers a retired 2.5 Pro's requests with 3.8 Flash and bills them at its
rates: a factory left running on the old defaults would have run on another model without a
word. The dates are injected; nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import date

from agents.lifecycle import RETIREMENTS, retirement_notes, retirement_of, roles_by_spec
from agents.providers.anthropic import DEPRECATED_MODELS
from agents.routing import default_models, route

TODAY = date(2026, 11, 24)
BOTH = {"ANTHROPIC_API_KEY": "a", "GEMINI_API_KEY": "g"}


def test_a_config_naming_gemini_2_5_pro_is_told_where_its_requests_will_go():
    routing = route({"critic": "gemini:gemini-2.5-pro", "judge": "gemini:gemini-2.5-pro"}, BOTH)
    assert retirement_notes(roles_by_spec(routing), TODAY) == [
        "WARNING: gemini:gemini-2.5-pro is retired by Google on 2026-12-01 (requests go to "
        "gemini-3.8-flash, billed at its rates); set [models] critic, judge to "
        "gemini:gemini-3.8-flash or another current model"
    ]
    after = retirement_notes(roles_by_spec(routing), date(2026, 12, 2))
    assert after and after[0].startswith("WARNING: gemini:gemini-2.5-pro was retired by Google")


def test_the_note_waits_until_30_days_before_the_date():
    configured = {"gemini:gemini-2.5-flash": ["qc", "reviewers"]}
    assert retirement_notes(configured, date(2026, 10, 31)) == []
    (note,) = retirement_notes(configured, date(2026, 11, 1))
    assert "gemini:gemini-2.5-flash is retired by Google on 2026-12-01" in note
    assert "requests go to gemini-3.5-flash-lite" in note and "[models] qc, reviewers" in note


def test_the_defaults_and_their_neighbours_get_no_note_today():
    for env in ({}, {"ANTHROPIC_API_KEY": "a"}, {"GEMINI_API_KEY": "g"}, BOTH):
        assert retirement_notes(roles_by_spec(route({}, env)), TODAY) == [], env
        assert all(
            retirement_of(spec) is None
            for value in default_models(env).values()
            for spec in ([value] if isinstance(value, str) else value)
        )
    # Names that only begin like a retired one are other models.
    for spec in ("anthropic:claude-opus-4-8", "anthropic:claude-sonnet-4-6", "gemini:gemini-2.5"):
        assert retirement_of(spec) is None, spec


def test_a_retired_anthropic_model_fails_and_each_link_of_a_chain_is_looked_at():
    chain = "openai:qwen@http://127.0.0.1:9/v1 | anthropic:claude-opus-4-1-20250805"
    (note,) = retirement_notes({chain: ["engineer"], "sim:": ["planner"]}, TODAY)
    assert note == (
        "WARNING: anthropic:claude-opus-4-1-20250805 was retired by Anthropic on 2026-08-05 "
        "(requests fail); set [models] engineer to anthropic:claude-opus-4-8 or another "
        "current model"
    )
    # doctor --model SPEC names no role.
    (given,) = retirement_notes({"gemini:gemini-2.5-pro": ["given"]}, TODAY)
    assert "; set [models] to gemini:gemini-3.8-flash" in given


def test_the_table_leaves_the_models_the_anthropic_sdk_lists_to_the_sdks_warning():
    """Else a run would say the same model's end twice at its start."""
    listed = {f"anthropic:{model}" for model in DEPRECATED_MODELS}
    assert not listed & set(RETIREMENTS)
