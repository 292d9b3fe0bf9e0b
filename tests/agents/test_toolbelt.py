"""The engineer's toolbelt: confined to its worktree, bounded output, commands via the sandbox."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from recording_sandbox import RecordingSandbox

from agents.project_tests import ProjectTests
from agents.provider import UNPARSED_ARGUMENTS, ToolCall
from agents.tool_specs import TOOL_SPECS, ToolResult
from agents.toolbelt import MAX_OUTPUT, Toolbelt
from engine.protocols import CommandResult, Sandbox
from gates.sandbox import ProcessSandbox


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("VALUE = 1\nNAME = 'x'\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("top secret")
    return secret


@pytest.fixture
def sandbox() -> RecordingSandbox:
    return RecordingSandbox()


@pytest.fixture
def belt(worktree: Path, sandbox: RecordingSandbox) -> Toolbelt:
    return Toolbelt(worktree, sandbox, python="/usr/bin/python3", test_timeout_s=42.0)


def resolved(path: Path) -> Path:
    return path.resolve()


async def call(belt: Toolbelt, name: str, **args: object) -> ToolResult:
    return await belt.execute(ToolCall(id="c1", name=name, arguments=dict(args)))


def test_the_model_is_offered_the_seven_tools_each_with_an_object_schema():
    assert [s.name for s in TOOL_SPECS] == [
        "list_files",
        "read_file",
        "write_file",
        "edit_file",
        "run_tests",
        "run",
        "finish",
    ]
    for spec in TOOL_SPECS:
        assert spec.parameters["type"] == "object"
        assert set(spec.parameters.get("required", [])) <= set(spec.parameters["properties"])
    _typed: Sandbox = RecordingSandbox()  # the fake satisfies the engine's Sandbox Protocol


# -- confinement -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside/secret.txt", "paths may not leave the repository: ../outside/secret.txt"),
        ("src/../../outside/secret.txt", "paths may not leave the repository"),
        ("/etc/passwd", "absolute paths are not allowed: /etc/passwd"),
        (".git/config", "the .git directory is off limits: .git/config"),
        ("./.git/config", "the .git directory is off limits"),
        ("", "path must be a non-empty string"),
    ],
)
async def test_escape_attempts_are_refused_for_reads_and_writes(
    belt: Toolbelt, worktree: Path, path: str, message: str
):
    read = await call(belt, "read_file", path=path)
    assert read.is_error and message in read.text
    git_config = (worktree / ".git" / "config").read_text()
    write = await call(belt, "write_file", path=path, content="pwned")
    assert write.is_error and message in write.text
    assert (worktree / ".git" / "config").read_text() == git_config
    assert belt.written == []


async def test_a_path_that_is_not_a_string_is_refused(belt: Toolbelt):
    result = await call(belt, "read_file", path=["src/app.py"])
    assert result.is_error and "path must be a non-empty string" in result.text


async def test_a_symlink_pointing_outside_the_worktree_is_refused(
    belt: Toolbelt, worktree: Path, outside: Path
):
    (worktree / "link.txt").symlink_to(outside / "secret.txt")
    read = await call(belt, "read_file", path="link.txt")
    assert read.is_error and "resolves outside the repository" in read.text
    assert "top secret" not in read.text
    write = await call(belt, "write_file", path="link.txt", content="overwritten")
    assert write.is_error
    assert (outside / "secret.txt").read_text() == "top secret"


async def test_a_symlinked_directory_pointing_outside_is_refused(
    belt: Toolbelt, worktree: Path, outside: Path
):
    (worktree / "vendor").symlink_to(outside, target_is_directory=True)
    write = await call(belt, "write_file", path="vendor/new.py", content="x = 1\n")
    assert write.is_error and "resolves outside the repository" in write.text
    assert not (outside / "new.py").exists()
    read = await call(belt, "read_file", path="vendor/secret.txt")
    assert read.is_error and "top secret" not in read.text
    edit = await call(belt, "edit_file", path="vendor/secret.txt", search="top", replace="no")
    assert edit.is_error
    assert (outside / "secret.txt").read_text() == "top secret"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("edit_file", {"path": "link.txt", "search": "top", "replace": "no"}),
        ("run_tests", {"args": ["link.txt::test_x"]}),
        ("run", {"argv": ["./link.txt"]}),
    ],
)
async def test_no_tool_reaches_a_file_outside_through_a_link(
    belt: Toolbelt,
    worktree: Path,
    outside: Path,
    sandbox: RecordingSandbox,
    name: str,
    args: dict[str, object],
):
    """Besides reads and writes: a search and replace, a test file given to pytest, a
    program run (its output, the file's text, would reach the model)."""
    (worktree / "link.txt").symlink_to(outside / "secret.txt")
    result = await call(belt, name, **args)
    assert result.is_error and "resolves outside the repository" in result.text
    assert sandbox.calls == [] and (outside / "secret.txt").read_text() == "top secret"


async def test_a_symlink_that_stays_inside_the_worktree_is_allowed(belt: Toolbelt, worktree: Path):
    (worktree / "alias.py").symlink_to(worktree / "src" / "app.py")
    read = await call(belt, "read_file", path="alias.py")
    assert not read.is_error and "VALUE = 1" in read.text


async def test_list_files_hides_git_internals_and_bytecode(belt: Toolbelt, worktree: Path):
    (worktree / "src" / "__pycache__").mkdir()
    (worktree / "src" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    result = await call(belt, "list_files")
    assert result.text.splitlines() == ["src/app.py"]


# -- reading and writing -------------------------------------------------------------------------


async def test_write_then_read_round_trips_and_records_the_file(belt: Toolbelt, worktree: Path):
    result = await call(belt, "write_file", path="pkg/sub/mod.py", content="a = 1\nb = 2\n")
    assert result == ToolResult("wrote pkg/sub/mod.py (2 lines)")
    assert (worktree / "pkg" / "sub" / "mod.py").read_text() == "a = 1\nb = 2\n"
    assert (await call(belt, "read_file", path="pkg/sub/mod.py")).text == "a = 1\nb = 2\n"
    assert belt.written == ["pkg/sub/mod.py"]


async def test_reading_a_missing_file_is_an_error_result(belt: Toolbelt):
    result = await call(belt, "read_file", path="nope.py")
    assert result == ToolResult("no such file: nope.py", is_error=True)


async def test_a_huge_read_is_truncated_with_a_note(belt: Toolbelt, worktree: Path):
    text = "".join(f"line {i:06d}\n" for i in range(20_000))  # ~240 kB
    (worktree / "big.log").write_text(text)
    result = await call(belt, "read_file", path="big.log")
    assert not result.is_error
    cut = len(text) - MAX_OUTPUT
    assert f"... [{cut} characters cut] ..." in result.text
    assert len(result.text) < MAX_OUTPUT + 100
    assert result.text.startswith("line 000000\n")  # the head and
    assert result.text.endswith("line 019999\n")  # the tail both survive


async def test_writing_more_than_the_limit_is_refused(belt: Toolbelt, worktree: Path):
    result = await call(belt, "write_file", path="huge.txt", content="x" * 1_000_001)
    assert result.is_error and "over 1000000 bytes" in result.text
    assert not (worktree / "huge.txt").exists()


async def test_write_needs_string_content(belt: Toolbelt):
    result = await call(belt, "write_file", path="a.py", content=None)
    assert result == ToolResult("content must be a string", is_error=True)


# -- edit_file -------------------------------------------------------------------------------------


async def test_edit_file_replaces_exactly_one_match(belt: Toolbelt, worktree: Path):
    result = await call(
        belt, "edit_file", path="src/app.py", search="VALUE = 1", replace="VALUE = 2"
    )
    assert result == ToolResult("edited src/app.py")
    assert (worktree / "src" / "app.py").read_text() == "VALUE = 2\nNAME = 'x'\n"
    assert belt.written == ["src/app.py"]


@pytest.mark.parametrize(("search", "count"), [("MISSING", 0), (" = ", 2)])
async def test_edit_file_refuses_zero_or_several_matches_and_leaves_the_file(
    belt: Toolbelt, worktree: Path, search: str, count: int
):
    before = (worktree / "src" / "app.py").read_text()
    result = await call(belt, "edit_file", path="src/app.py", search=search, replace="!")
    assert result.is_error
    assert result.text == f"search text found {count} times in src/app.py; it must be exactly once"
    assert (worktree / "src" / "app.py").read_text() == before
    assert belt.written == []


async def test_edit_file_of_a_missing_file_or_empty_search_is_an_error(belt: Toolbelt):
    assert (await call(belt, "edit_file", path="nope.py", search="a", replace="b")).is_error
    empty = await call(belt, "edit_file", path="src/app.py", search="", replace="b")
    assert empty.is_error and "search must be a non-empty string" in empty.text


# -- unknown tools, tests, finish ----------------------------------------------------------------


async def test_an_unknown_tool_is_an_error_result_not_an_exception(belt: Toolbelt):
    result = await call(belt, "rm_rf", path=".")
    assert result == ToolResult("unknown tool 'rm_rf'", is_error=True)


async def test_a_call_whose_arguments_were_no_json_object_is_told_so_to_the_model(
    belt: Toolbelt,
):
    """A model that wrote ``{path: a.py}`` heard "path must be a non-empty string" and wrote
    the same again; it is now told its arguments were not JSON."""
    result = await belt.execute(ToolCall("c1", "read_file", {UNPARSED_ARGUMENTS: "{path: a.py"}))
    assert result.is_error
    assert result.text.startswith("the arguments of read_file were not a JSON object: ")
    assert "'{path: a.py'" in result.text


async def test_run_tests_goes_through_the_sandbox_in_the_worktree(
    belt: Toolbelt, sandbox: RecordingSandbox, worktree: Path
):
    sandbox.output = "F.\n1 failed, 1 passed"
    sandbox.returncode = 1
    result = await call(belt, "run_tests", args=["-x", "tests/test_app.py::test_one"])
    argv, cwd, timeout = sandbox.calls[0]
    assert argv == (
        "/usr/bin/python3",
        "-m",
        "pytest",
        "--verbosity=-1",
        "-p",
        "no:cacheprovider",
        "--color=no",  # over the project's addopts: no ANSI escapes for the model
        "-x",
        "tests/test_app.py::test_one",
    )
    assert cwd == belt.root == resolved(worktree)
    assert timeout == 42.0
    assert not result.is_error  # a red test run is information for the model, not a tool error
    assert (
        result.text
        == "$ pytest -x tests/test_app.py::test_one\nF.\n1 failed, 1 passed\n[exit code 1]"
    )
    assert belt.test_runs == 1


async def test_run_tests_reports_a_timeout(belt: Toolbelt, sandbox: RecordingSandbox):
    sandbox.timed_out = True
    sandbox.returncode = -9
    result = await call(belt, "run_tests")
    assert result.text.endswith("[timed out]")
    assert sandbox.calls[0][0][-1] == "--color=no"  # no extra args


async def test_run_tests_refuses_test_paths_outside_the_worktree(
    belt: Toolbelt, sandbox: RecordingSandbox
):
    result = await call(belt, "run_tests", args=["../other_repo/tests"])
    assert result.is_error and "may not leave the repository" in result.text
    bad = await call(belt, "run_tests", args="-x")
    assert bad == ToolResult("args must be a list of strings", is_error=True)
    assert sandbox.calls == []
    assert belt.test_runs == 0


async def test_huge_test_output_is_truncated(belt: Toolbelt, sandbox: RecordingSandbox):
    sandbox.output = "E" * (MAX_OUTPUT * 3)
    result = await call(belt, "run_tests")
    assert "characters cut" in result.text
    assert result.text.endswith("[exit code 0]")


async def test_finish_sets_the_summary_and_ends_the_attempt(belt: Toolbelt):
    assert not belt.finished
    result = await call(belt, "finish", summary="  Added greet() with tests.  \n")
    assert result == ToolResult("attempt finished")
    assert belt.finished
    assert belt.summary == "Added greet() with tests."


async def test_a_worktree_given_through_a_symlink_still_confines(tmp_path: Path, outside: Path):
    real = tmp_path / "real"
    real.mkdir()
    linked = tmp_path / "linked"
    linked.symlink_to(real, target_is_directory=True)
    belt = Toolbelt(linked, RecordingSandbox())
    ok = await call(belt, "write_file", path="a.py", content="x = 1\n")
    assert not ok.is_error and (real / "a.py").exists()
    (real / "out").symlink_to(outside)
    assert (await call(belt, "read_file", path="out/secret.txt")).is_error
    assert belt.root == resolved(real)


async def test_list_files_does_not_walk_into_a_symlinked_directory(
    belt: Toolbelt, worktree: Path, outside: Path
):
    (worktree / "vendor").symlink_to(outside, target_is_directory=True)
    result = await call(belt, "list_files")
    assert "secret.txt" not in result.text


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("read_file", {"path": "a.py\x00"}),
        ("write_file", {"path": "a\x00.py", "content": "x"}),
        ("edit_file", {"path": "a.py\x00", "search": "x", "replace": "y"}),
        ("run_tests", {"args": ["tests/test_a.py\x00"]}),
        ("run", {"argv": ["echo", "a\x00b"]}),
        ("run", {"argv": ["./a\x00"]}),
    ],
)
async def test_a_nul_byte_in_a_tool_call_is_an_error_result_not_an_exception(
    belt: Toolbelt, name: str, args: dict[str, object]
):
    """A weak model's JSON may carry "\\u0000": ValueError (embedded null byte) escaped the
    toolbelt and failed the whole run as an internal error."""
    result = await belt.execute(ToolCall("c1", name, args))
    assert result.is_error and "null byte" in result.text


# -- tests in a monorepo ---------------------------------------------------------------------


@pytest.fixture
def monorepo(worktree: Path, sandbox: RecordingSandbox) -> Toolbelt:
    """Two projects with their own config, and top-level tests outside both."""
    for project in ("services/api", "services/worker"):
        (worktree / project / "tests").mkdir(parents=True)
        (worktree / project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        (worktree / project / "tests" / "test_it.py").write_text("def test_it(): pass\n")
    (worktree / "tests").mkdir()
    (worktree / "tests" / "test_top.py").write_text("def test_top(): pass\n")
    return Toolbelt(
        worktree,
        sandbox,
        python="/usr/bin/python3",
        test_timeout_s=42.0,
        tests=ProjectTests(pytest_projects=(".", "services/api", "services/worker")),
    )


def _runs(sandbox: RecordingSandbox, root: Path) -> list[tuple[str, tuple[str, ...]]]:
    return [(str(cwd.relative_to(root)), argv[7:]) for argv, cwd, _ in sandbox.calls]


async def test_run_tests_runs_each_project_where_the_gate_does(
    monorepo: Toolbelt, sandbox: RecordingSandbox
):
    """pytest at a monorepo's top reads neither project's config nor its import paths: the
    agent would chase failures the tests gate never sees. Each project runs in its own
    folder, the top one leaving the projects out, as the gate runs them."""
    result = await call(monorepo, "run_tests", args=["-x"])
    assert _runs(sandbox, monorepo.root) == [
        (".", ("-x", "--ignore=services/api", "--ignore=services/worker")),
        ("services/api", ("-x",)),
        ("services/worker", ("-x",)),
    ]
    sections = result.text.split("\n\n")
    assert sections[0].startswith("$ pytest -x\n")  # the ignores are the tool's, not shown
    assert sections[1].startswith("$ pytest -x  (in services/api)\n")
    assert sections[2].endswith("[exit code 0]")


async def test_run_tests_on_a_path_runs_in_the_project_holding_it(
    monorepo: Toolbelt, sandbox: RecordingSandbox
):
    await call(
        monorepo,
        "run_tests",
        args=["-k", "greet", "services/api/tests/test_it.py::test_it", "tests/test_top.py"],
    )
    assert _runs(sandbox, monorepo.root) == [
        ("services/api", ("-k", "greet", "tests/test_it.py::test_it")),  # "greet" is no path
        (".", ("-k", "greet", "tests/test_top.py")),
    ]


async def test_the_projects_share_the_time_for_tests(monorepo: Toolbelt, sandbox: RecordingSandbox):
    sandbox.timed_out = True

    async def slow(argv: Sequence[str], cwd: Path, **kw: object) -> CommandResult:
        sandbox.calls.append((tuple(argv), cwd, float(kw["timeout_s"])))  # type: ignore[arg-type]
        return CommandResult(tuple(argv), -9, "", 42.0, timed_out=True)

    sandbox.run = slow  # type: ignore[method-assign]
    result = await call(monorepo, "run_tests")
    assert len(sandbox.calls) == 1  # the first project took all the time
    assert result.text.count("[not run: the time for tests ran out]") == 2


async def test_run_tests_leaves_out_addopts_of_a_plugin_not_installed(tmp_path: Path):
    """wcwidth's tox.ini gives pytest --cov options: without pytest-cov each run_tests
    answered 'unrecognized arguments: --cov=...' (exit code 4) and no test ran; the model
    was shown an error of the configuration, never its tests. It runs them as the tests
    gate does, without those options, and says so."""
    root = tmp_path / "wt"
    (root / ".git").mkdir(parents=True)
    (root / "tox.ini").write_text("[pytest]\naddopts = -ra --cov=app --cov-report html\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_app.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        belt = Toolbelt(root, sandbox, python=sys.executable, test_timeout_s=60.0)
        result = await call(belt, "run_tests")
    finally:
        sandbox.close()
    assert "1 passed" in result.text, result.text
    assert result.text.endswith(
        "[exit code 0; run without the project's addopts --cov=app --cov-report html: "
        f"no plugin installed for {sys.executable} takes them (pytest-cov?)]"
    )
