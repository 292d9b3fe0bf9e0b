"""The Node gates on real packages: they run the tools the user installed, from a worktree that
has none, and they find a package below the top (a Python project's ``web/`` front end)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gates.cache import GateCache
from gates.command_gate import NodeScriptGate
from gates.config import GatesConfig
from gates.node_output import missing_package_manager
from gates.node_packages import (
    install_command,
    installed_node_modules,
    node_packages,
    uninstalled_warnings,
)
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from tests.gates.conftest import BWRAP_USABLE

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")

RUNNER = """#!/usr/bin/env node
// What vitest does: run from node_modules/.bin, load an installed library, write its cache
// into node_modules, then run the package's test file.
const fs = require("fs");
const path = require("path");
require("fake-lib");
fs.mkdirSync("node_modules/.cache", { recursive: true });
fs.writeFileSync("node_modules/.cache/last-run", "x");
require(path.resolve(process.argv[2]));
"""
LIB = "exports.double = (n) => n * 2;\n"
TEST = """const assert = require("assert");
const { double } = require("fake-lib");
assert.strictEqual(double(2), WANTED);
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def install(package: Path) -> None:
    """What ``npm ci`` leaves: an installed runner with its command in ``.bin``, a library."""
    modules = package / "node_modules"
    write(
        modules,
        {
            "fake-runner/package.json": '{"name": "fake-runner", "bin": "cli.js"}\n',
            "fake-runner/cli.js": RUNNER,
            "fake-lib/package.json": '{"name": "fake-lib", "main": "index.js"}\n',
            "fake-lib/index.js": LIB,
            ".package-lock.json": "{}\n",
        },
    )
    (modules / "fake-runner" / "cli.js").chmod(0o755)
    (modules / ".bin").mkdir()
    (modules / ".bin" / "fake-runner").symlink_to("../fake-runner/cli.js")


def committed_repo(root: Path, package_dir: str, wanted: int) -> Path:
    """A repository with a Node package in ``package_dir``, its dependencies installed in the
    checkout (and ignored, as ``node_modules/`` always is), and a worktree of its commit."""
    package = '{"name": "p", "scripts": {"test": "fake-runner test.js"}}\n'
    write(
        root,
        {
            ".gitignore": "node_modules/\n",
            f"{package_dir}/package.json": package,
            f"{package_dir}/test.js": TEST.replace("WANTED", str(wanted)),
        },
    )
    install(root / package_dir)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return root


@pytest.mark.parametrize("kind", ["process", "bwrap"])
async def test_a_worktree_runs_the_tools_installed_in_the_checkout(
    tmp_path: Path, kind: str
) -> None:
    """A worktree is a checkout of a commit: the ``node_modules`` npm filled in the user's
    checkout is not in it, so ``npm run test`` failed "fake-runner: not found" (exit 127), at
    the baseline as on every attempt, and no broken test ever counted. The gate borrows the
    checkout's installed packages (read-only in the jail) for the time of the script."""
    if kind == "bwrap" and not BWRAP_USABLE:
        pytest.skip("bubblewrap unusable")
    repo = committed_repo(tmp_path / "repo", ".", wanted=4)
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "-q", "--detach", str(worktree), "HEAD")
    assert not (worktree / "node_modules").exists()
    sandbox = ProcessSandbox(use_bwrap=kind == "bwrap", extra_readable=installed_node_modules(repo))
    try:
        gate = NodeScriptGate(sandbox, script="test", timeout_s=60, checkout=repo)
        result = await gate.check(worktree)
        assert result.passed, (result.summary, result.output_tail)
        (worktree / "test.js").write_text(TEST.replace("WANTED", "5"), encoding="utf-8")
        broken = await gate.check(worktree)
    finally:
        sandbox.close()
    assert not broken.passed and broken.summary == "exit 1", broken.output_tail
    assert "not found" not in broken.output_tail
    # Nothing left in the worktree for the attempt's commit, nothing written in the checkout.
    assert not (worktree / "node_modules").exists()
    assert git(worktree, "status", "--porcelain", "--ignored") == " M test.js\n"
    assert not (repo / "node_modules" / ".cache").exists()


async def test_a_front_end_below_a_python_project_gets_its_node_gates(tmp_path: Path) -> None:
    """A Python package with its front end in ``web/`` (its own package.json) had only the
    Python gates: package.json was looked for at the top alone, so the front end's tests
    never ran and a task that broke them shipped. Its scripts run in ``web/``, and what they
    find is named from the repository's top."""
    repo = committed_repo(tmp_path / "repo", "web", wanted=5)
    write(repo, {"pyproject.toml": '[project]\nname = "app"\n', "app/__init__.py": ""})
    write(repo, {"node_modules/ignored/package.json": "{}\n"})  # never a package of its own
    assert node_packages(repo) == ("web",)
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        gate_set = build_gates(repo, GatesConfig(), sandbox)
        assert gate_set.profiles[:2] == ["python", "node"]
        assert "node-test" in gate_set.names()["merge"]
        node = next(g for g in gate_set.task if g.name == "node-test")
        result = await node.check(repo)
    finally:
        sandbox.close()
    assert not result.passed
    assert result.summary == "web: exit 1", result.summary
    assert any(f.file == "web/test.js" and f.line == 3 for f in result.findings), result.findings


async def test_a_package_whose_dependencies_are_not_installed_is_told_so(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """Without ``npm ci`` in the checkout the gate said only "exit 127 — sh: fake-runner: not
    found", which the run took for a test suite already red before it."""
    repo = committed_repo(tmp_path / "repo", ".", wanted=4)
    shutil.rmtree(repo / "node_modules")
    result = await NodeScriptGate(process_sandbox, script="test", checkout=repo).check(repo)
    assert not result.passed
    note = f"the package's dependencies are not installed (no {repo / 'node_modules'})"
    assert result.summary == f"exit 127: {note}: run npm install there", result.summary
    assert "fake-runner: not found" in result.findings[0].message
    assert note in result.findings[0].message


@pytest.mark.skipif(shutil.which("pnpm") is not None, reason="pnpm is installed here")
async def test_a_script_calling_a_package_manager_the_machine_lacks_is_told_so(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """tiny-invariant's ``"test": "yarn jest"`` on a machine without yarn read "exit 127 —
    sh: 1: yarn: not found", as if its tests had failed (pnpm here: never installed)."""
    repo = committed_repo(tmp_path / "repo", ".", wanted=4)
    write(repo, {"package.json": '{"name": "p", "scripts": {"test": "pnpm fake-runner"}}\n'})
    result = await NodeScriptGate(process_sandbox, script="test", checkout=repo).check(repo)
    assert not result.passed
    assert result.summary.startswith(
        "exit 127: the 'test' script runs pnpm, which is not installed here: install it"
    ), result.summary
    assert missing_package_manager("yarn jest", "sh: 1: yarn: not found") == "yarn"
    assert missing_package_manager("jest", "sh: 1: yarn: not found") is None
    assert missing_package_manager("yarnish jest", "sh: 1: yarnish: not found") is None


def test_the_install_named_is_the_one_the_lockfile_asks_for(tmp_path: Path) -> None:
    """tiny-invariant keeps a yarn.lock and no package-lock.json: it was told to run
    ``npm ci``, which refuses a package without package-lock.json."""
    yarn = write(tmp_path / "yarn", {"package.json": "{}\n", "yarn.lock": "", ".git/HEAD": ""})
    assert install_command(yarn) == "yarn install --frozen-lockfile"
    workspace = write(
        tmp_path / "mono",
        {"package.json": "{}\n", "package-lock.json": "{}\n", "packages/web/package.json": "{}\n"},
    )
    assert install_command(workspace / "packages" / "web") == "npm ci"
    pnpm = write(tmp_path / "pnpm", {"package.json": "{}\n", "pnpm-lock.yaml": ""})
    assert install_command(pnpm) == "pnpm install --frozen-lockfile"
    bare = write(tmp_path / "outer" / "bare", {"package.json": "{}\n", ".git/HEAD": ""})
    write(tmp_path / "outer", {"yarn.lock": ""})  # beyond the repository: not its lockfile
    assert install_command(bare) == "npm install"
    assert uninstalled_warnings(yarn) == []  # declares nothing to install
    write(yarn, {"package.json": '{"devDependencies": {"jest": "29"}}\n'})
    assert uninstalled_warnings(yarn)[0].endswith(
        f"run yarn install --frozen-lockfile in {yarn.resolve()}"
    )


async def test_a_test_that_timed_out_is_run_again_not_replayed_from_the_cache(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """path-to-regexp's redos tests (10 s each) time out on a busy machine: the failed verdict
    was cached, and the retry of the same tree failed at once from the cache, the task out of
    attempts with its own code green. Such a failure is said and not kept."""
    repo = committed_repo(tmp_path / "repo", ".", wanted=4)
    slow = 'console.log("Error: Test timed out in 10000ms.");\nprocess.exit(1);\n'
    write(repo, {"slow.js": slow})
    write(repo, {"package.json": '{"name": "p", "scripts": {"test": "node slow.js"}}\n'})
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "slow")
    cache = GateCache(tmp_path / "cache")
    gate = cache.wrap(NodeScriptGate(process_sandbox, script="test", checkout=repo))
    first = await gate.check(repo)
    again = await gate.check(repo)
    said = "exit 1: a test timed out in each of two runs"
    assert not first.passed and first.summary == said, first.summary
    assert not again.cached


TIMES_OUT_ONCE = """const fs = require("fs");
fs.appendFileSync("runs.txt", "x");
if (fs.readFileSync("runs.txt", "utf8").length < 2) {
  console.log(" FAIL  redos.spec.ts > slow\\nError: Test timed out in 10000ms.");
  process.exit(1);
}
"""


async def test_a_test_that_timed_out_is_run_once_more_and_that_run_decides(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """path-to-regexp's baseline was red in 3 of 6 runs here, each a redos test out of its
    10 s on a loaded machine, and a red baseline blocks nothing new of that gate for the run.
    The script runs once more after a test timed out (once only), and that run decides."""
    repo = write(tmp_path / "repo", {"flaky.js": TIMES_OUT_ONCE})
    write(repo, {"package.json": '{"name": "p", "scripts": {"test": "node flaky.js"}}\n'})
    result = await NodeScriptGate(process_sandbox, script="test").check(repo)
    assert result.passed, result.summary
    assert result.summary == "passed (exit 0), when run again after a test timed out (flaky)"
    assert (repo / "runs.txt").read_text() == "xx"
    failing = await NodeScriptGate(process_sandbox, script="test").check(
        write(tmp_path / "bad", {"package.json": '{"name": "b", "scripts": {"test": "exit 1"}}'})
    )
    assert failing.summary == "exit 1"  # a failure that is no timeout runs once
