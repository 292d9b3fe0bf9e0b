"""``run_tests`` and the tests gate read a worktree's package.json and pytest configuration
in the factory process itself, outside the sandbox. An agent can make those a symlink to a
file of the host (``pytest.ini -> ~/.aws/credentials``, ``package.json -> ../../secret.json``)
or a package folder a link to a folder outside holding them: what the factory read there
(a ``scripts.test``, an ``addopts``) reached the tool's output, the next pytest's argv and
the gate's summary, with no race to win. They are read part by part (``engine.beneath``):
a link leading out is read as no file; one staying inside still works."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from recording_sandbox import RecordingSandbox

from agents.project_tests import ProjectTests
from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from engine.protocols import CommandResult
from gates.pytest_gate import PytestGate

CANARY = "CANARY-7f3e-outside-secret"
PACKAGE = '{"scripts": {"test": "echo ' + CANARY + ' && vitest run"}}\n'
ADDOPTS = "[pytest]\naddopts = --cov-report " + CANARY + "\n"
PYPROJECT = '[tool.pytest.ini_options]\naddopts = "--cov-report ' + CANARY + '"\n'
UNKNOWN = "ERROR: usage: __main__.py [options]\n__main__.py: error: unrecognized arguments: {}\n"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / ".git").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "home" / "secrets"
    folder.mkdir(parents=True)
    (folder / "secret.json").write_text(PACKAGE)
    (folder / "package.json").write_text(PACKAGE)
    (folder / "credentials").write_text(ADDOPTS)
    (folder / "pytest.ini").write_text(ADDOPTS)
    (folder / "pyproject.toml").write_text(PYPROJECT)
    return folder


def never_shown(sandbox: RecordingSandbox, *texts: str) -> None:
    for text in texts:
        assert CANARY not in text, text
    for argv in sandbox.argvs:
        assert CANARY not in " ".join(argv), argv


NODE_LINKS: list[tuple[str, Callable[[Path, Path], None]]] = [
    (".", lambda r, o: (r / "package.json").symlink_to(o / "secret.json")),  # absolute
    (".", lambda r, o: (r / "package.json").symlink_to("../home/secrets/secret.json")),
    ("web", lambda r, o: (r / "web").symlink_to(o, target_is_directory=True)),
]


@pytest.mark.parametrize(("package", "make"), NODE_LINKS)
async def test_a_package_json_leading_out_is_never_read(
    worktree: Path, outside: Path, package: str, make: Callable[[Path, Path], None]
) -> None:
    make(worktree, outside)
    sandbox = RecordingSandbox(output="1 failed\n", returncode=1)
    tests = ProjectTests(pytest_projects=(), node_packages=(package,))
    belt = Toolbelt(worktree, sandbox, test_timeout_s=30, tests=tests)
    said = await belt.execute(ToolCall("c1", "run_tests", {"args": ["tests/test_a.py"]}))
    never_shown(sandbox, said.text)
    assert not any(argv[:2] == ("npm", "run") for argv in sandbox.argvs), sandbox.argvs


async def test_a_package_json_linked_inside_still_runs(worktree: Path) -> None:
    (worktree / "config").mkdir()
    (worktree / "config" / "package.json").write_text('{"scripts": {"test": "a && b"}}\n')
    (worktree / "package.json").symlink_to("config/package.json")
    sandbox = RecordingSandbox(output="ok\n")
    tests = ProjectTests(pytest_projects=(), node_packages=(".",))
    belt = Toolbelt(worktree, sandbox, test_timeout_s=30, tests=tests)
    said = await belt.execute(ToolCall("c1", "run_tests", {"args": ["tests/test_a.py"]}))
    assert sandbox.argvs == [("npm", "run", "--silent", "test")]
    assert "the test script 'a && b' runs several commands" in said.text, said.text


PYTEST_LINKS: list[tuple[str, Callable[[Path, Path], None]]] = [
    (".", lambda r, o: (r / "pytest.ini").symlink_to(o / "credentials")),
    (".", lambda r, o: (r / "pyproject.toml").symlink_to("../home/secrets/pyproject.toml")),
    ("api", lambda r, o: (r / "api").symlink_to(o, target_is_directory=True)),
]


@pytest.mark.parametrize(("project", "make"), PYTEST_LINKS)
async def test_pytest_addopts_leading_out_are_never_read_by_run_tests(
    worktree: Path, outside: Path, project: str, make: Callable[[Path, Path], None]
) -> None:
    """The sandboxed pytest (an agent's conftest.py) says an option is unknown: the factory
    read the configuration to leave it out, and ran again with the rest, and said so."""
    make(worktree, outside)
    sandbox = RecordingSandbox(
        output="1 failed\n", returncode=1, answers=[(4, UNKNOWN.format("--cov-report"))]
    )
    belt = Toolbelt(worktree, sandbox, test_timeout_s=30, tests=ProjectTests((project,)))
    said = await belt.execute(ToolCall("c1", "run_tests", {}))
    never_shown(sandbox, said.text)
    assert len(sandbox.argvs) == 1, sandbox.argvs  # not run again with the outside's options


@pytest.mark.parametrize(("project", "make"), PYTEST_LINKS)
async def test_pytest_addopts_leading_out_are_never_read_by_the_tests_gate(
    worktree: Path, outside: Path, project: str, make: Callable[[Path, Path], None]
) -> None:
    make(worktree, outside)
    sandbox = RecordingSandbox(
        output="1 failed\n", returncode=1, answers=[(4, UNKNOWN.format("--cov-report"))]
    )
    gate = PytestGate(sandbox, timeout_s=30, projects=(project,))
    result = await gate.check(worktree)
    never_shown(sandbox, result.model_dump_json())
    # Not run again with the outside's options; a project linked out is not run at all.
    assert len(sandbox.argvs) == (0 if project == "api" else 1), sandbox.argvs


async def test_pytest_addopts_linked_inside_are_still_left_out(worktree: Path) -> None:
    (worktree / "config").mkdir()
    (worktree / "config" / "pytest.ini").write_text("[pytest]\naddopts = -ra --cov=app\n")
    (worktree / "pytest.ini").symlink_to("config/pytest.ini")
    sandbox = RecordingSandbox(
        output="1 failed\n", returncode=1, answers=[(4, UNKNOWN.format("--cov=app"))]
    )
    belt = Toolbelt(worktree, sandbox, test_timeout_s=30)
    said = await belt.execute(ToolCall("c1", "run_tests", {}))
    assert len(sandbox.argvs) == 2 and "addopts=-ra" in sandbox.argvs[1], sandbox.argvs
    assert "run without the project's addopts --cov=app" in said.text, said.text


JUNIT = (
    '<testsuite tests="1" failures="1"><testcase classname="t" name="{0}">'
    '<failure message="{0}">{0}</failure></testcase></testsuite>\n'
)


async def test_a_report_a_test_swapped_for_a_link_out_is_never_read(
    worktree: Path, outside: Path
) -> None:
    """The tests gate runs the agent's tests: its conftest.py can put a link to a file of
    the host where pytest wrote the JUnit report, and the factory read that file as the
    report, its text into the findings (as any gate's report, beside the tests gate)."""
    (outside / "report.xml").write_text(JUNIT.format(CANARY))

    @dataclass
    class SwappingSandbox(RecordingSandbox):
        async def run(
            self,
            argv: Sequence[str],
            cwd: Path,
            *,
            timeout_s: float = 300.0,
            env: Mapping[str, str] | None = None,
        ) -> CommandResult:
            report = next(a for a in argv if a.startswith("--junitxml="))
            os.symlink(outside / "report.xml", report.partition("=")[2])
            return await super().run(argv, cwd, timeout_s=timeout_s, env=env)

    sandbox = SwappingSandbox(output="1 failed in 0.1s\n", returncode=1)
    result = await PytestGate(sandbox, timeout_s=30).check(worktree)
    never_shown(sandbox, result.model_dump_json())
    assert not result.passed
    assert not (worktree / ".shopfloor").exists()
    assert (outside / "report.xml").read_text() == JUNIT.format(CANARY)


async def test_a_report_folder_linked_out_is_not_written_through(
    worktree: Path, outside: Path
) -> None:
    """``.shopfloor`` (where the gates' tools write their reports) made a link to a folder
    of the host: the factory wrote its lists and the tools their reports there."""
    (worktree / ".shopfloor").symlink_to(outside, target_is_directory=True)
    before = sorted(os.listdir(outside))
    sandbox = RecordingSandbox(output="1 passed in 0.1s\n")
    result = await PytestGate(sandbox, timeout_s=30).check(worktree)
    assert sorted(os.listdir(outside)) == before
    assert sandbox.argvs == [] and not result.passed
    assert result.summary.startswith("cannot prepare workspace"), result.summary
