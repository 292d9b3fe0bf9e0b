"""A whole factory run through the real ``shopfloor`` CLI, against a loopback model: the
repository, config and environment it runs with, and what every such run must show after.

Shared by the end-to-end wire tests (tests/e2e/test_*_wire_run.py): each starts its own
loopback server speaking one provider's wire, names it for every role, runs, and checks the
wire's own details; :func:`check_shipped` checks the rest — shipped, no SIM, every role asked,
the branch holding what the engineers wrote, the user's branch untouched, the key nowhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repo_helpers import GIT_ENV
from repo_helpers import git as repo_git
from scripted_factory import FILES, PROBE, ROLES

from agents.routing import SINGLE_ROLES

REQUEST = "Build a tiny greetings package: greet(name) and shout(name), tested with pytest."
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
    """git's stdout as it is (a file's bytes from ``git show`` are compared exactly)."""
    return repo_git(repo, *args, strip=False)


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


def write_config(
    path: Path,
    spec: str,
    *,
    models: Mapping[str, str | list[str]] | None = None,
    engine: Mapping[str, object] | None = None,
    extra: str = "",
) -> Path:
    """A config naming model ``spec`` for every role (two reviewers); ``models`` names other
    specs for some roles, ``engine`` adds [engine] keys, ``extra`` more tables."""
    chosen: dict[str, str | list[str]] = dict.fromkeys(SINGLE_ROLES, spec)
    chosen["reviewers"] = [spec, spec]
    chosen.update(models or {})
    roles = "\n".join(f"{role} = {json.dumps(value)}" for role, value in chosen.items())
    more = "".join(f"{key} = {json.dumps(value)}\n" for key, value in (engine or {}).items())
    path.write_text(
        f"""\
[engine]
workers = 2
max_attempts = 2
{more}
[gates]
pytest_autoload_plugins = false
test_timeout_s = 120

[models]
{roles}
{extra}"""
    )
    return path


def subprocess_env(
    home: Path, keys: Mapping[str, str], *, prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """This environment without any provider key, token or base URL, nor any variable whose
    name starts with one of ``prefixes`` (what else a provider's SDK reads), plus ``keys``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_TOKEN", "_BASE_URL"))
        and not k.startswith(("SHOPFLOOR_", *prefixes))
    }
    env.update(GIT_ENV)
    env.update(
        SHOPFLOOR_HOME=str(home),
        NO_COLOR="1",
        COLUMNS="200",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(keys)
    return env


def shopfloor_argv(*args: str) -> list[str]:
    """The installed console script (``python -m tui.cli`` where there is none) and ``args``."""
    script = Path(sys.executable).with_name("shopfloor")
    argv = [str(script)] if script.is_file() else [sys.executable, "-m", "tui.cli"]
    return [*argv, *args]


def shopfloor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``shopfloor ARGS`` run to its end (see :func:`shopfloor_argv`)."""
    return subprocess.run(
        shopfloor_argv(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Project:
    """A user's fresh repository, and the data folder and environment a run of it gets."""

    folder: Path
    repo: Path
    base: str
    """The commit the user's branch is on."""
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return self.folder / "home"


def new_project(
    folder: Path, keys: Mapping[str, str], *, prefixes: tuple[str, ...] = ()
) -> Project:
    """An empty project in ``folder``/repo, run with ``keys`` in the environment (and without
    the variables starting with ``prefixes``, see :func:`subprocess_env`)."""
    repo = make_repo(folder / "repo")
    base = git(repo, "rev-parse", "HEAD").strip()
    env = subprocess_env(folder / "home", keys, prefixes=prefixes)
    return Project(folder, repo, base, env)


def run_cleanly(
    project: Project,
    spec: str,
    problems: list[str],
    *,
    models: Mapping[str, str | list[str]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``shopfloor run REQUEST`` with every role on ``spec`` (but those ``models`` names
    another spec for), headless and verbose; it must exit 0 without a traceback, and the
    loopback model must have refused nothing (``problems`` is its list of refusals, filled
    while the run goes)."""
    config = write_config(project.folder / "shopfloor.toml", spec, models=models)
    argv = ["run", REQUEST, "--repo", str(project.repo), "--config", str(config)]
    run = shopfloor(*argv, "--headless", "-v", env=project.env)
    output = run.stdout + run.stderr
    assert problems == [], f"the loopback model refused requests: {problems}"
    assert run.returncode == 0, output
    assert "Traceback (most recent call last)" not in output
    return run


@dataclass(frozen=True)
class Shipped:
    """What a shipped run left: its status, its exported events, every output it printed."""

    status: dict[str, Any]
    events: list[dict[str, Any]]
    output: str

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def check_shipped(run: subprocess.CompletedProcess[str], project: Project, key: str) -> Shipped:
    """Everything a run of the scripted factory must show, whatever the wire: shipped with
    both tasks merged on their first attempt, the scores the scripted roles gave, no SIM, every
    role started and called, the branch holding what the engineers wrote (one commit a task),
    the user's branch and tree untouched, and ``key`` in no output and no stored file."""
    env, repo, base = project.env, project.repo, project.base
    output = run.stdout + run.stderr
    status_run = shopfloor("status", "--json", run_id(run.stdout), env=env)
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
    shipped = Shipped(status, events, output + exported.stdout + status_run.stdout)
    started, calls = shipped.of_type("AgentStarted"), shipped.of_type("LLMCallFinished")
    assert {e["role"] for e in started} == set(ROLES)
    assert {e["role"] for e in calls} == set(ROLES)
    for event in (*started, *calls):
        assert event["simulated"] is False, event
    verdict = shipped.of_type("VerificationFinished")[0]
    assert verdict["passed"] and verdict["broken"] == []
    assert "shout() of an empty name returns 'HELLO, !'" in verdict["checklist"]  # the patch

    # The shipped branch holds what the engineers wrote, one commit per task.
    branch = status["branch"]
    assert branch and branch in run.stdout
    subjects = git(repo, "log", "--format=%s", f"{base}..{branch}").splitlines()
    assert sorted(subjects) == ["Greet a person by name", "Shout the greeting"]
    for files in FILES.values():
        for path, text in files.items():
            assert git(repo, "show", f"{branch}:{path}") == text
    assert PROBE not in git(repo, "ls-tree", "-r", "--name-only", branch)  # verifier's scratch
    assert git(repo, "rev-parse", "HEAD").strip() == base  # the user's branch did not move
    assert git(repo, "status", "--porcelain") == ""

    # The key is in no output, no stored event, no file the run left in its data folder (its
    # gate cache too when that links to the session's, which rglob does not follow).
    assert key not in shipped.output
    cache = project.home / "gate-cache"
    shared = cache.rglob("*") if cache.is_symlink() else ()
    assert_nowhere(key, [*project.home.rglob("*"), *shared, *(repo / ".git").rglob("*")])
    return shipped


def assert_nowhere(secret: str, paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"the key is stored in {path}"


def run_id(stdout: str) -> str:
    found = re.search(r"^run ([0-9a-f]{12}): shipped", stdout, re.MULTILINE)
    assert found, stdout[-3000:]
    return found.group(1)
