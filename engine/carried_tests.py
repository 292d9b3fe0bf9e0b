"""A retry's tests: those the task's last attempt wrote, carried into the retry's worktree.

Each attempt starts from the integration tip in a fresh worktree, so a retry lost the tests
its previous attempt wrote (tests first: their RED run is recorded). Its engineer was told of
a failure in a test file it could not see, and a retry that wrote only code passed the gates
with no test of the task and landed so. Instead the test files the last committed attempt
added or changed are applied to the retry's worktree (as a patch: the integration branch may
have moved since), the engineer is told they are there, and an attempt whose commit deleted
one of them does not land: the task cannot lose its tests by failing once. Moving one is not
losing it: a test its commit holds under another test file's name (git's rename detection)
counts as kept, for pytest's "import file mismatch" asks for just that (a module named as
another folder's), and a retry could neither keep the old name nor drop it.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import git

from engine.factory_git import FactoryRepo, names

TEST_FOLDERS = frozenset({"tests", "test", "__tests__", "spec", "specs", "testing"})
"""Folders whose files are tests, or their fixtures and data."""
_TEST_SUFFIXES = ("_test.py", "_test.go", "_test.rs", "_tests.rs", "Test.java", "Tests.cs")
_TEST_INFIXES = (".test.", ".spec.")


def is_test_path(rel: str) -> bool:
    """Whether the repository path ``rel`` holds a test (or a test's fixture), in the usual
    layouts of Python, Go, Rust, JavaScript, Java and C#."""
    path = PurePosixPath(rel)
    name = path.name
    return (
        any(part in TEST_FOLDERS for part in path.parts[:-1])
        or name == "conftest.py"
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith(_TEST_SUFFIXES)
        or any(infix in name for infix in _TEST_INFIXES)
    )


def _tests_changed(wt: FactoryRepo, commit: str) -> list[str]:
    """The test files ``commit`` (an attempt's one commit) added or changed."""
    out = wt.git.diff("--name-only", "--no-renames", "--diff-filter=AM", "-z", f"{commit}^", commit)
    return [name for name in names(out) if is_test_path(name)]


def carry_tests(worktree: Path, commit: str) -> tuple[list[str], list[str]]:
    """Apply to ``worktree`` the test files the attempt commit ``commit`` added or changed:
    ``(kept, left)``, ``left`` the ones whose patch no longer applies (the integration branch
    changed them meanwhile)."""
    wt = FactoryRepo(worktree)
    kept: list[str] = []
    left: list[str] = []
    for name in _tests_changed(wt, commit):
        patch = wt.git.diff(
            "--binary",
            "--no-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            f"{commit}^",
            commit,
            "--",
            f":(literal){name}",
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
        with tempfile.NamedTemporaryFile(prefix="shopfloor-tests-", suffix=".patch") as file:
            file.write(bytes(patch))
            file.flush()
            try:
                wt.git.apply("--whitespace=nowarn", file.name)
            except git.GitCommandError:
                left.append(name)
                continue
        kept.append(name)
    return kept, left


def missing_from(worktree: Path, commit: str, paths: Sequence[str]) -> list[str]:
    """The ``paths`` the commit ``commit`` does not hold as files."""
    wt = FactoryRepo(worktree)
    missing = []
    for path in paths:
        try:
            wt.git.cat_file("-e", f"{commit}:{path}")
        except git.GitCommandError:
            missing.append(path)
    return missing


def moved_to(worktree: Path, source: str, commit: str, paths: Sequence[str]) -> dict[str, str]:
    """Of ``paths`` (test files of the commit ``source``), those the commit ``commit`` holds
    under another test path, as git's rename detection between the two trees finds them:
    old path -> new path."""
    wanted = set(paths)
    if not wanted:
        return {}
    out = FactoryRepo(worktree).git.diff(
        "--name-status", "-M", "--diff-filter=R", "-z", source, commit
    )
    fields = names(out)
    return {
        old: new
        for status, old, new in zip(fields[::3], fields[1::3], fields[2::3], strict=True)
        if status.startswith("R") and old in wanted and is_test_path(new)
    }


@dataclass
class KeptTests:
    """Per task of a build: the attempt commit whose tests the task's next attempt keeps."""

    _source: dict[str, str] = field(default_factory=dict)

    async def carry(
        self, task_id: str, worktree: Path, note: Callable[[str], object]
    ) -> tuple[str, ...]:
        """Put in ``worktree`` (a new attempt's) the tests the task's last attempt wrote;
        the paths kept. One whose patch no longer applies is left out (``note`` hears it):
        the retry's engineer writes it again from the failure it is shown."""
        commit = self._source.get(task_id)
        if commit is None:
            return ()
        try:
            kept, left = await asyncio.to_thread(carry_tests, worktree, commit)
        except git.GitCommandError:  # after a resume: the repository lost it (gc, a re-clone)
            note(f"the previous attempt's commit {commit[:10]} is gone: its tests are not kept")
            return ()
        if left:
            note(
                "the previous attempt's tests no longer apply on the integration branch, "
                f"not kept: {', '.join(left)}"
            )
        return tuple(kept)

    async def check(
        self, task_id: str, worktree: Path, commit: str, kept: tuple[str, ...]
    ) -> str | None:
        """The failure of an attempt whose ``commit`` deleted tests it was given (``kept``),
        else None, and the task's next attempt keeps this one's tests. A test moved to
        another test path (:func:`moved_to`) is not deleted."""
        dropped = await asyncio.to_thread(missing_from, worktree, commit, kept) if kept else []
        source = self._source.get(task_id)
        if dropped and source is not None:
            moved = await asyncio.to_thread(moved_to, worktree, source, commit, dropped)
            dropped = [path for path in dropped if path not in moved]
        if dropped:
            return (
                "The previous attempt deleted tests of this task, which it cannot land "
                f"without: {', '.join(dropped)}. Keep them (fix them if they are wrong)."
            )
        self._source[task_id] = commit
        return None
