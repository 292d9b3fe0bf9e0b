"""The agents' tools on a real Node package: ``run_tests`` runs its test script, and the
engineer's commands and a ``cli:`` coding agent run the tools npm installed in the user's
checkout, which a worktree never has. Real npm and node; the dev dependency is installed
from a ``file:`` folder, so no test needs the network."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from agents.project_tests import PlannedRun, ProjectTests, npm_test_argv, planned_runs
from agents.provider import ToolCall
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from agents.roles.engineer import EngineerRole
from agents.toolbelt import Toolbelt
from engine.blueprint import Blueprint, Task
from engine.events import AgentOutput, EventBase
from engine.protocols import EngineerJob
from gates.sandbox import ProcessSandbox
from tests.gates.conftest import BWRAP_USABLE

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")

RUNNER = """#!/usr/bin/env node
// What vitest does: run from node_modules/.bin, write its cache into node_modules, then run
// the test files it is given (test.js without any).
const fs = require("fs");
const path = require("path");
fs.mkdirSync("node_modules/.cache", { recursive: true });
fs.writeFileSync("node_modules/.cache/last-run", "x");
const files = process.argv.slice(2);
for (const file of files.length ? files : ["test.js"]) {
  require(path.resolve(file));
  console.log("ran " + file);
}
"""
TEST = 'require("assert").strictEqual(2 * 2, WANTED);\n'
PACKAGE = """{"name": "p", "version": "1.0.0", "scripts": {"test": "fake-runner"},
 "devDependencies": {"fake-runner": "file:RUNNER"}}
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``node_modules`` npm installed for :data:`PACKAGE` (copied into each checkout)."""
    root = tmp_path_factory.mktemp("npm")
    runner = root / "runner"
    runner.mkdir()
    (runner / "package.json").write_text(
        '{"name": "fake-runner", "version": "1.0.0", "bin": {"fake-runner": "cli.js"}}\n'
    )
    (runner / "cli.js").write_text(RUNNER)
    (runner / "cli.js").chmod(0o755)
    package = root / "package"
    package.mkdir()
    (package / "package.json").write_text(PACKAGE.replace("RUNNER", str(runner)))
    subprocess.run(
        ["npm", "install", "--offline", "--no-audit", "--no-fund", "--install-links"],
        cwd=package,
        check=True,
        capture_output=True,
    )
    assert (package / "node_modules" / ".bin" / "fake-runner").exists()
    return package / "node_modules"


def checkout(root: Path, installed: Path, folder: str = ".") -> Path:
    """The user's checkout: a Node package in ``folder`` (its ``node_modules`` installed,
    and not ignored: some repositories never list it)."""
    package = PACKAGE.replace("RUNNER", "../runner")
    repo = make_repo(root, {f"{folder}/package.json": package, f"{folder}/test.js": TEST})
    (root / folder / "test.js").write_text(TEST.replace("WANTED", "4"))
    git(repo, "commit", "-qam", "green")
    shutil.copytree(installed, root / folder / "node_modules", symlinks=True)
    return repo


@pytest.fixture(params=["process", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[ProcessSandbox]:
    if request.param == "bwrap" and not BWRAP_USABLE:
        pytest.skip("bubblewrap unusable")
    box = ProcessSandbox(use_bwrap=request.param == "bwrap")
    yield box
    box.close()


def belt(repo: Path, worktree: Path, sandbox: ProcessSandbox) -> Toolbelt:
    sandbox.extra_readable = (repo / "node_modules",)  # as the composition root shows it
    tests = ProjectTests(pytest_projects=(), node_packages=(".",), checkout=repo)
    return Toolbelt(worktree, sandbox, test_timeout_s=60, command_timeout_s=60, tests=tests)


async def call(tools: Toolbelt, name: str, **args: object) -> str:
    return (await tools.execute(ToolCall("c1", name, dict(args)))).text


async def test_run_tests_runs_a_node_packages_test_script(
    tmp_path: Path, installed: Path, sandbox: ProcessSandbox
) -> None:
    """On path-to-regexp, ``run_tests`` ran pytest and said ``no tests ran [exit code 5]``:
    the package's tests never ran for the engineer. It runs the package's test script, as the
    Node gate does, with the checkout's installed packages borrowed, and the engineer's
    arguments go to the test runner."""
    repo = checkout(tmp_path / "repo", installed)
    worktree = tmp_path / "worktree"
    git(tmp_path, "clone", "-q", str(repo), str(worktree))
    tools = belt(repo, worktree, sandbox)
    green = await call(tools, "run_tests")
    assert green.startswith("$ npm test\n"), green
    assert "ran test.js" in green and green.endswith("[exit code 0]"), green
    (worktree / "test.js").write_text(TEST.replace("WANTED", "5"))
    (worktree / "more.test.js").write_text(TEST.replace("WANTED", "4"))
    red = await call(tools, "run_tests")
    assert "AssertionError" in red and red.endswith("[exit code 1]"), red
    named = await call(tools, "run_tests", args=["more.test.js"])
    assert named.startswith("$ npm test -- more.test.js\n"), named
    assert "ran more.test.js" in named and named.endswith("[exit code 0]"), named
    # Nothing borrowed is left for the attempt's commit; nothing was written in the checkout.
    assert not (worktree / "node_modules").exists()
    assert git(worktree, "status", "--porcelain") == "M test.js\n?? more.test.js"
    assert not (repo / "node_modules" / ".cache").exists()


async def test_the_engineers_commands_run_the_checkouts_installed_tools(
    tmp_path: Path, installed: Path, sandbox: ProcessSandbox
) -> None:
    """``npx vitest`` and ``npm test`` through the engineer's ``run`` failed in a worktree,
    which has no ``node_modules``. Its commands borrow the checkout's for their time, and
    git in them does not see the borrowed folder, even where nothing ignores it."""
    repo = checkout(tmp_path / "repo", installed)
    worktree = tmp_path / "worktree"
    git(tmp_path, "clone", "-q", str(repo), str(worktree))
    tools = belt(repo, worktree, sandbox)
    npx = await call(tools, "run", argv=["npx", "--no", "fake-runner"])
    assert "ran test.js" in npx and npx.endswith("[exit code 0]"), npx
    npm = await call(tools, "run", argv=["npm", "run", "--silent", "test"])
    assert "ran test.js" in npm and npm.endswith("[exit code 0]"), npm
    status = await call(tools, "run", argv=["git", "status", "--porcelain", "--untracked=all"])
    assert status == "$ git status --porcelain --untracked=all\n\n[exit code 0]", status
    assert not (worktree / "node_modules").exists()
    assert git(worktree, "status", "--porcelain", "--ignored") == ""


CLI_AGENT = """
npm run --silent test
echo "status: $(git status --porcelain)"
echo x > node_modules/fake-runner/cli.js || echo "write refused"
"""


@pytest.mark.parametrize("fence", [True, False])
async def test_a_coding_agent_runs_the_packages_tests_in_its_worktree(
    tmp_path: Path, installed: Path, fence: bool
) -> None:
    """A ``cli:`` agent (Claude Code, Codex) runs the package's tests itself: in a worktree
    they failed "fake-runner: not found". The checkout's installed packages are lent to its
    worktree for its run, read-only inside the fence, and gone before the attempt commits."""
    if fence and not BWRAP_USABLE:
        pytest.skip("bubblewrap unusable")
    repo = checkout(tmp_path / "repo", installed)
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    blueprint = Blueprint(
        spec="Test", acceptance_criteria=["green"], tasks=[Task(id="t1", title="T")]
    )
    job = EngineerJob("run-1", blueprint.tasks[0], blueprint, worktree, attempt=1, max_attempts=1)
    agent = CliAgent(("sh", "-c", CLI_AGENT), "text", 60.0, fence=fence)
    tests = ProjectTests(pytest_projects=(), node_packages=(".",), checkout=repo)
    events: list[EventBase] = []
    box = ProcessSandbox(use_bwrap=False)
    try:  # the engineer names the worktree's Node packages to its coding agent's provider
        engineer = EngineerRole(CliProvider("shell", agent), box, tests=tests, context_budget=0)
        report = await engineer.work(job, events.append)
    finally:
        box.close()
    assert report.finished
    said = [line for e in events if isinstance(e, AgentOutput) for line in e.text.splitlines()]
    assert "ran test.js" in said, said
    assert "status: " in said, said  # git saw no node_modules
    if fence:
        assert "write refused" in said, said
        assert (repo / "node_modules" / "fake-runner" / "cli.js").read_text() == RUNNER
    assert not (worktree / "node_modules").exists()


def test_a_mixed_repositorys_arguments_run_where_they_lie(tmp_path: Path) -> None:
    """A Python project with a ``web/`` front end: a Python file runs under pytest, a front
    end's spec under its package's test script, each relative to its place; the options go
    to both."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("")
    (tmp_path / "web" / "src").mkdir(parents=True)
    (tmp_path / "web" / "src" / "a.spec.js").write_text("")
    (tmp_path / "web" / "package.json").write_text('{"scripts": {"test": "vitest run"}}')
    tests = ProjectTests(pytest_projects=(".",), node_packages=("web",))
    named = planned_runs(tmp_path, tests, ["tests/test_app.py", "web/src/a.spec.js", "-x"])
    assert named == [
        PlannedRun("pytest", ".", ["-x", "tests/test_app.py"]),
        PlannedRun("npm", "web", ["-x", "src/a.spec.js"]),
    ]
    assert planned_runs(tmp_path, tests, []) == [
        PlannedRun("pytest", ".", []),
        PlannedRun("npm", "web", []),
    ]
    # A package with no test script in the tree runs nothing, as the gate.
    (tmp_path / "web" / "package.json").write_text('{"scripts": {}}')
    assert planned_runs(tmp_path, tests, []) == [PlannedRun("pytest", ".", [])]


def test_arguments_a_compound_test_script_cannot_pass_on_are_said() -> None:
    """path-to-regexp's ``ts-scripts test && npm run size``: npm appends arguments to its last
    command, so a spec file given went to ``size-limit``. They are left out, and said."""
    argv, note = npm_test_argv("ts-scripts test && npm run size", ["src/a.spec.ts"])
    assert argv == ["npm", "run", "--silent", "test"]
    assert note.startswith("[the args were not passed: the test script")
    assert npm_test_argv("vitest run", ["src/a.spec.ts"]) == (
        ["npm", "run", "--silent", "test", "--", "src/a.spec.ts"],
        "",
    )


async def test_run_tests_in_a_package_without_a_test_script_says_there_is_nothing_to_run(
    tmp_path: Path,
) -> None:
    """No Python tests and no test script: pytest would only say ``no tests ran``; the
    engineer is told there is nothing to run, and nothing is."""
    (tmp_path / "package.json").write_text('{"name": "p", "scripts": {"build": "tsc"}}')
    box = ProcessSandbox(use_bwrap=False)
    try:
        tests = ProjectTests(pytest_projects=(), node_packages=(".",), checkout=tmp_path)
        said = await call(Toolbelt(tmp_path, box, tests=tests), "run_tests")
    finally:
        box.close()
    assert said == "[nothing to run: no Python tests, and no package.json here has a test script]"
