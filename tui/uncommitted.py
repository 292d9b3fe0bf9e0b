"""What a run leaves out: changes in the user's checkout that are not committed.

A run builds from a commit (the user's HEAD, or the commit a resumed run started from) in
worktrees of its own; it never reads the working tree. An edit made a minute ago and not
committed is therefore not in the build, and nothing in the run would show it. The run still
goes ahead (the user may mean it), but says so once before it starts, and the warning is
kept in the run's log for ``status``. One ``git status`` finds the files: its cost is a few
milliseconds on a typical repository, paid once per run.

Untracked files that installing or running the project makes are not counted: a virtualenv
in the checkout (a folder holding ``pyvenv.cfg``, or one the audit's snapshot leaves out by
name), a setuptools ``*.egg-info`` folder, a tool's cache. A ``python -m venv .venv`` made by
Python before 3.13 does not ignore itself in git, and was counted file by file: python-slugify
with its test dependencies installed gave "2479 uncommitted files ... commit them to have them
built", advice to commit the environment the gates run on (and, for an audit, "are in this
audit", though the snapshot leaves them out).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.audit_checkout import SKIP

GIT_STATUS_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Uncommitted:
    """Files that differ from HEAD, each counted once: ``modified`` has edits not staged
    (staged ones too, maybe), ``staged`` only staged edits, ``untracked`` is new and not
    ignored by git."""

    staged: int = 0
    modified: int = 0
    untracked: int = 0

    @property
    def total(self) -> int:
        return self.staged + self.modified + self.untracked

    def breakdown(self) -> str:
        """``"2 modified, 1 untracked"``: the non-zero counts."""
        parts = (
            ("modified", self.modified),
            ("staged", self.staged),
            ("untracked", self.untracked),
        )
        return ", ".join(f"{n} {what}" for what, n in parts if n)


def parse_porcelain(
    output: bytes, left_out: Callable[[str], bool] = lambda _path: False
) -> Uncommitted:
    """Count the entries of ``git status --porcelain=v1 -z`` output; an untracked path
    ``left_out`` says yes to is not counted."""
    staged = modified = untracked = 0
    fields = output.split(b"\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        x, y = chr(entry[0]), chr(entry[1])
        if x in "RC":
            i += 1  # a rename or copy: the next field is the path it came from
        if x == "?":
            untracked += not left_out(entry[3:].decode("utf-8", "surrogateescape"))
        elif x == "!":
            continue  # ignored (only listed when asked for)
        elif y != " ":
            modified += 1
        else:
            staged += 1
    return Uncommitted(staged=staged, modified=modified, untracked=untracked)


def environment_filter(repo: Path) -> Callable[[str], bool]:
    """Whether an untracked path of ``repo`` lies in what installing or running the project
    made: a folder named in :data:`engine.audit_checkout.SKIP` (``.venv``, caches), a
    ``*.egg-info`` folder, or a virtualenv of any name (its folder holds ``pyvenv.cfg``).
    Each folder is looked at once."""
    venv: dict[str, bool] = {}

    def left_out(rel: str) -> bool:
        folders = rel.split("/")[:-1]  # git's paths: "/"-separated, relative
        for depth, name in enumerate(folders, 1):
            if name in SKIP or name.endswith(".egg-info"):
                return True
            folder = "/".join(folders[:depth])
            if folder not in venv:
                venv[folder] = (repo / folder / "pyvenv.cfg").is_file()
            if venv[folder]:
                return True
        return False

    return left_out


def uncommitted_changes(repo: Path) -> Uncommitted | None:
    """What ``git status`` reports in ``repo``, or None when git cannot say (no warning
    then: the run itself reports a repository git cannot read)."""
    argv = [
        "git",
        "--no-optional-locks",  # a look only: never rewrite the user's index
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",  # each new file, not its folder: the count is of files
    ]
    try:
        done = subprocess.run(
            argv, cwd=repo, capture_output=True, timeout=GIT_STATUS_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return parse_porcelain(done.stdout, environment_filter(repo))


def uncommitted_warning(
    repo: Path, base_commit: str | None, *, resumed: bool = False, audit: bool = False
) -> str | None:
    """One line saying how many uncommitted files the run leaves out and which commit it
    works from, or, for an audit, that they are in it (None for a clean checkout).
    ``base_commit`` None: the repository has no commits, and the run starts from an empty
    tree."""
    found = uncommitted_changes(repo)
    if found is None or not found.total:
        return None
    n = found.total
    files = f"{n} uncommitted file{'s' if n != 1 else ''} ({found.breakdown()})"
    if base_commit is None:
        source = "an empty tree (the repository has no commits yet)"
    elif resumed:
        source = f"commit {base_commit[:7]}, where it started"
    else:
        source = f"commit {base_commit[:7]} (HEAD)"
    are, them = ("are", "them") if n != 1 else ("is", "it")
    if audit:  # an audit copies the checkout's files as they are (engine.audit_checkout.snapshot)
        return (
            f"{files} in {repo} {are} in this audit: it reads the checkout as it is, not "
            f"{source} alone"
        )
    # a resumed run goes on from where it started: a commit now is for a new run
    advice = (
        f"a new run builds {them} once committed"
        if resumed
        else f"commit {them} to have {them} built"
    )
    return f"{files} in {repo} {are} not in this run: it builds from {source}; {advice}"


IN_PROGRESS = (
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase (or git am)"),
    ("MERGE_HEAD", "a merge"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
    ("BISECT_LOG", "a bisect"),
)
"""What git leaves in a checkout's git directory while an operation stops half-way."""


def operation_in_progress(repo: Path) -> str | None:
    """The git operation stopped half-way in the checkout at ``repo`` (``"a rebase"``), or
    None. Files git keeps in the checkout's own git directory say so (a worktree's is its
    own folder), as ``git status`` finds them."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--absolute-git-dir"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=GIT_STATUS_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    git_dir = Path(done.stdout.strip())
    return next((what for name, what in IN_PROGRESS if (git_dir / name).exists()), None)


def in_progress_warning(repo: Path, head: str | None, *, audit: bool = False) -> str | None:
    """One line saying that a git operation stopped half-way in ``repo`` and what the run
    takes from it: a rebase stopped on a conflict leaves HEAD detached on the commits
    rewritten so far, a merge leaves HEAD before the merge, and a run from there ships a
    branch grown from neither the old branch nor the new one. None when nothing is in
    progress. ``head``: the commit the run builds from (None: no commits yet)."""
    what = operation_in_progress(repo)
    if what is None:
        return None
    if audit:
        return (
            f"{what} is in progress in {repo}: the audit reads the checkout as it left it, "
            "part-way; finish or abort it first to audit its result"
        )
    source = "an empty tree" if head is None else f"HEAD as it left it, commit {head[:7]}"
    return (
        f"{what} is in progress in {repo}: the run builds from {source}, not from what it "
        "will make; finish or abort it first to build on its result"
    )
