"""A whole factory run with every role on the Gemini provider (the google-genai SDK), end to end.

The real ``shopfloor`` CLI runs in a subprocess against a fresh git repository, with
``GEMINI_API_KEY`` in the environment and a config that names the models a Gemini key alone gets
by default (agents/routing.py), at ``@http://127.0.0.1:PORT``: Gemini 3.8 Flash for every role
but QC and the second reviewer, which run on Gemini 3.5 Flash-Lite. The model is a loopback
Gemini API this test starts (tests/e2e/gemini_model.py): it answers each request from what it
was sent, and refuses what the real API would (thought signatures not replayed, function
responses that do not answer the calls, roles other than user / model, JSON mode beside
function calling, a thinking level the model does not take), as Gemini 3 does
(tests/e2e/gemini_rules.py). Nothing of the SIM is used; git worktrees, the
gates, the merge queue, SQLite and the headless console are real. On the way the critic's first
request gets a 503 UNAVAILABLE, the planner's a 429 RESOURCE_EXHAUSTED whose wait is only in the
body's RetryInfo, an engineer's turn a MALFORMED_FUNCTION_CALL, and the verifier's report and the
judge's checklist come back invalid first: every one must be ridden out within the attempt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from gemini_model import MODEL, RETRY_DELAY_S, SECOND, GeminiModel, GeminiServer
from gemini_rules import camel
from scripted_factory import ROLES
from wire_run import check_shipped, new_project, run_cleanly

pytestmark = pytest.mark.e2e

KEY = "gm-test-secret-123"
SDK_ENV = ("GOOGLE_", "GEMINI_")
"""What else the google-genai SDK reads from the environment (a key, Vertex AI, a project)."""


def test_every_role_runs_over_the_gemini_wire_to_a_shipped_branch(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    project = new_project(tmp_path, {"GEMINI_API_KEY": KEY}, prefixes=SDK_ENV)
    share_gate_cache(project.home)  # the point is the wire, not the gates
    with GeminiServer(GeminiModel(KEY)) as server:
        model = server.model
        main, second = (f"gemini:{m}@{server.base_url}" for m in (MODEL, SECOND))
        defaults = {"qc": second, "reviewers": [main, second]}
        run = run_cleanly(project, main, model.problems, models=defaults)

        # Every role asked the loopback API, only over the wire, with the key in its header.
        assert model.roles_seen() == set(ROLES), model.roles_seen()
        seen = list(model.seen)
        assert all(s.path == f"/v1/models/{s.model}:generateContent" for s in seen)
        lite = [s for s in seen if s.model == SECOND]
        assert {s.role for s in lite} == {"qc", "reviewer"}
        second_reviewer = [s for s in seen if "You are reviewer reviewer-2" in json.dumps(s.body)]
        assert second_reviewer and all(s in lite for s in second_reviewer)
        assert all(s in second_reviewer for s in lite if s.role == "reviewer")
        # Thinking as each model takes it: 3.8 Flash at its default (MEDIUM; it refuses
        # MINIMAL), 3.5 Flash-Lite asked for MEDIUM over its default MINIMAL; no sampling
        # setting anywhere (Gemini 3 is tuned for temperature 1.0).
        for s in seen:
            thinking = {camel(k): v for k, v in s.config.get("thinkingConfig", {}).items()}
            assert thinking == ({"thinkingLevel": "MEDIUM"} if s.model == SECOND else {})
            assert s.thinking == "MEDIUM"
            assert not {"temperature", "topP", "topK"} & set(s.config), s.config
        assert all(s.headers.get("x-goog-api-key") == KEY for s in seen)
        assert not any("authorization" in s.headers for s in seen)
        assert all(KEY not in json.dumps(s.body) for s in seen), "a request body held the key"
        # ... though the environment an agent's command runs with did come back to the model.
        assert any(s.role == "verifier" and "('PATH', " in json.dumps(s.body) for s in seen)
        engineers = [s for s in seen if s.role == "engineer"]
        assert len(engineers) == 7  # core in three turns, shout in four (it fixes a bug)
        assert any(s.role == "twin" and "choice" in json.dumps(s.body) for s in seen)
        # The verifier's first report and the judge's first verdict were refused and re-asked.
        assert sorted(s.role for s in seen if s.repair) == ["judge", "verifier"]
        tool_loop = [s for s in seen if s.role in ("engineer", "verifier") and not s.repair]
        for s in seen:  # function declarations in a tool loop, JSON mode everywhere else
            assert ("tools" in s.body) == (s in tool_loop)
            json_mode = s.config.get("responseMimeType") == "application/json"
            assert json_mode == ("responseJsonSchema" in s.config) == (s not in tool_loop)
        # Every function-call turn went back with its thought signature (checked on arrival),
        # but the engineers' last (finish), after which their conversations end.
        finished = {sig for sig, calls in model.signatures.items() if calls[0][0] == "finish"}
        assert len(finished) == 2 and model.replayed == set(model.signatures) - finished
        assert len(model.replayed) == 6  # 2 + 3 engineer turns, 1 verifier turn
        assert model.unsigned == []  # never the sentinel for calls Gemini did make
        # The failures were ridden out: the 429's wait was taken from its RetryInfo, and the
        # malformed function call was asked again rather than read as an empty reply.
        assert [(where, status) for where, status, _ in model.faults] == [
            ("critic", 503),
            ("planner", 429),
            ("engineer:shout:2", 200),
        ]
        failed_at = model.faults[1][2]
        retried = min(s.at for s in seen if s.role == "planner")
        assert retried - failed_at >= RETRY_DELAY_S, "the 429's RetryInfo was ignored"

    # The run's own record: shipped, no SIM anywhere, the branch, the key nowhere.
    shipped = check_shipped(run, project, KEY)
    calls = shipped.of_type("LLMCallFinished")
    assert {(e["provider"], e["model"]) for e in calls} == {("gemini", MODEL), ("gemini", SECOND)}
    assert len(calls) == len(seen)
    # Thoughts are billed as output: each call's output is its reply's and its thoughts' tokens.
    for name in (MODEL, SECOND):
        billed = sorted(e["output_tokens"] for e in calls if e["model"] == name)
        assert billed == sorted(s.output_tokens for s in seen if s.model == name)
    assert all(e["cost_usd"] > 0 for e in calls)  # a priced model, thinking tokens included
    assert sum(e["cache_read_tokens"] for e in calls) > 0
