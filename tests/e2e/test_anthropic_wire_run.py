"""A whole factory run with every role on the Anthropic provider, over the official SDK's wire.

The real ``shopfloor`` CLI runs in a subprocess against a fresh git repository, with a config
that names ``anthropic:MODEL@http://127.0.0.1:PORT`` for every role and ``ANTHROPIC_API_KEY``
in the environment. The model is a loopback Messages API this test starts
(tests/e2e/anthropic_model.py): it answers each request from what it was sent, and checks it
as the API would. Nothing of the SIM is used; everything else is real: the anthropic SDK, git
worktrees, the gates, the merge queue, SQLite, the headless console.

Three times: with a model that takes forced tool use and does not think (Sonnet 4.6), whose
calls go as plain ``messages.create`` requests; with a model the SDK lists as deprecated, whose
every call the provider streams (server-sent events); and with Claude Sonnet 5.5, which thinks
by default (so every call is streamed, for the thinking's room), answers a forced
``tool_choice`` with a 400 and wants each tool-calling turn's thinking blocks back unchanged
(tests/e2e/anthropic_thinking.py): its structured answers come through structured outputs.
Each run meets an overloaded API (529) and a rate limit (429, ``retry-after: 0``) on the way;
the streamed one also a stream that breaks with an ``error`` event after its HTTP 200, and one
that ends in the middle of a tool call's input: each is a failed call to try again, not an
answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from anthropic import __version__ as sdk_version
from anthropic._constants import ANTHROPIC_API_VERSION
from anthropic_model import (
    MODEL,
    RATE_LIMITED,
    RESPOND,
    SERVED,
    STREAMED_MODEL,
    THINKING_MODEL,
    LoopbackModel,
    ModelServer,
)
from anthropic_thinking import THOUGHT
from scripted_factory import ROLES
from wire_run import check_shipped, new_project, run_cleanly

pytestmark = pytest.mark.e2e

KEY = "sk-ant-test-secret-123"
CACHE = {"type": "ephemeral"}
USAGE = {  # the API's usage field -> the LLMCallFinished field it must land in
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}


@pytest.mark.parametrize(
    "model_name", [MODEL, STREAMED_MODEL, THINKING_MODEL], ids=["messages", "streamed", "thinking"]
)
def test_every_role_runs_over_the_anthropic_wire_to_a_shipped_branch(
    tmp_path: Path, model_name: str, share_gate_cache: Callable[[Path], None]
) -> None:
    thinking = model_name == THINKING_MODEL
    streamed = model_name in (STREAMED_MODEL, THINKING_MODEL)
    project = new_project(tmp_path, {"ANTHROPIC_API_KEY": KEY})
    share_gate_cache(project.home)  # the point is the wire, not the gates
    with ModelServer(LoopbackModel(model=model_name)) as server:
        spec = f"anthropic:{model_name}@{server.base_url}"
        model = server.model
        run = run_cleanly(project, spec, model.problems)

        # Every role asked the loopback API, with the key in one auth header and nowhere else
        # (x-api-key, or a bearer token as anthropic 2.x sends it), and the API version.
        assert model.roles_seen() == set(ROLES), model.roles_seen()
        seen = list(model.seen)
        for s in seen:
            holding = {name: value for name, value in s.headers.items() if KEY in value}
            assert holding in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}), holding
            assert s.headers["anthropic-version"] == ANTHROPIC_API_VERSION
            assert s.headers["user-agent"] == f"AsyncAnthropic/Python {sdk_version}"
            assert KEY not in json.dumps(s.body), "a request body held the key"
            assert s.streamed == streamed, (s.role, s.body.get("stream"))
        # The API's bad moments were ridden out: each failed request was asked again.
        assert sorted(model.faults) == sorted(
            [
                "planner: 529 overloaded_error",
                "qc: 429 rate_limit_error",
                *(["critic: overloaded_error in the stream"] if streamed else []),
                *(["engineer: cut in the stream"] if streamed else []),
            ]
        )
        # ... and each was told in the waiting agent's log as what it was.
        told = [
            "HTTP 529 overloaded_error: Overloaded",
            f"HTTP 429 rate_limit_error: {RATE_LIMITED}",
            *(["error in the stream: overloaded_error: Overloaded"] if streamed else []),
            *(["the stream ended before the message did"] if streamed else []),
        ]
        for line in told:
            assert f"anthropic:{model_name}: {line}; retrying in " in run.stdout, line
        assert "HTTP 200" not in run.stdout
        # The streamed run's model is one the SDK lists as deprecated: said once, at the start.
        deprecated = f"anthropic:{model_name} is deprecated: it reaches its end of life on "
        assert run.stdout.count(deprecated) == (1 if model_name == STREAMED_MODEL else 0)
        # The environment an agent's command runs with did come back to the model.
        assert any(s.role == "verifier" and "('PATH', " in json.dumps(s.body) for s in seen)
        engineers = [s for s in seen if s.role == "engineer"]
        assert len(engineers) == 7  # core in three turns, shout in four (it fixes a bug)
        assert any(s.role == "twin" and "choice" in json.dumps(s.body) for s in seen)
        # Claude's whitespace-only text before its calls (an engineer's second turn) went back
        # as the calls alone: the API refuses a text block of whitespace.
        # A thinking model's turns go back with their thinking blocks first, as they came
        # (the loopback refuses a tool loop that drops or alters them).
        quiet = [s.body["messages"][3]["content"] for s in engineers if s.turn == 2]
        calls = ["thinking"] * thinking + ["tool_use"] * 2
        assert quiet and all([b["type"] for b in c] == calls for c in quiet), quiet
        # The verifier's prose report was re-asked, and the judge's stringified checklist
        # (structured outputs hold a thinking model's answer to its schema).
        repaired = ["verifier"] if thinking else ["judge", "verifier"]
        assert sorted(s.role for s in seen if s.repair) == repaired

        # Tool loops offer the toolbelt; every other call forces the one answer tool, or
        # (a model that refuses forcing) asks for the schema as structured outputs.
        tool_loop = [s for s in seen if s.role in ("engineer", "verifier") and not s.repair]
        for s in seen:
            names = [t["name"] for t in s.body.get("tools", [])]
            if s in tool_loop:
                assert "tool_choice" not in s.body and RESPOND not in names
            elif thinking:
                assert "tool_choice" not in s.body, s.body["tool_choice"]
                schema = s.body["output_config"]["format"]["schema"]
                assert schema["additionalProperties"] is False
                # Tool blocks in the history (the verifier's re-ask) need tools declared.
                assert names == ([RESPOND] if s.role == "verifier" else [])
            else:
                assert s.body["tool_choice"] == {"type": "tool", "name": RESPOND}
                assert names == [RESPOND]
            # A thinking model gets room for its thoughts besides the answer's own limit.
            assert (s.body["max_tokens"] > 16_000) == thinking
            # The stable prefix is marked for the cache: the system prompt, the first turn.
            assert s.body["system"][0]["cache_control"] == CACHE
            assert s.body["messages"][0]["content"][-1]["cache_control"] == CACHE
        # So each turn of a tool loop reads the turns before it from the cache.
        assert all(s.usage["cache_read_input_tokens"] > 0 for s in tool_loop if s.turn > 0)
        assert all(s.usage["cache_creation_input_tokens"] > 0 for s in tool_loop)

    # The run's own record: shipped, no SIM, the branch, the key nowhere.
    shipped = check_shipped(run, project, KEY)
    started, calls = shipped.of_type("AgentStarted"), shipped.of_type("LLMCallFinished")
    assert {e["model"] for e in started} == {f"anthropic:{model_name}"}
    served = SERVED.get(model_name, model_name)
    assert {(e["provider"], e["model"]) for e in calls} == {("anthropic", served)}
    assert len(calls) == len(seen)
    # Every token the API billed is accounted, each kind in its own field, and priced.
    for wire, ours in USAGE.items():
        assert sum(e[ours] for e in calls) == sum(s.usage[wire] for s in seen), (wire, ours)
    assert all(e["cost_usd"] > 0 for e in calls)
    # Thinking is billed as output, inside output_tokens: counted once, above. Its text
    # (the loopback writes each turn's note there) is never an agent's answer or log line.
    if thinking:
        assert all(s.usage["output_tokens_details"]["thinking_tokens"] > 0 for s in seen)
    assert THOUGHT not in run.stdout
    assert not [e for e in shipped.events if THOUGHT in json.dumps(e)]
