"""engine.beneath: a worktree's files opened part by part, no link followed out of it.

Each test makes the path a link (or walks into one) and calls the open directly: no earlier
check by path stands between, so what is refused is refused by the open itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import beneath
from engine.beneath import LeavesRoot, read_beneath, write_beneath


@pytest.fixture
def root(tmp_path: Path) -> Path:
    top = tmp_path / "wt"
    (top / "pkg").mkdir(parents=True)
    (top / "pkg" / "app.py").write_text("VALUE = 1\n")
    (top / ".git").mkdir()
    (top / ".git" / "config").write_text("[core]\n")
    return top


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "home" / ".aws"
    folder.mkdir(parents=True)
    (folder / "credentials").write_text("aws_secret_access_key = top-secret\n")
    return folder


def parts(rel: str) -> tuple[str, ...]:
    return tuple(rel.split("/"))


@pytest.mark.parametrize(
    ("rel", "make"),
    [
        ("creds", lambda r, o: (r / "creds").symlink_to(o / "credentials")),  # absolute
        ("creds", lambda r, o: (r / "creds").symlink_to("../home/.aws/credentials")),  # climbs
        ("aws/credentials", lambda r, o: (r / "aws").symlink_to(o, target_is_directory=True)),
        ("pkg/up/credentials", lambda r, o: (r / "pkg" / "up").symlink_to("../../home/.aws")),
        ("pkg/creds", lambda r, o: (r / "pkg" / "creds").symlink_to("../inner")),  # a chain
        ("pkg/../../home/.aws/credentials", lambda r, o: None),
    ],
)
def test_a_walk_leading_out_is_refused_for_a_read_and_a_write(
    root: Path, outside: Path, rel: str, make: Callable[[Path, Path], None]
) -> None:
    make(root, outside)
    if rel == "pkg/creds":
        (root / "inner").symlink_to("../home/.aws/credentials")
    with pytest.raises(LeavesRoot, match="resolves outside the repository") as read:
        read_beneath(root, parts(rel), shown=rel)
    assert "\n" not in str(read.value) and "top-secret" not in str(read.value)
    with pytest.raises(LeavesRoot):
        write_beneath(root, parts(rel), b"overwritten", shown=rel)
    assert (outside / "credentials").read_text() == "aws_secret_access_key = top-secret\n"
    assert sorted(p.name for p in outside.iterdir()) == ["credentials"]


def test_links_staying_inside_are_walked_and_the_real_name_is_said(root: Path) -> None:
    (root / "alias.py").symlink_to("pkg/app.py")
    (root / "abs.py").symlink_to(root / "pkg" / "app.py")
    (root / "pkg" / "here").symlink_to(".", target_is_directory=True)
    for rel in ("alias.py", "abs.py", "pkg/here/here/app.py", "pkg/here/../pkg/app.py"):
        assert read_beneath(root, parts(rel), shown=rel) == (b"VALUE = 1\n", "pkg/app.py"), rel


def test_a_write_makes_its_folders_and_follows_a_dangling_link_inside(root: Path) -> None:
    assert write_beneath(root, parts("new/deep/mod.py"), b"X = 2\n", shown="x") == (
        "new/deep/mod.py"
    )
    assert (root / "new" / "deep" / "mod.py").read_bytes() == b"X = 2\n"
    (root / "later.py").symlink_to("made/later.py")
    assert write_beneath(root, ("later.py",), b"Y = 3\n", shown="later.py") == "made/later.py"
    assert (root / "made" / "later.py").read_bytes() == b"Y = 3\n"
    write_beneath(root, parts("pkg/app.py"), b"short\n", shown="pkg/app.py")
    assert (root / "pkg" / "app.py").read_bytes() == b"short\n"  # truncated, not overlaid


def test_the_git_folder_is_refused_by_its_real_name(root: Path) -> None:
    (root / "g").symlink_to(".git", target_is_directory=True)
    (root / "pkg" / "cfg").symlink_to("../.git/config")
    for rel in ("g/config", "pkg/cfg", ".git/config"):
        with pytest.raises(LeavesRoot, match=r"the \.git directory is off limits"):
            read_beneath(root, parts(rel), shown=rel)
    with pytest.raises(LeavesRoot):
        write_beneath(root, parts("g/hooks/pre-commit"), b"#!/bin/sh\n", shown="g")
    assert not (root / ".git" / "hooks").exists()


def test_a_link_loop_and_a_fifo_end_in_an_error_not_a_hang(root: Path) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(OSError, match="too many levels"):
        read_beneath(root, ("a",), shown="a")
    os.mkfifo(root / "pipe")
    with pytest.raises(FileNotFoundError):
        read_beneath(root, ("pipe",), shown="pipe")
    with pytest.raises(OSError):  # no reader: ENXIO, never a blocked open
        write_beneath(root, ("pipe",), b"x", shown="pipe")
    with pytest.raises(FileNotFoundError):
        read_beneath(root, ("pkg",), shown="pkg")  # a folder is no file


def test_a_folder_swapped_for_a_link_mid_walk_is_never_followed(
    root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk holds each folder it opened: once ``pkg`` is open, renaming it away and
    putting a link to ``~/.aws`` in its place changes nothing for the rest of the walk (an
    open by path, after any check, would read the credentials)."""
    (root / "pkg" / "credentials").write_text("inside\n")
    real_open = os.open
    swapped = threading.Event()

    def open_then_swap(path: object, flags: int, *args: object, **kwargs: object) -> int:
        fd = real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
        if path == "pkg" and not swapped.is_set():
            swapped.set()
            (root / "pkg").rename(root / "pkg.old")
            (root / "pkg").symlink_to(outside, target_is_directory=True)
        return fd

    monkeypatch.setattr(beneath.os, "open", open_then_swap)
    data, real = read_beneath(root, parts("pkg/credentials"), shown="pkg/credentials")
    assert swapped.is_set()
    assert (data, real) == (b"inside\n", "pkg/credentials")
    assert (root / "pkg" / "credentials").read_text().startswith("aws_secret")  # the swap held


def test_text_and_folders_are_walked_beneath_by_relative_or_absolute_path(
    root: Path, outside: Path
) -> None:
    assert beneath.read_text_beneath(root, "pkg/app.py") == "VALUE = 1\n"
    assert beneath.read_text_beneath(root, root / "pkg" / "app.py") == "VALUE = 1\n"
    with pytest.raises(LeavesRoot, match="lies outside the repository"):
        beneath.read_text_beneath(root, outside / "credentials")  # absolute, elsewhere
    (root / "aws").symlink_to(outside, target_is_directory=True)
    (root / "inner").symlink_to("pkg", target_is_directory=True)
    with pytest.raises(LeavesRoot):
        beneath.read_text_beneath(root, "aws/credentials")
    assert [beneath.folder_beneath(root, rel) for rel in (".", "pkg", "inner", "aws")] == [
        True,
        True,
        True,
        False,
    ]
    assert not beneath.folder_beneath(root, "pkg/app.py")  # a file is no folder
    assert not beneath.folder_beneath(root, ".git")
