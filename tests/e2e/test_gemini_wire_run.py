"""A whole factory run with every role on the Gemini provider (the google-genai SDK), end to end.

The real ``shopfloor`` CLI runs in a subprocess against a fresh git repository, with a config
that names ``gemini:MODEL@http://127.0.0.1:PORT`` for every role and ``GEMINI_API_KEY`` in the
environment. The model is a loopback Gemini API this test starts (tests/e2e/gemini_model.py): it
answers each request from what it was sent, and refuses what the real API would (thought
signatures not replayed, function responses that do not answer the calls, roles other than
user / model, JSON mode beside function calling). Nothing of the SIM is used; git worktrees, the
gates, the merge queue, SQLite and the headless console are real. On the way the critic's first
request gets a 503 UNAVAILABLE, the planner's a 429 RESOURCE_EXHAUSTED whose wait is only in the
body's RetryInfo, an engineer's turn a MALFORMED_FUNCTION_CALL, and the verifier's report and the
judge's checklist come back invalid first: every one must be ridden out within the attempt.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gemini_model import (
    FILES,
    MODEL,
    PROBE,
    RETRY_DELAY_S,
    ROLES,
    GeminiModel,
    GeminiServer,
)

from agents.routing import SINGLE_ROLES

pytestmark = pytest.mark.e2e

KEY = "gm-test-secret-123"
REQUEST = "Build a tiny greetings package: greet(name) and shout(name), tested with pytest."
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
PYPROJECT = """\
[project]
name = "greetings"
version = "0.1.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def make_repo(path: Path) -> Path:
    """An empty project: a README, a pyproject and an empty package (create mode)."""
    (path / "greetings").mkdir(parents=True)
    (path / "greetings" / "__init__.py").write_text("")
    (path / "README.md").write_text("# greetings\n")
    (path / "pyproject.toml").write_text(PYPROJECT)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "An empty greetings project")
    return path


def write_config(path: Path, base_url: str) -> Path:
    spec = json.dumps(f"gemini:{MODEL}@{base_url}")
    roles = "\n".join(f"{role} = {spec}" for role in SINGLE_ROLES)
    path.write_text(
        f"""\
[engine]
workers = 2
max_attempts = 2

[gates]
pytest_autoload_plugins = false
test_timeout_s = 120

[models]
{roles}
reviewers = [{spec}, {spec}]
"""
    )
    return path


def subprocess_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_TOKEN", "_BASE_URL"))
        and not k.startswith(("SHOPFLOOR_", "GOOGLE_", "GEMINI_"))
    }
    env.update(GIT_ENV)
    env.update(
        SHOPFLOOR_HOME=str(home),
        GEMINI_API_KEY=KEY,
        NO_COLOR="1",
        COLUMNS="200",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def shopfloor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed console script (``python -m tui.cli`` where there is none)."""
    script = Path(sys.executable).with_name("shopfloor")
    argv = [str(script)] if script.is_file() else [sys.executable, "-m", "tui.cli"]
    return subprocess.run(
        [*argv, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        stdin=subprocess.DEVNULL,
    )


def test_every_role_runs_over_the_gemini_wire_to_a_shipped_branch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    repo = make_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD").strip()
    env = subprocess_env(home)
    with GeminiServer(GeminiModel(KEY)) as server:
        config = write_config(tmp_path / "shopfloor.toml", server.base_url)
        run = shopfloor(
            "run",
            REQUEST,
            "--repo",
            str(repo),
            "--config",
            str(config),
            "--headless",
            "-v",
            env=env,
        )
        model = server.model
        output = run.stdout + run.stderr
        assert model.problems == [], f"the loopback Gemini API refused requests: {model.problems}"
        assert run.returncode == 0, output
        assert "Traceback (most recent call last)" not in output

        # Every role asked the loopback API, only over the wire, with the key in its header.
        assert model.roles_seen() == set(ROLES), model.roles_seen()
        seen = list(model.seen)
        assert all(s.path == f"/v1/models/{MODEL}:generateContent" for s in seen)
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

    # The run's own record: shipped, no SIM anywhere.
    status_run = shopfloor("status", "--json", _run_id(run.stdout), env=env)
    assert status_run.returncode == 0, status_run.stderr
    status: dict[str, Any] = json.loads(status_run.stdout)
    assert status["outcome"] == "shipped", status
    assert status["simulated"] is False
    assert status["mode"] == "create"
    assert [(t["id"], t["state"], t["attempts"]) for t in status["tasks"]] == [
        ("core", "merged", 1),
        ("shout", "merged", 1),
    ]
    assert status["merged"] == ["core", "shout"]
    scores = status["scores"]
    assert scores["critic"] and scores["critic"] > 8
    assert scores["reviews"] == {"reviewer-1": 97, "reviewer-2": 97}
    assert scores["review_round"] == 2
    assert scores["qc"] == 91 and scores["judge"] == 96
    assert status["tokens"]["input"] > 0 and status["tokens"]["output"] > 0
    assert [e["decided_by"] for e in status["escalations"]] == ["twin"]
    assert not re.search(r"\bSIM\b", output), "a SIM label in the run's output"
    assert "reviewer-1 round 1: 88/100, 1 finding(s), 1 patch(es)" in output

    exported = shopfloor("export", status["run_id"], env=env)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    started = [e for e in events if e["type"] == "AgentStarted"]
    calls = [e for e in events if e["type"] == "LLMCallFinished"]
    assert {e["role"] for e in started} == set(ROLES)
    assert {e["role"] for e in calls} == set(ROLES)
    for event in (*started, *calls):
        assert event["simulated"] is False, event
    assert {(e["provider"], e["model"]) for e in calls} == {("gemini", MODEL)}
    assert len(calls) == len(seen)
    assert all(e["cost_usd"] > 0 for e in calls)  # a priced model, thinking tokens included
    assert sum(e["cache_read_tokens"] for e in calls) > 0
    verdict = next(e for e in events if e["type"] == "VerificationFinished")
    assert verdict["passed"] and verdict["broken"] == []
    assert "shout() of an empty name returns 'HELLO, !'" in verdict["checklist"]  # the patch

    # The shipped branch holds what the engineers wrote, one commit per task.
    branch = status["branch"]
    assert branch and branch in run.stdout
    subjects = git(repo, "log", "--format=%s", f"{base}..{branch}").splitlines()
    assert sorted(subjects) == ["Greet a person by name", "Shout the greeting"]
    for files in FILES.values():
        for name, text in files.items():
            assert git(repo, "show", f"{branch}:{name}") == text
    assert PROBE not in git(repo, "ls-tree", "-r", "--name-only", branch)  # verifier's scratch
    assert git(repo, "rev-parse", "HEAD").strip() == base  # the user's branch did not move
    assert git(repo, "status", "--porcelain") == ""

    # The key is in no output, no stored event, no file the run left in its data folder.
    assert KEY not in output + exported.stdout + status_run.stdout
    for path in [*home.rglob("*"), *(repo / ".git").rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the key is stored in {path}"


def _run_id(stdout: str) -> str:
    found = re.search(r"^run ([0-9a-f]{12}): shipped", stdout, re.MULTILINE)
    assert found, stdout[-3000:]
    return found.group(1)
