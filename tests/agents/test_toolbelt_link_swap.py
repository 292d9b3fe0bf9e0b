"""A link swapped in between the toolbelt's check of a path and its open.

An agent's ``run`` command works in the worktree beside the tool calls: it can replace a
file, or a folder on the way, with a symlink to ``~/.aws/credentials`` the moment after
``resolve`` judged the path. The race is played here without threads: the belt's
``resolve`` does its check and then the swap, exactly the interleaving a command would have
to win. The tools must refuse (or land inside the worktree), never read or write outside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.provider import ToolCall
from agents.tool_specs import ToolResult
from agents.toolbelt import Toolbelt
from engine.protocols import CommandResult

SECRET = "aws_secret_access_key = top-secret\n"


class NoSandbox:
    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        raise AssertionError("no command runs here")


@dataclass
class SwappingBelt(Toolbelt):
    """A belt whose path check is followed at once by ``swap`` (a command's move)."""

    swap: Callable[[], None] | None = None

    def resolve(self, raw: object) -> Path:
        checked = super().resolve(raw)
        if self.swap is not None:
            swap, self.swap = self.swap, None
            swap()
        return checked


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / ".git").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "app.py").write_text("VALUE = 1\n")
    (root / "notes.txt").write_text("notes\n")
    return root


@pytest.fixture
def aws(tmp_path: Path) -> Path:
    folder = tmp_path / "home" / ".aws"
    folder.mkdir(parents=True)
    (folder / "credentials").write_text(SECRET)
    return folder


def link_instead(path: Path, target: Path) -> Callable[[], None]:
    def swap() -> None:
        if path.is_dir():
            path.rename(path.with_name(path.name + ".old"))
        else:
            path.unlink()
        path.symlink_to(target, target_is_directory=target.is_dir())

    return swap


async def call(belt: Toolbelt, name: str, **arguments: Any) -> ToolResult:
    return await belt.execute(ToolCall(id="1", name=name, arguments=arguments))


def untouched(aws: Path) -> bool:
    return sorted(p.name for p in aws.iterdir()) == ["credentials"] and (
        (aws / "credentials").read_text() == SECRET
    )


async def test_a_file_swapped_for_a_link_out_after_the_check_is_not_read(
    worktree: Path, aws: Path
) -> None:
    belt = SwappingBelt(worktree, NoSandbox())
    belt.swap = link_instead(worktree / "notes.txt", aws / "credentials")
    result = await call(belt, "read_file", path="notes.txt")
    assert result.is_error and "top-secret" not in result.text
    assert result.text == "notes.txt resolves outside the repository (symlink)"


@pytest.mark.parametrize("tool", ["write_file", "edit_file"])
async def test_a_file_swapped_for_a_link_out_after_the_check_is_not_written(
    worktree: Path, aws: Path, tool: str
) -> None:
    belt = SwappingBelt(worktree, NoSandbox())
    belt.swap = link_instead(worktree / "notes.txt", aws / "credentials")
    change = (
        {"content": "pwned\n"}
        if tool == "write_file"
        else {"search": "top-secret", "replace": "pwned"}
    )
    result = await call(belt, tool, path="notes.txt", **change)
    assert result.is_error and "resolves outside the repository" in result.text
    assert "\n" not in result.text and "top-secret" not in result.text
    assert untouched(aws) and belt.written == []


async def test_a_folder_swapped_for_a_link_out_gets_no_new_file(worktree: Path, aws: Path) -> None:
    belt = SwappingBelt(worktree, NoSandbox())
    belt.swap = link_instead(worktree / "pkg", aws)
    result = await call(belt, "write_file", path="pkg/credentials", content="pwned\n")
    assert result.is_error and "resolves outside the repository" in result.text
    assert untouched(aws)
    result = await call(belt, "write_file", path="pkg/new.py", content="X = 1\n")
    assert result.is_error and untouched(aws)


async def test_a_link_into_git_is_refused_though_it_stays_inside(worktree: Path) -> None:
    """``g -> .git`` resolves inside the worktree; a write through it would plant a hook."""
    (worktree / "g").symlink_to(".git", target_is_directory=True)
    belt = Toolbelt(worktree, NoSandbox())
    result = await call(belt, "write_file", path="g/hooks/pre-commit", content="#!/bin/sh\n")
    assert result.is_error and result.text == "the .git directory is off limits: g/hooks/pre-commit"
    assert not (worktree / ".git" / "hooks").exists()


async def test_a_secret_file_linked_inside_is_masked_by_the_name_the_open_reached(
    worktree: Path,
) -> None:
    """The name the mask judges is the file the walk opened, not a second resolve of the
    path a command may have changed again."""
    (worktree / ".env").write_text("API_TOKEN=hunter2-very-secret\n")
    (worktree / "settings.txt").symlink_to(".env")
    result = await call(Toolbelt(worktree, NoSandbox()), "read_file", path="settings.txt")
    assert not result.is_error and "hunter2" not in result.text and "API_TOKEN" in result.text
