"""Update mode on a repository that is already red: the real gates behind the baseline guard.

A user's repository often has lint errors and a failing test before the factory touches it.
The run must still be able to build on it (what was there does not block), and it must still
catch what an attempt adds: a new lint error, a new failing test. Line numbers shift with any
edit above an old problem, so that is not "new". The shrinkage gate has no baseline: on the
base commit it would judge the user's own last commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from repo_helpers import commit, git

from engine.protocols import CommandResult, Finding, Gate, GateResult
from engine.recon import Baseline, BaselineGate, guard, run_baseline
from gates.mypy_gate import MypyGate
from gates.pytest_gate import PytestGate
from gates.python_tools import RuffGate
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate

APP = "import os\nimport sys\n\n\ndef total(items: list[int]) -> int:\n    return sum(items)\n"
TESTS = (
    "from app import total\n"
    "\n"
    "\n"
    "def test_total() -> None:\n"
    "    assert total([1, 2]) == 3\n"
    "\n"
    "\n"
    "def test_known_bug() -> None:\n"
    "    assert total([]) == 1  # red before the factory came\n"
)


@pytest.fixture
def red_repo(tmp_path: Path) -> Path:
    """Two unused imports and a failing test at the base commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"app.py": APP, "tests/test_app.py": TESTS, "pyproject.toml": ""}, "base")
    return repo


def attempt(repo: Path, name: str, files: dict[str, str | None]) -> Path:
    """A clone of ``repo`` with one commit of ``files`` on top: what an attempt leaves."""
    clone = repo.parent / name
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    commit(clone, files, f"attempt {name}")
    return clone


def gates(sandbox: ProcessSandbox) -> list[Gate]:
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return [RuffGate(sandbox), PytestGate(sandbox, env=env, timeout_s=60)]


async def test_an_old_red_gate_blocks_only_what_the_attempt_adds(
    process_sandbox: ProcessSandbox, red_repo: Path
) -> None:
    chosen = gates(process_sandbox)
    baseline = await run_baseline(chosen, red_repo, lambda event: None)
    assert baseline.red == ["lint", "tests"]
    guarded = guard(chosen, baseline)

    # Code added above the old problems shifts their lines; a new test passes.
    shifted = attempt(
        red_repo,
        "clean",
        {
            "app.py": '"""Totals."""\n\n' + APP + "\n\nLIMIT = 10\n",
            "tests/test_limit.py": "from app import LIMIT\n\n\ndef test_limit() -> None:\n"
            "    assert LIMIT == 10\n",
        },
    )
    lint, tests = [await gate.check(shifted) for gate in guarded]
    assert lint.passed and "nothing new since the baseline" in lint.summary, lint.summary
    assert tests.passed and "nothing new since the baseline" in tests.summary, tests.summary

    # A new unused import and a new failing test: each blocks, and only it is reported.
    broken = attempt(
        red_repo,
        "broken",
        {
            "app.py": "import json\n" + APP,
            "tests/test_double.py": "from app import total\n\n\ndef test_double() -> None:\n"
            "    assert total([2, 2]) == 5\n",
        },
    )
    lint, tests = [await gate.check(broken) for gate in guarded]
    assert not lint.passed
    assert lint.summary.startswith("1 new problem(s) since the baseline"), lint.summary
    assert [(f.file, f.line) for f in lint.findings] == [("app.py", 1)]
    assert "json" in lint.findings[0].message
    assert not tests.passed
    assert tests.summary.startswith("1 new problem(s) since the baseline"), tests.summary
    assert [f.key for f in tests.findings] == ["tests/test_double.py::test_double"]
    context = tests.failure_context()
    assert "test_double" in context and "test_known_bug" not in context


async def test_a_baseline_test_failing_differently_is_not_new(
    process_sandbox: ProcessSandbox, red_repo: Path
) -> None:
    chosen = gates(process_sandbox)
    baseline = await run_baseline(chosen, red_repo, lambda event: None)
    changed = attempt(
        red_repo,
        "other-message",
        {"tests/test_app.py": TESTS.replace("== 1  #", "== 7  #")},
    )
    tests = await BaselineGate(chosen[1], baseline).check(changed)
    assert tests.passed, tests.summary


async def test_a_test_module_that_cannot_be_imported_does_not_hide_new_failures(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """A test module importing a package the gate's Python lacks stopped pytest at
    collection: no test ran, at baseline or after, so the old import error was all either
    run reported and a new failing test passed the guard as "nothing new"."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    needs = "import not_installed_here\n\n\ndef test_needs() -> None:\n    assert True\n"
    files = {"app.py": APP, "tests/test_needs.py": needs, "pyproject.toml": ""}
    commit(repo, {**files, "tests/test_app.py": TESTS.split("\n\n\ndef test_known")[0]}, "base")
    tests_gate = gates(process_sandbox)[1]
    baseline = await run_baseline([tests_gate], repo, lambda event: None)
    (before,) = baseline.results
    assert not before.passed and before.counts["passed"] == 1, before.summary
    assert "No module named 'not_installed_here'" in before.findings[0].message

    broken = attempt(
        repo,
        "broken",
        {
            "tests/test_double.py": "from app import total\n\n\ndef test_double() -> None:\n"
            "    assert total([2, 2]) == 5\n",
        },
    )
    tests = await BaselineGate(tests_gate, baseline).check(broken)
    assert not tests.passed, tests.summary
    assert [f.key for f in tests.findings] == ["tests/test_double.py::test_double"]


async def test_old_problems_in_moved_files_are_not_new(
    process_sandbox: ProcessSandbox, red_repo: Path
) -> None:
    """A task that moves app.py to totals.py (and its tests along) carries the old unused
    imports and the old failing test with it: they were compared by their old path, looked
    new, and blocked a task that broke nothing."""
    chosen = gates(process_sandbox)
    baseline = await run_baseline(chosen, red_repo, lambda event: None)
    moved = attempt(
        red_repo,
        "moved",
        {
            "app.py": None,
            "totals.py": APP,
            "tests/test_app.py": None,
            "tests/test_totals.py": TESTS.replace("from app", "from totals"),
        },
    )
    lint, tests = [await gate.check(moved) for gate in guard(chosen, baseline)]
    assert lint.passed and "nothing new since the baseline" in lint.summary, lint.summary
    assert tests.passed and "nothing new since the baseline" in tests.summary, tests.summary

    moved_and_broken = attempt(
        red_repo, "moved-broken", {"app.py": None, "totals.py": "import json\n" + APP}
    )
    lint = await BaselineGate(chosen[0], baseline).check(moved_and_broken)
    assert not lint.passed
    assert [(f.file, "json" in f.message) for f in lint.findings] == [("totals.py", True)]


async def test_shrinkage_has_no_baseline_so_the_users_last_commit_does_not_disarm_it(
    process_sandbox: ProcessSandbox, red_repo: Path
) -> None:
    body = "".join(f"VALUE_{i} = {i}\n" for i in range(60))
    commit(red_repo, {"table.py": body, "notes.txt": body}, "a table and notes")
    commit(red_repo, {"notes.txt": "VALUE_0 = 0\n"}, "the user trims the notes")
    shrinkage = ShrinkageGate(process_sandbox)
    baseline = await run_baseline([shrinkage], red_repo, lambda event: None)
    assert baseline.results == ()

    gutted = attempt(red_repo, "gutted", {"table.py": "VALUE_0 = 0\n"})
    result = await BaselineGate(shrinkage, baseline).check(gutted)
    assert not result.passed and result.summary.startswith("refused: deletes 59"), result.summary


class Replay:
    """A gate that answers with a given result."""

    def __init__(self, result: GateResult) -> None:
        self.name = result.gate
        self.result = result

    async def check(self, workspace: Path) -> GateResult:
        return self.result


def lint_result(files: list[str], total: int | None = None, advisory: int = 0) -> GateResult:
    findings = [Finding(message="F401 `os` imported but unused", file=f, line=1) for f in files]
    findings += [Finding(message=f"B101 low {i}", file="a.py", line=i) for i in range(advisory)]
    count = len(files) if total is None else total
    counts = {"findings": count + advisory, "blocking": count}
    return GateResult(gate="lint", passed=False, summary="red", findings=findings, counts=counts)


async def test_more_problems_than_a_gate_keeps_are_compared_by_their_number() -> None:
    baseline = Baseline((lint_result([f"m{i}.py" for i in range(200)], total=250),))
    same = await BaselineGate(Replay(lint_result(["x.py"] * 200, total=250)), baseline).check(
        Path(".")
    )
    assert same.passed
    more = await BaselineGate(Replay(lint_result(["x.py"] * 200, total=251)), baseline).check(
        Path(".")
    )
    assert not more.passed and more.summary.startswith("251 problem(s) where the baseline had 250")


async def test_a_new_advisory_finding_does_not_block_an_old_red_gate() -> None:
    baseline = Baseline((lint_result(["a.py"]),))
    advisory = await BaselineGate(Replay(lint_result(["a.py"], advisory=3)), baseline).check(
        Path(".")
    )
    assert advisory.passed, advisory.summary


class MypyByProject:
    """mypy's answers by project folder: a fatal error in one, JSON findings in the other."""

    def __init__(self, errors_in_b: list[str]) -> None:
        self.errors_in_b = errors_in_b

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        if cwd.name == "a":
            return CommandResult(tuple(argv), 2, "x.py: error: Duplicate module named 'x'\n", 0.1)
        lines = [
            json.dumps({"file": "m.py", "line": i + 1, "severity": "error", "message": message})
            for i, message in enumerate(self.errors_in_b)
        ]
        return CommandResult(tuple(argv), 1, "\n".join(lines) + "\n", 0.1)


async def test_a_project_mypy_could_not_check_does_not_hide_another_projects_new_error(
    tmp_path: Path,
):
    """In a monorepo one project's mypy failed outright (one finding, no counts) beside
    another's errors: the merged verdict counted only the errors as blocking, so the baseline
    comparison cut the last of them off, named an old error as new and the new one not."""
    for project in ("a", "b"):
        (tmp_path / project).mkdir()
    old = ['Name "alpha" is not defined', 'Name "beta" is not defined']
    projects = {"a": (".",), "b": (".",)}
    before = await MypyGate(MypyByProject(old), projects=projects).check(tmp_path)
    assert before.counts["blocking"] == len(before.findings) == 3
    after_gate = MypyGate(MypyByProject([*old, 'Name "gamma" is not defined']), projects=projects)
    result = await BaselineGate(after_gate, Baseline((before,))).check(tmp_path)
    assert not result.passed
    assert [f.message for f in result.findings] == ['Name "gamma" is not defined']


FLAKY = (
    "import os\n"
    "from pathlib import Path\n"
    "\n"
    "\n"
    "def test_sometimes() -> None:\n"
    "    # Every other run fails (the 1st passes, the 2nd fails, the 3rd passes): a test that\n"
    "    # hits a race, a port in use, a clock; its counter lives outside the repository.\n"
    "    counter = Path(os.environ['FLAKY_COUNTER'])\n"
    "    runs = int(counter.read_text()) + 1 if counter.exists() else 1\n"
    "    counter.write_text(str(runs))\n"
    "    assert runs % 2 == 1, f'run {runs}'\n"
)


@pytest.mark.parametrize("red_before", [True, False])
async def test_a_flaky_test_the_run_did_not_touch_does_not_fail_the_attempt(
    process_sandbox: ProcessSandbox, tmp_path: Path, red_before: bool
) -> None:
    """A test that passed at baseline and fails on an attempt that never touched it, then
    passes when run again, is flaky: it is named, and does not block (it failed a correct
    attempt, then all its retries, then the run: 'kelvin failed after 3 attempt(s)'). A test
    that fails again, or a flaky one the attempt changed, still blocks."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    tests = TESTS if red_before else TESTS.split("\n\n\ndef test_known")[0] + "\n"
    base = {"app.py": APP, "tests/test_app.py": tests, "tests/test_flaky.py": FLAKY}
    commit(repo, {**base, "pyproject.toml": ""}, "base")
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "FLAKY_COUNTER": str(tmp_path / "count")}
    gate = PytestGate(process_sandbox, env=env, timeout_s=60)
    baseline = await run_baseline([gate], repo, lambda event: None)  # run 1: passes
    assert baseline.was_green("tests") is not red_before
    guarded = BaselineGate(gate, baseline)

    added = "from app import total\n\n\ndef test_pair() -> None:\n    assert total([2, 2]) == 4\n"
    fine = attempt(repo, "fine", {"tests/test_pair.py": added})
    result = await guarded.check(fine)  # run 2 fails, run 3 (again) passes
    assert result.passed, result.summary
    assert "flaky, not blocking: tests/test_flaky.py::test_sometimes" in result.summary
    assert not [f for f in result.findings if f.key == "tests/test_flaky.py::test_sometimes"]

    # A real regression beside the flaky failure: only the regression is reported, and blocks.
    wrong = attempt(repo, "wrong", {"tests/test_pair.py": added.replace("== 4", "== 5")})
    result = await guarded.check(wrong)  # run 4 fails, run 5 passes; test_pair fails twice
    assert not result.passed, result.summary
    assert "tests/test_pair.py::test_pair" in [f.key for f in result.findings]
    assert "tests/test_flaky.py::test_sometimes" not in [f.key for f in result.findings]

    # The attempt edited the flaky test: its failure is the attempt's, not excused.
    edited = attempt(repo, "edited", {"tests/test_flaky.py": FLAKY + "\n\nX = 1\n"})
    result = await guarded.check(edited)  # run 6 fails, not run again
    assert not result.passed, result.summary
    assert "flaky" not in result.summary
    assert (tmp_path / "count").read_text() == "6"
