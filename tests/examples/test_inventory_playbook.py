"""The bundled inventory example must load, plan and really build.

`shopfloor demo` plays examples/inventory/playbook.yaml with the sim provider: the engine
executes the scripted tool calls for real, so every file the engineer "writes" lands in a git
worktree and every test run is a real pytest run. These tests replay the same scripts without
the engine, turn by turn, in temporary directories: a broken example fails here, not on stage.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from agents.playbook import AttemptScript, Playbook, ToolCallScript
from engine.dag import Dag

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory"
SEED = EXAMPLE / "seed"
PLAYBOOK = EXAMPLE / "playbook.yaml"

TASK_IDS = ["models", "stock", "pricing", "csv_io", "reports", "cli"]
EXPECTED_DEPS = {
    "models": set(),
    "stock": {"models"},
    "pricing": {"models"},
    "csv_io": {"models"},
    "reports": {"stock", "pricing"},
    "cli": {"stock", "csv_io", "reports"},
}
RETRIED_TASK = "pricing"
WRITE_TOOLS = {"write_file", "edit_file"}
REQUIRED_ARGS = {
    "write_file": {"path", "content"},
    "edit_file": {"path", "search", "replace"},
    "read_file": {"path"},
    "list_files": set(),
    "run_tests": set(),
    "finish": {"summary"},
}


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> Playbook:
    return Playbook.load(PLAYBOOK)


@pytest.fixture(scope="module")
def dag(book: Playbook) -> Dag:
    return Dag.from_blueprint(book.blueprint)


def flat_calls(attempt: AttemptScript) -> list[ToolCallScript]:
    return [call for turn in attempt.turns for call in turn.calls]


def written_paths(attempt: AttemptScript) -> list[str]:
    return [call.args["path"] for call in flat_calls(attempt) if call.tool in WRITE_TOOLS]


def is_test_file(path: str) -> bool:
    return PurePosixPath(path).parts[0] == "tests"


def inside(root: Path, path: str) -> Path:
    pure = PurePosixPath(path)
    assert not pure.is_absolute() and ".." not in pure.parts, f"path escapes the repo: {path}"
    return root.joinpath(*pure.parts)


def apply_call(root: Path, call: ToolCallScript) -> None:
    """Do what the engineer's toolbelt does for a file-writing call."""
    target = inside(root, call.args["path"])
    if call.tool == "write_file":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(call.args["content"], encoding="utf-8")
    elif call.tool == "edit_file":
        text = target.read_text(encoding="utf-8")
        assert text.count(call.args["search"]) == 1, f"edit_file search not unique in {target}"
        target.write_text(text.replace(call.args["search"], call.args["replace"]), "utf-8")


def apply_attempt(root: Path, attempt: AttemptScript) -> None:
    for call in flat_calls(attempt):
        if call.tool in WRITE_TOOLS:
            apply_call(root, call)


def fresh_repo(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(SEED, root)
    return root


def run_pytest(root: Path, *args: str, plugins: bool = True) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``root`` the way a worktree's test run does; output is stdout+stderr.

    ``plugins=False`` skips this environment's third-party pytest plugins (textual's snapshot
    plugin alone costs most of a second per run); the example needs none of them.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if not plugins:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    result.stdout += result.stderr
    return result


def ancestors(dag: Dag, task_id: str) -> set[str]:
    seen: set[str] = set()
    todo = list(dag.deps[task_id])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(dag.deps[dep])
    return seen


def failed_ids(output: str) -> list[str]:
    return re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)


# --- the plan ------------------------------------------------------------------------------


def test_playbook_loads_with_its_timing(book: Playbook) -> None:
    assert book.name == "inventory"
    assert (book.timing.median_s, book.timing.sigma, book.timing.seed) == (0.8, 0.35, 7)
    assert [task.id for task in book.blueprint.tasks] == TASK_IDS
    assert sorted(book.engineer) == sorted(TASK_IDS)
    assert 4 <= len(book.blueprint.acceptance_criteria) <= 6
    assert all(task.test_plan and task.files for task in book.blueprint.tasks)


def test_blueprint_builds_the_expected_dag(dag: Dag) -> None:
    assert {task: set(deps) for task, deps in dag.deps.items()} == EXPECTED_DEPS
    assert dag.order[0] == "models"
    assert dag.order[-1] == "cli"
    assert dag.critical_path["models"] == 4  # models -> stock|pricing -> reports -> cli


def test_request_and_seed_are_in_place() -> None:
    request = (EXAMPLE / "request.md").read_text(encoding="utf-8").strip().splitlines()
    assert 5 <= len(request) <= 10
    assert request[0].startswith("Build a small inventory library")
    seed_files = sorted(p.relative_to(SEED).as_posix() for p in SEED.rglob("*") if p.is_file())
    assert seed_files == [".gitignore", "README.md", "inventory/__init__.py", "pyproject.toml"]
    pyproject = (SEED / "pyproject.toml").read_text(encoding="utf-8")
    assert 'testpaths = ["tests"]' in pyproject
    assert 'pythonpath = ["."]' in pyproject
    assert "dependencies = []" in pyproject


# --- the scripts ---------------------------------------------------------------------------


def test_every_call_names_a_real_tool_with_its_arguments(book: Playbook) -> None:
    for task_id, script in book.engineer.items():
        for number, attempt in enumerate(script.attempts, start=1):
            for call in flat_calls(attempt):
                where = f"{task_id} attempt {number}: {call.tool}"
                assert call.tool in REQUIRED_ARGS, f"{where} is not a toolbelt tool"
                assert REQUIRED_ARGS[call.tool] <= call.args.keys(), f"{where} lacks arguments"
                if call.tool == "run_tests":
                    assert all(isinstance(arg, str) for arg in call.args.get("args", []))
            for turn in attempt.turns:
                assert turn.say.strip(), f"{task_id} attempt {number} has a silent turn"


def test_each_task_writes_only_its_own_declared_files(book: Playbook) -> None:
    owner: dict[str, str] = {}
    seed_files = {p.relative_to(SEED).as_posix() for p in SEED.rglob("*") if p.is_file()}
    for task in book.blueprint.tasks:
        script = book.engineer[task.id]
        touched = {path for attempt in script.attempts for path in written_paths(attempt)}
        assert touched <= set(task.files), f"{task.id} writes undeclared files"
        assert set(written_paths(script.attempts[-1])) == set(task.files)
        assert not touched & seed_files, f"{task.id} edits a seed file"
        assert f"tests/test_{task.id}.py" in touched
        for path in touched:
            assert path not in owner, f"{path} is written by {owner.get(path)} and {task.id}"
            owner[path] = task.id


def test_scripts_write_tests_first_and_end_with_finish(book: Playbook) -> None:
    for task_id, script in book.engineer.items():
        for number, attempt in enumerate(script.attempts, start=1):
            where = f"{task_id} attempt {number}"
            calls = flat_calls(attempt)
            tools = [call.tool for call in calls]
            writes = [(i, c.args["path"]) for i, c in enumerate(calls) if c.tool in WRITE_TOOLS]
            test_writes = [i for i, path in writes if is_test_file(path)]
            code_writes = [i for i, path in writes if not is_test_file(path)]
            assert test_writes and code_writes and "run_tests" in tools, f"{where} is incomplete"
            first_test_write, first_code_write = test_writes[0], code_writes[0]
            first_run = tools.index("run_tests")
            assert first_test_write < first_run < first_code_write, f"{where} is not tests-first"
            last_write = writes[-1][0]
            assert "run_tests" in tools[last_write:], f"{where} never runs its final code"
            assert tools.count("finish") == 1 and tools[-1] == "finish", where
            assert attempt.turns[-1].calls[-1].tool == "finish", where


def test_only_pricing_retries_and_its_retry_waits_for_the_real_failure(book: Playbook) -> None:
    for task_id, script in book.engineer.items():
        expected = 2 if task_id == RETRIED_TASK else 1
        assert len(script.attempts) == expected, task_id
        assert script.attempts[0].expect_in_prompt == []
    expects = book.engineer[RETRIED_TASK].attempts[-1].expect_in_prompt
    assert expects
    # The planner's text is in every prompt; an expectation met by it proves nothing.
    request = (EXAMPLE / "request.md").read_text(encoding="utf-8")
    always_in_prompt = book.blueprint.model_dump_json() + request
    first = book.engineer[RETRIED_TASK].attempts[0]
    first_attempt = "\n".join(
        [turn.say for turn in first.turns]
        + [str(value) for call in flat_calls(first) for value in call.args.values()]
    )
    for text in expects:
        assert text not in always_in_prompt, f"{text!r} is in the blueprint or request"
    assert any(text not in first_attempt for text in expects), (
        "every expectation is in attempt 1's own files: a retry could play without the failure"
    )


def test_test_files_hold_three_to_eight_tests(book: Playbook) -> None:
    for task_id, script in book.engineer.items():
        for attempt in script.attempts:
            for call in flat_calls(attempt):
                if call.tool == "write_file" and is_test_file(call.args["path"]):
                    count = len(re.findall(r"^def test_", call.args["content"], re.MULTILINE))
                    assert 3 <= count <= 8, f"{task_id}: {call.args['path']} has {count} tests"


# --- the build, for real -------------------------------------------------------------------


@dataclass
class Replay:
    """What happened when one attempt's script was played in its own worktree."""

    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    gate: subprocess.CompletedProcess[str] | None = None  # whole suite, after the attempt
    missing_reads: list[str] = field(default_factory=list)


def replay(book: Playbook, dag: Dag, task_id: str, number: int, root: Path) -> Replay:
    """Play attempt ``number`` of ``task_id`` in a fresh worktree holding its merged deps."""
    shutil.copytree(SEED, root)
    for dep in (t for t in dag.order if t in ancestors(dag, task_id)):
        apply_attempt(root, book.engineer[dep].attempts[-1])
    script = book.engineer[task_id]
    result = Replay()
    for call in flat_calls(script.attempts[number - 1]):
        if call.tool in WRITE_TOOLS:
            apply_call(root, call)
        elif call.tool == "read_file" and not inside(root, call.args["path"]).is_file():
            result.missing_reads.append(call.args["path"])
        elif call.tool == "run_tests":
            result.runs.append(run_pytest(root, *call.args.get("args", []), plugins=False))
    if number < len(script.attempts):
        result.gate = run_pytest(root, plugins=False)
    return result


def replay_all(book: Playbook, dag: Dag, task_id: str, base: Path) -> list[Replay]:
    """Every attempt of ``task_id``, replayed concurrently (each in its own directory).

    Each test replays its own task (the whole playbook was replayed once per module, so
    on each worker of ``-n`` that was given one of these tests: twice the work).
    """
    numbers = range(1, len(book.engineer[task_id].attempts) + 1)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = [pool.submit(replay, book, dag, task_id, n, base / f"a{n}") for n in numbers]
    return [future.result() for future in futures]


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_each_attempt_replays_on_top_of_its_dependencies(
    book: Playbook, dag: Dag, task_id: str, tmp_path: Path
) -> None:
    """Tests first really is red for the right reason, and the last attempt really is green.

    Each attempt runs in a fresh worktree holding only its merged dependencies, as the engine
    gives it; a failing attempt's output, as the model and the task gate see it, holds every
    string the next attempt waits for.
    """
    script = book.engineer[task_id]
    for number, result in enumerate(replay_all(book, dag, task_id, tmp_path), start=1):
        where = f"{task_id} attempt {number}"
        assert not result.missing_reads, f"{where} reads missing files {result.missing_reads}"
        red, last = result.runs[0], result.runs[-1]
        assert red.returncode != 0, f"{where}: the red run passed\n{red.stdout}"
        assert "No module named 'inventory." in red.stdout, f"{where}: red for the wrong reason"
        if number == len(script.attempts):
            assert last.returncode == 0, f"{where}: final test run failed\n{last.stdout}"
            continue
        assert result.gate is not None
        assert last.returncode != 0, f"{where} was meant to fail but passed"
        assert result.gate.returncode != 0, f"{where}: the task gate would pass it"
        for text in script.attempts[number].expect_in_prompt:
            assert text in last.stdout, f"{text!r} not in the run the model saw"
            assert text in result.gate.stdout, f"{text!r} not in the task gate's output"


def test_merged_tree_of_every_last_attempt_passes(book: Playbook, dag: Dag, tmp_path: Path) -> None:
    """The integration branch after the demo: every task merged, the whole suite green.

    This run keeps the environment's pytest plugins, as the factory's own test gate would.
    """
    root = fresh_repo(tmp_path, "merged")
    for task_id in dag.order:
        apply_attempt(root, book.engineer[task_id].attempts[-1])
    result = run_pytest(root)
    assert result.returncode == 0, result.stdout
    assert re.search(r"\b\d+ passed\b", result.stdout)
    assert "warning" not in result.stdout.lower()
    assert (root / "inventory" / "__init__.py").read_bytes() == (
        SEED / "inventory" / "__init__.py"
    ).read_bytes()


def test_first_pricing_attempt_fails_with_what_the_retry_expects(
    book: Playbook, dag: Dag, tmp_path: Path
) -> None:
    """Pricing's first attempt on a tree holding everything else fails only pricing's tests.

    Its output holds every string attempt 2 waits for, so the retry plays exactly when the
    real failure is passed back to the model.
    """
    root = fresh_repo(tmp_path, "buggy")
    for task_id in dag.order:
        if task_id != RETRIED_TASK:
            apply_attempt(root, book.engineer[task_id].attempts[-1])
    apply_attempt(root, book.engineer[RETRIED_TASK].attempts[0])
    result = run_pytest(root, plugins=False)
    assert result.returncode != 0, "the buggy pricing attempt passes the suite"
    failed = failed_ids(result.stdout)
    assert failed
    assert all(test.startswith("tests/test_pricing.py::") for test in failed), failed
    for text in book.engineer[RETRIED_TASK].attempts[1].expect_in_prompt:
        assert text in result.stdout, f"{text!r} missing from the failing output"
