"""A whole factory run with every role on the OpenAI-compatible provider: the path users of
vLLM, Ollama or llama.cpp take, end to end.

The real ``shopfloor`` CLI runs in a subprocess against a fresh git repository, with a config
that names ``openai:MODEL@http://127.0.0.1:PORT/v1`` for every role, and a key in the
environment. The model is a loopback server this test starts (tests/e2e/openai_model.py): it
answers each request from what it was sent. Nothing of the SIM is used. Everything else is real:
git worktrees, the gates (ruff, pytest, bandit, detect-secrets, vulture), the merge queue,
SQLite, the headless console.

Twice: with native tool calls and ``response_format`` (vLLM, Ollama with a tool-capable model),
and against a server that refuses both with an HTTP 400, where the provider must fall back to
the text format for good (SEARCH/REPLACE edits, fenced JSON actions, the schema in the prompt).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_model import MODEL, ROLES, LoopbackModel, ModelServer
from wire_run import check_shipped, new_project, run_cleanly

pytestmark = pytest.mark.e2e

KEY = "sk-test-secret-123"


@pytest.mark.parametrize("native", [True, False], ids=["native-tools", "text-fallback"])
def test_every_role_runs_over_the_openai_wire_to_a_shipped_branch(
    tmp_path: Path, native: bool, share_gate_cache: Callable[[Path], None]
) -> None:
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY})
    share_gate_cache(project.home)  # the point is the wire, not the gates
    with ModelServer(LoopbackModel(native=native)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        model = server.model
        run = run_cleanly(project, spec, model.problems)

        # Every role asked the loopback model, and only over the wire, with the key.
        assert model.roles_seen() == set(ROLES), model.roles_seen()
        seen = list(model.seen)
        assert all(s.headers.get("authorization") == f"Bearer {KEY}" for s in seen)
        assert all(KEY not in json.dumps(s.body) for s in seen), "a request body held the key"
        # ... though the environment an agent's command runs with did come back to the model.
        assert any(s.role == "verifier" and "('PATH', " in json.dumps(s.body) for s in seen)
        engineers = [s for s in seen if s.role == "engineer"]
        assert len(engineers) == 7  # core in three turns, shout in four (it fixes a bug)
        assert any(s.role == "twin" and "choice" in json.dumps(s.body) for s in seen)
        # The verifier's first report and the judge's first verdict were refused and re-asked.
        assert sorted(s.role for s in seen if s.repair) == ["judge", "verifier"]
        tool_loop = [s for s in seen if s.role in ("engineer", "verifier") and not s.repair]
        if native:
            assert model.refused == []
            assert all(("tools" in s.body) == (s in tool_loop) for s in seen)
            assert all(("response_format" in s.body) != (s in tool_loop) for s in seen)
        else:  # each feature refused once, then never offered again
            assert model.refused == ["response_format", "tools"]
            assert not any("tools" in s.body or "response_format" in s.body for s in seen)

    # The run's own record: shipped, no SIM, the branch, the key nowhere.
    shipped = check_shipped(run, project, KEY)
    started, calls = shipped.of_type("AgentStarted"), shipped.of_type("LLMCallFinished")
    assert {e["model"] for e in started} == {spec}
    assert {(e["provider"], e["model"]) for e in calls} == {("openai", MODEL)}
    assert len(calls) == len(seen)
