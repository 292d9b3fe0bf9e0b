"""The engineer's file tools on the files real repositories hold: Windows line endings, bytes
that are not UTF-8, binary files. An edit changes what it says and nothing else — checked by
git and by the shrinkage gate, which refuses a revision that rewrites most of a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import git

from agents.provider import ToolCall
from agents.tool_specs import ToolResult
from agents.toolbelt import Toolbelt
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    box = ProcessSandbox(use_bwrap=False)
    yield box
    box.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    lines = [f"VALUE_{i} = {i}" for i in range(40)]
    (root / "windows.py").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    (root / "legacy.py").write_bytes("# caf\xe9 cr\xe8me\nPRICE = 1\n".encode("latin-1"))
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


async def call(belt: Toolbelt, name: str, **args: object) -> ToolResult:
    return await belt.execute(ToolCall(id="c1", name=name, arguments=dict(args)))


async def test_a_one_line_edit_of_a_crlf_file_stays_one_line(
    repo: Path, sandbox: ProcessSandbox
) -> None:
    belt = Toolbelt(repo, sandbox)
    shown = await call(belt, "read_file", path="windows.py")
    assert "\r" not in shown.text and "VALUE_3 = 3\nVALUE_4 = 4\n" in shown.text
    edited = await call(
        belt, "edit_file", path="windows.py", search="VALUE_3 = 3\n", replace="VALUE_3 = 33\n"
    )
    assert not edited.is_error, edited.text
    git(repo, "commit", "-q", "-am", "one edit")
    assert git(repo, "diff", "--numstat", "HEAD~1", "HEAD") == "1\t1\twindows.py"
    assert (repo / "windows.py").read_bytes().count(b"\r\n") == 40
    result = await ShrinkageGate(sandbox).check(repo)
    assert result.passed and result.counts["deleted"] == 1, result.summary


async def test_a_crlf_edit_of_an_lf_file_is_the_same_lines_with_lf_ends(
    repo: Path, sandbox: ProcessSandbox
) -> None:
    """A model on Windows-style line ends wrote CRLF into the search: it was "found 0 times"
    in the LF file and re-asked until the attempt gave up."""
    (repo / "unix.py").write_bytes(b"A = 1\nB = 2\nC = 3\n")
    belt = Toolbelt(repo, sandbox)
    edited = await call(
        belt,
        "edit_file",
        path="unix.py",
        search="A = 1\r\nB = 2\r\n",
        replace="A = 1\r\nB = 20\r\n",
    )
    assert not edited.is_error, edited.text
    assert (repo / "unix.py").read_bytes() == b"A = 1\nB = 20\nC = 3\n"


async def test_rewriting_a_crlf_file_keeps_its_line_endings(
    repo: Path, sandbox: ProcessSandbox
) -> None:
    belt = Toolbelt(repo, sandbox)
    content = "".join(f"VALUE_{i} = {i}\n" for i in range(40)).replace("= 7\n", "= 70\n")
    written = await call(belt, "write_file", path="windows.py", content=content)
    assert not written.is_error, written.text
    git(repo, "commit", "-q", "-am", "rewrite")
    assert git(repo, "diff", "--numstat", "HEAD~1", "HEAD") == "1\t1\twindows.py"
    new = await call(belt, "write_file", path="new.py", content="A = 1\n")
    assert not new.is_error and (repo / "new.py").read_bytes() == b"A = 1\n"


async def test_bytes_that_are_not_utf8_survive_an_edit(repo: Path, sandbox: ProcessSandbox) -> None:
    belt = Toolbelt(repo, sandbox)
    shown = await call(belt, "read_file", path="legacy.py")
    assert not shown.is_error, shown.text
    assert "not valid UTF-8" in shown.text and "PRICE = 1" in shown.text
    edited = await call(
        belt, "edit_file", path="legacy.py", search="PRICE = 1", replace="PRICE = 2"
    )
    assert not edited.is_error, edited.text
    assert (repo / "legacy.py").read_bytes() == "# caf\xe9 cr\xe8me\nPRICE = 2\n".encode("latin-1")


async def test_a_binary_file_is_named_as_such(repo: Path, sandbox: ProcessSandbox) -> None:
    belt = Toolbelt(repo, sandbox)
    for result in (
        await call(belt, "read_file", path="logo.png"),
        await call(belt, "edit_file", path="logo.png", search="PNG", replace="GIF"),
    ):
        assert result.is_error and "logo.png is a binary file" in result.text
    assert (repo / "logo.png").read_bytes().startswith(b"\x89PNG")


async def test_text_that_cannot_be_written_is_an_error_result(
    repo: Path, sandbox: ProcessSandbox
) -> None:
    belt = Toolbelt(repo, sandbox)
    result = await call(belt, "write_file", path="odd.py", content="X = '\ud800'\n")
    assert result.is_error and result.text.startswith("write_file failed:")


async def test_run_tests_imports_a_src_layout_package_as_the_tests_gate_does(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    """The tests gate puts a src layout's ``src`` on the path (engine.layout); the engineer's
    own ``run_tests`` did not, so it saw every test fail to import the package, a failure the
    gate never reports, and set about "fixing" it."""
    root = tmp_path / "shop"
    (root / "src" / "shop").mkdir(parents=True)
    (root / "src" / "shop" / "__init__.py").write_text("def total(xs):\n    return sum(xs)\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_total.py").write_text(
        "from shop import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n"
    )
    belt = Toolbelt(root, sandbox)
    result = await call(belt, "run_tests")
    assert "1 passed" in result.text, result.text
