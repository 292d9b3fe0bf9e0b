"""A whole factory run through the real ``shopfloor`` CLI with the engineer on ``cli:claude``:
what a user who leaves Claude Code building overnight gets.

``claude`` is a fake on PATH (tests/e2e/fake_coding_agent.py) that takes Claude Code's
command line, streams its ``stream-json`` events and really edits, tests and commits in the
worktree it is started in, from what the prompt says; every other role is on the loopback
OpenAI-compatible server of tests/e2e/openai_model.py. The fake is told, per task and attempt,
to behave as real agents do: commit its own work, switch to a branch of its own, leave scratch
files, stop at its turn limit, crash, hang, print a huge line, echo its key, write outside its
worktree. Each test checks what the user sees: the shipped branch, ``status --json`` (tokens,
cost, attempts), the agent's log, the user's checkout, where the secrets went.

What an agent does to the repository beyond its worktree (tags, stashes, a user's branch
moved, a remote, hooks, config, ``git gc``) is tried through the real cli provider and
GitWorkspaces alone, with the fence and without it (``fence = false``): faster than a whole
run, and the same code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from openai_model import MODEL, ModelServer
from repo_helpers import git as user_git
from scripted_factory import FILES
from wire_run import (
    REQUEST,
    Project,
    assert_nowhere,
    check_shipped,
    git,
    new_project,
    shopfloor,
    write_config,
)

from agents.provider import CompletionRequest, Message
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import DEFAULT_AGENTS
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError

pytestmark = pytest.mark.e2e
needs_bwrap = pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)

FAKE = Path(__file__).with_name("fake_coding_agent.py")
CLAUDE_KEY = "sk-ant-api03-claude-own-key-0123456789abcdef"
OPENAI_KEY = "sk-test-openai-loopback-key-987654321"
OTHERS = {
    "GEMINI_API_KEY": "AIzaFakeGeminiKeyForTheTest0123456789abc",
    "GITHUB_TOKEN": "ghp_FakeGithubTokenForTheTest0123456789ab",
}
COST = 0.0421  # what the fake reports per successful run (fake_coding_agent.COST)


def claude_project(
    tmp_path: Path,
    plan: dict[str, list[str]],
    share_gate_cache: Callable[[Path], None] | None = None,
) -> tuple[Project, Path]:
    """A fresh project whose PATH finds the fake ``claude`` and ``codex``, told to follow
    ``plan``; the path of the log where each of its runs leaves a line. A test whose point is
    not the gates passes ``share_gate_cache`` (tests/conftest.py): the fakes write the same
    trees in every test, so the session's verdicts on them serve."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'home' / 'factory.db'}"
    keys = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": CLAUDE_KEY, **OTHERS}
    project = new_project(tmp_path, {**keys, "SHOPFLOOR_DB": db})
    if share_gate_cache is not None:
        share_gate_cache(project.home)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("claude", "codex"):
        program = bin_dir / name
        program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        program.chmod(0o755)
    log = tmp_path / "claude-runs.jsonl"
    project.env.update(
        PATH=f"{bin_dir}{os.pathsep}{project.env.get('PATH', '')}",
        FAKE_AGENT_PLAN=json.dumps(plan),
        FAKE_AGENT_LOG=str(log),
    )
    return project, log


def run_factory(
    project: Project, server: ModelServer, *, extra: str = "", engineer: str = "cli:claude"
) -> subprocess.CompletedProcess[str]:
    """``shopfloor run`` headless and verbose, the engineer on ``engineer``."""
    spec = f"openai:{MODEL}@{server.base_url}"
    config = write_config(
        project.folder / "shopfloor.toml", spec, models={"engineer": engineer}, extra=extra
    )
    argv = ["run", REQUEST, "--repo", str(project.repo), "--config", str(config)]
    run = shopfloor(*argv, "--headless", "-v", env=project.env)
    output = run.stdout + run.stderr
    assert server.model.problems == [], server.model.problems
    assert "Traceback (most recent call last)" not in output, output
    return run


def claude_runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def status_of(project: Project, run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    found = re.search(r"^run ([0-9a-f]{12}): ", run.stdout, re.MULTILINE)
    assert found, run.stdout[-3000:] + run.stderr[-3000:]
    done = shopfloor("status", "--json", found.group(1), env=project.env)
    assert done.returncode == 0, done.stderr
    status: dict[str, Any] = json.loads(done.stdout)
    return status


def events_of(project: Project, run_id: str) -> list[dict[str, Any]]:
    done = shopfloor("export", run_id, env=project.env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def agent_lines(events: list[dict[str, Any]], task: str, attempt: int) -> list[str]:
    agent = f"engineer:{task}:a{attempt}"
    return [e["text"] for e in events if e["type"] == "AgentOutput" and e["agent_id"] == agent]


def test_claude_code_as_the_engineer_ships_committing_its_own_work(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """core's agent commits its work itself (``git add -A``, ``git commit``, after running
    pytest: ``__pycache__`` in the index); shout's agent checks out a branch of its own, commits
    there, and leaves a scratch file; it also echoes its key and writes on stderr."""
    plan = {"core/1": ["commit", "noise", "tag"], "shout/1": ["branch", "show_key"]}
    project, log = claude_project(tmp_path, plan, share_gate_cache)
    with ModelServer() as server:
        run = run_factory(project, server)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "engineer" not in server.model.roles_seen()
    shipped = check_shipped(run, project, CLAUDE_KEY)
    status, repo = shipped.status, project.repo
    branch = status["branch"]

    # Only the task's files were shipped: nothing the agent's own `git add -A` swept in.
    shipped_files = set(git(repo, "ls-tree", "-r", "--name-only", branch).splitlines())
    wanted = {path for files in FILES.values() for path in files}
    assert shipped_files == wanted | {"README.md", "pyproject.toml", "greetings/__init__.py"}
    # No branch, tag or note of the agent's own is left in the user's repository, and its
    # log says what was put back.
    refs = git(repo, "for-each-ref", "--format=%(refname)").split()
    assert sorted(refs) == ["refs/heads/main", f"refs/heads/{branch}"], refs
    put_back = agent_lines(shipped.events, "core", 1)
    assert "deleted refs/tags/agent-v1, which the agent created" in put_back
    assert "deleted refs/notes/commits, which the agent created" in put_back

    # The agent ran in its worktree with its own key and no other secret.
    runs = claude_runs(log)
    assert [(r["task"], r["attempt"]) for r in runs] == [("core", 1), ("shout", 1)]
    for entry in runs:
        assert entry["secrets"] == ["ANTHROPIC_API_KEY"], entry
        assert entry["argv"][:2] == ["-p", "<prompt>"]
        assert Path(entry["cwd"]).is_relative_to(project.home), entry["cwd"]
    # The tokens and the dollars the agent reported are the run's.
    calls = [e for e in shipped.of_type("LLMCallFinished") if e["role"] == "engineer"]
    assert [(c["provider"], c["model"]) for c in calls] == [("cli", "claude-sonnet-4-6")] * 2
    assert all(c["input_tokens"] == 1200 and c["cache_read_tokens"] == 9000 for c in calls)
    assert all(c["cost_usd"] == pytest.approx(COST) for c in calls)
    assert status["cost_usd"] >= 2 * COST
    assert status["tokens"]["cached"] >= 2 * 9000
    # What the agent did streamed into its log, and its echoed key did not.
    lines = agent_lines(shipped.events, "core", 1)
    assert "I'll start with the test for task core." in lines
    assert any(line.startswith("[Bash] ") and "pytest" in line for line in lines)
    assert any("Warning: an experimental feature" in line for line in lines)  # its stderr
    cache = project.home / "gate-cache"  # a link to the session's, which rglob does not follow
    stored = [*project.home.rglob("*"), *cache.rglob("*"), *(repo / ".git").rglob("*")]
    assert_nowhere(CLAUDE_KEY, stored)
    for secret in (OPENAI_KEY, *OTHERS.values()):
        assert secret not in shipped.output


def test_failed_attempts_are_retried_with_their_gate_failure_and_still_paid_for(
    tmp_path: Path,
) -> None:
    """core's first agent stops at its turn limit after writing only the test (error_max_turns,
    exit 1): what it wrote goes through the gates, which fail. shout's first agent writes its
    known-buggy draft and says it is done: the tests gate fails. Each retry's prompt carries
    the failure; shout's second agent writes the right code only when it sees the failing
    test's output. Every run, failed or not, is in the tokens and dollars."""
    plan = {"core/1": ["max_turns"], "shout/1": ["draft"], "shout/2": ["needs_failure"]}
    project, log = claude_project(tmp_path, plan)
    with ModelServer() as server:
        run = run_factory(project, server)
    assert run.returncode == 0, run.stdout + run.stderr
    status = status_of(project, run)
    assert status["outcome"] == "shipped"
    assert [(t["id"], t["state"], t["attempts"]) for t in status["tasks"]] == [
        ("core", "merged", 2),
        ("shout", "merged", 2),
    ]
    runs = {(r["task"], r["attempt"]): r["prompt"] for r in claude_runs(log)}
    assert sorted(runs) == [("core", 1), ("core", 2), ("shout", 1), ("shout", 2)]
    assert "The previous attempt failed" not in runs[("shout", 1)]
    retry = runs[("shout", 2)]
    assert "The previous attempt failed" in retry and "Gate 'tests' failed" in retry
    assert "assert 'Hello, Ada!' == 'HELLO, ADA!'" in retry
    assert "Gate 'tests' failed" in runs[("core", 2)]
    for path, text in FILES["shout"].items():
        assert git(project.repo, "show", f"{status['branch']}:{path}") == text

    events = events_of(project, status["run_id"])
    calls = [e for e in events if e["type"] == "LLMCallFinished" and e["role"] == "engineer"]
    assert sorted(c["agent_id"] for c in calls) == [
        "engineer:core:a1",
        "engineer:core:a2",
        "engineer:shout:a1",
        "engineer:shout:a2",
    ]
    assert all(c["cost_usd"] == pytest.approx(COST) for c in calls)
    assert status["cost_usd"] == pytest.approx(4 * COST)  # the loopback roles are unpriced
    failed = agent_lines(events, "core", 1)
    assert any("the agent failed: error_max_turns" in line for line in failed), failed


def test_an_agent_that_crashes_hangs_or_floods_its_output_costs_an_attempt_not_the_run(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """core's first agent crashes as Node does (a stack trace on stderr, exit 1, no result);
    its second prints one enormous line, then finishes its work; shout's first agent hangs
    and is killed at the time limit set for claude in the config, its second ships. (The
    limit leaves the flooding agent room on a loaded machine: at 4 s it was cut short too.)"""
    plan = {"core/1": ["crash"], "core/2": ["huge", "noise"], "shout/1": ["hang"]}
    project, _ = claude_project(tmp_path, plan, share_gate_cache)
    project.env["FAKE_AGENT_HUGE"] = "1500000"
    with ModelServer() as server:
        run = run_factory(project, server, extra="[providers.cli.claude]\ntimeout_s = 8\n")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    status = status_of(project, run)
    assert [(t["id"], t["state"], t["attempts"]) for t in status["tasks"]] == [
        ("core", "merged", 2),
        ("shout", "merged", 2),
    ]
    events = events_of(project, status["run_id"])
    crashed = agent_lines(events, "core", 1)
    assert any("exit code 1" in line and "TypeError" in line for line in crashed), crashed
    hung = agent_lines(events, "shout", 1)
    assert any("cli:claude: timed out after 8s" in line for line in hung), hung
    flooded = agent_lines(events, "core", 2)
    assert max(len(line) for line in flooded) < 20_000
    assert "I'll start with the test for task core." in flooded
    assert len(output) < 200_000
    db = project.home / "factory.db"
    assert db.stat().st_size < 5_000_000


def test_an_engineer_agent_that_is_not_installed_stops_the_run_before_anything_is_paid(
    tmp_path: Path,
) -> None:
    """``claude`` not on PATH: the run paid for its critic, plan, reviews and twin, then
    failed every attempt of its first task ("task(s) failed after all attempts"). It is
    refused at the start, in one line that says what to do."""
    project, _ = claude_project(tmp_path, {})
    (tmp_path / "bin" / "claude").unlink()
    with ModelServer() as server:
        run = run_factory(project, server)
        assert server.model.seen == []
    assert run.returncode != 0
    assert "cli:claude: command not found: claude (the engineer's coding agent)" in run.stderr


@needs_bwrap
def test_an_agent_cannot_write_into_the_users_checkout(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """An agent runs with the user's rights and a shell: by the checkout's absolute path it
    wrote a file there, and the run shipped as if nothing happened. Under bubblewrap the
    checkout is read-only to it; its worktree and the git directory are not. (The gates'
    verdicts are not what this is about.)"""
    plan = {"core/1": ["escape", "commit"]}
    project, _ = claude_project(tmp_path, plan, share_gate_cache)
    with ModelServer() as server:
        run = run_factory(project, server)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (project.repo / "ESCAPED_BY_AGENT.txt").exists()
    assert git(project.repo, "status", "--porcelain") == ""
    status = status_of(project, run)
    lines = agent_lines(events_of(project, status["run_id"]), "core", 1)
    assert any("Read-only file system" in line for line in lines), lines
    assert status["merged"] == ["core", "shout"]


def test_codex_as_the_engineer_ships_with_only_its_own_key_and_its_tokens_priced(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """The same run with ``cli:codex`` (``codex exec --json``): core's agent commits its work
    itself; Codex reports no dollars, so its tokens are priced from the config's entry."""
    project, log = claude_project(tmp_path, {"core/1": ["commit"]}, share_gate_cache)
    price = '[pricing]\n"cli:codex" = { input = 1.25, output = 10.0, cache_read = 0.125 }\n'
    with ModelServer() as server:
        run = run_factory(project, server, engineer="cli:codex", extra=price)
        assert run.returncode == 0, run.stdout + run.stderr
    shipped = check_shipped(run, project, OPENAI_KEY)
    runs = claude_runs(log)
    assert [(r["task"], r["attempt"]) for r in runs] == [("core", 1), ("shout", 1)]
    for entry in runs:
        assert entry["secrets"] == ["OPENAI_API_KEY"], entry
        assert entry["argv"] == ["exec", "--json", "--full-auto", "<prompt>"]
    calls = [e for e in shipped.of_type("LLMCallFinished") if e["role"] == "engineer"]
    assert [(c["provider"], c["model"]) for c in calls] == [("cli", "codex")] * 2
    for call in calls:
        assert (call["input_tokens"], call["cache_read_tokens"]) == (1200, 9000)
        assert call["cost_usd"] == pytest.approx((1200 * 1.25 + 450 * 10 + 9000 * 0.125) / 1e6)
    lines = agent_lines(shipped.events, "shout", 1)
    assert any(line.startswith("[command] ") and "pytest" in line for line in lines), lines
    assert any(line.startswith("[edit] ") and "greetings/shout.py" in line for line in lines)
    for secret in (CLAUDE_KEY, *OTHERS.values()):
        assert secret not in shipped.output


# -- what an agent does to the repository beyond its worktree --------------------------------


FENCES = [pytest.param(True, id="fenced", marks=needs_bwrap), pytest.param(False, id="unfenced")]
REFUSED = ("Read-only file system", "Device or resource busy")
"""What the fence answers an agent writing the config, a hook or the checkout's HEAD."""


def habits_repo(tmp_path: Path) -> Path:
    """A user's repository with a branch of its own (``feature``), a stash and a hook."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name, content in {"README.md": "# greetings\n", "greetings/__init__.py": ""}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
    user_git(repo, "init", "-q", "-b", "main")
    user_git(repo, "add", "-A")
    user_git(repo, "commit", "-q", "-m", "initial")
    user_git(repo, "checkout", "-q", "-b", "feature")
    (repo / "FEATURE.md").write_text("only on feature\n")
    user_git(repo, "add", "-A")
    user_git(repo, "commit", "-q", "-m", "feature work")
    user_git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# greetings, unfinished\n")
    user_git(repo, "stash", "push", "-q", "-m", "the user's own stash")
    (repo / ".git" / "hooks" / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    return repo


def fingerprint(repo: Path) -> dict[str, object]:
    """The repository as the user knows it: refs, HEAD, stash list, config, hooks, info."""
    git_dir = repo / ".git"
    refs = user_git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    files = {
        str(path.relative_to(git_dir)): path.read_bytes()
        for folder in ("hooks", "info")
        for path in sorted((git_dir / folder).rglob("*"))
        if path.is_file() and path.name != "refs"  # info/refs: git gc's output
    }
    return {
        "refs": [ref for ref in refs if not ref.startswith("refs/heads/shopfloor/")],
        "HEAD": (git_dir / "HEAD").read_text(),
        "stash": user_git(repo, "stash", "list"),
        "config": (git_dir / "config").read_bytes(),
        "files": files,
    }


@dataclass
class Attempt:
    """One attempt of task core through the cli provider and GitWorkspaces."""

    said: list[str]
    notes: list[str]
    error: str | None
    shipped: list[str]


async def attempt_with(tmp_path: Path, repo: Path, habits: list[str], fence: bool) -> Attempt:
    """cli:claude (the fake) does task core in a worktree with ``habits``; its work is
    committed and merged onto the integration branch, as the build and merge queue do."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    claude = bin_dir / "claude"
    claude.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    claude.chmod(0o755)
    agent = replace(
        DEFAULT_AGENTS["claude"],
        argv=(str(claude), *DEFAULT_AGENTS["claude"].argv[1:]),
        fence=fence,
    )
    env = {
        **os.environ,
        "FAKE_AGENT_PLAN": json.dumps({"core/1": [*habits, "lazy"]}),
        "FAKE_AGENT_PWNED": str(tmp_path / "pwned.log"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    provider = CliProvider("claude", agent, env=env)
    ws = GitWorkspaces(repo, "habits", tmp_path / "worktrees")
    base = await ws.start()
    worktree = await ws.add_worktree("core-a1", base)
    prompt = "Your task (core, attempt 1 of 3): write greetings/core.py and its test."
    request = CompletionRequest(
        system="", messages=(Message("user", prompt),), labels={"workspace": str(worktree)}
    )
    said: list[str] = []
    notes: list[str] = []
    await provider.complete(request, said.append)
    try:
        commit = await ws.commit_all(worktree, "Add core", note=notes.append)
    except WorkspaceError as exc:
        return Attempt(said, notes, str(exc), [])
    finally:
        await ws.remove_worktree(worktree)
    assert commit is not None
    candidate = await ws.prepare_merge("core", commit, "Add core")
    assert candidate.commit is not None, candidate.conflict
    await ws.advance(candidate.commit, candidate.base)
    await ws.remove_worktree(candidate.worktree)
    shipped = git(repo, "ls-tree", "-r", "--name-only", ws.integration_tip()).split()
    return Attempt(said, notes, None, shipped)


PUT_BACK = {
    "tag": ["deleted refs/tags/agent-v1", "deleted refs/notes/commits"],
    "stash": ["put back refs/stash at"],
    "update_ref": ["put back refs/heads/feature at", "deleted refs/heads/agent-pushed"],
    "main_head": [
        "put back HEAD at refs/heads/main (the agent had moved it to refs/heads/feature)"
    ],
    "remote": ["put back .git/config, which the agent changed"],
    "hooks": ["removed .git/hooks/post-checkout", "removed .git/hooks/reference-transaction"],
    "config": ["put back .git/config, which the agent changed"],
}
"""What the log says was put back after each habit; with the fence, the habits of the last
four never get that far (:data:`REFUSED`), but the refs of the first three still do."""


@pytest.mark.parametrize("fence", FENCES)
async def test_what_an_agent_changes_in_the_repository_is_put_back_and_said(
    tmp_path: Path, fence: bool
) -> None:
    """The agent's worktree shares the user's git directory: its tag and note, its stash, the
    user's branch it moved and the branch it pushed, the checkout it switched, the remote it
    added, the hooks and the fsmonitor command it left stayed in the user's repository, and
    the hooks ran inside the factory's next git calls. Now the repository is as the user left
    it, nothing of the agent's ran, the task's work still lands, and the log says what was
    put back. With the fence the config, the hooks and the checkout's HEAD were never
    written."""
    repo = habits_repo(tmp_path)
    before = fingerprint(repo)
    done = await attempt_with(tmp_path, repo, sorted(PUT_BACK), fence)
    assert done.error is None, done.error
    assert set(FILES["core"]) <= set(done.shipped)
    assert fingerprint(repo) == before
    assert not (tmp_path / "pwned.log").exists(), (tmp_path / "pwned.log").read_text()
    fenced_off = {"main_head", "remote", "hooks", "config"} if fence else set()
    refused = [line for line in done.said if any(reason in line for reason in REFUSED)]
    assert len(refused) == (6 if fence else 0), refused  # HEAD, remote, 2 hooks, 2 config keys
    for habit, lines in PUT_BACK.items():
        for expected in lines:
            said = any(line.startswith(expected) for line in done.notes)
            assert said == (habit not in fenced_off), (expected, done.notes)


@pytest.mark.parametrize("fence", FENCES)
async def test_an_agent_running_git_gc_costs_nothing_the_repository_needs(
    tmp_path: Path, fence: bool
) -> None:
    """``git gc --prune=now`` packs the user's loose objects and prunes: the factory sees
    objects vanish, checks the repository with ``git fsck`` and, everything still there,
    lands the work. Under the fence gc cannot expire the checkout's read-only reflog and
    stops before it packs anything."""
    repo = habits_repo(tmp_path)
    before = fingerprint(repo)
    done = await attempt_with(tmp_path, repo, ["gc"], fence)
    assert done.error is None, done.error
    assert set(FILES["core"]) <= set(done.shipped)
    assert fingerprint(repo) == before
    vanished = any(line.startswith("objects were deleted") for line in done.notes)
    assert vanished != fence, done.notes
    assert user_git(repo, "fsck", "--connectivity-only", "--no-dangling") == ""


@pytest.mark.parametrize("fence", FENCES)
async def test_an_agent_that_prunes_a_users_branch_away_fails_the_attempt_saying_so(
    tmp_path: Path, fence: bool
) -> None:
    """The agent deletes the user's ``feature`` branch, expires the reflogs and prunes: the
    branch's commit is gone for good. The run used to ship as if nothing happened; now the
    attempt fails with what could not be put back, and nothing of it is committed. Under the
    fence the checkout's reflog is read-only, so expiring it fails, the checkout's history
    keeps the commit, and the branch is simply put back."""
    repo = habits_repo(tmp_path)
    feature = user_git(repo, "rev-parse", "feature")
    done = await attempt_with(tmp_path, repo, ["lose"], fence)
    if fence:
        assert done.error is None
        assert user_git(repo, "rev-parse", "feature") == feature
        assert any("refs/heads/feature" in note for note in done.notes), done.notes
        return
    assert done.error is not None
    assert done.error.startswith("the agent deleted objects the repository needs")
    assert f"cannot put back refs/heads/feature at {feature[:10]}" in done.error
    assert "\n" not in done.error
    assert user_git(repo, "rev-parse", "--verify", "--quiet", "main") != ""
