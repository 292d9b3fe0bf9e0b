"""What goes wrong with the run's repository, each said in one line.

:class:`WorkspaceError` is bad input to the CLI (a path that is no repository, a branch in
the way); :class:`BranchCheckedOut` and :class:`BranchMoved` are the merge queue's to wait on
or ask about. :func:`git_complaint` turns a failed git command into the words git said.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import git


class WorkspaceError(RuntimeError):
    """The repository cannot be used as asked. The message is one line."""


def git_complaint(exc: git.GitCommandError) -> str:
    """What git said when it failed, in one line: its stderr without GitPython's framing
    (``stderr: '...'``) or git's ``fatal:``/``error:`` prefixes, else its exit code."""
    text = str(exc.stderr or "").strip()
    if text.startswith("stderr:"):
        text = text[len("stderr:") :].strip().removeprefix("'").removesuffix("'")
    words = ""
    for line in (line.strip() for line in text.splitlines()):
        if line:
            line = line.removeprefix("fatal: ").removeprefix("error: ")
            words += (" " if not words or words.endswith(":") else "; ") + line
    return words.strip()[:600] or f"git exited with {exc.status}"


def release_hint(checkout: Path) -> str:
    """The command that takes a branch out of ``checkout``: back to the branch it was on
    before, or, to keep looking at the same files, off any branch."""
    return f"`git -C {checkout} checkout -` (or `checkout --detach` to keep looking)"


class BranchCheckedOut(WorkspaceError):
    """The integration branch is the HEAD of a checkout that is not the factory's.

    Moving a branch with ``update-ref`` moves it under whoever has it checked out: their
    index and files stay at the old commit, and ``git status`` shows the reverse of each
    merge as their own edit, which their next commit would record. So the branch does not
    move while it is checked out; the merge queue waits for the checkout to let go of it.
    """

    def __init__(self, branch: str, checkout: Path) -> None:
        super().__init__(
            f"integration branch {branch} is checked out in {checkout}; "
            f"{release_hint(checkout)} lets the run move it"
        )
        self.branch = branch
        self.checkout = checkout


class BranchMoved(WorkspaceError):
    """The integration branch is not where the run left it, so a merge did not move it.

    Someone else moved it: the user committed on it while it was checked out, reset it, or
    another process of the run's merged there. ``added`` lists the commits (``sha subject``)
    it now holds on top of the run's tip, oldest first; it is empty when the branch no longer
    holds that tip (reset, rewritten, deleted). The branch stays as it is either way: what
    is there may be the only copy of someone's work.
    """

    def __init__(
        self, branch: str, new: str, expected: str, tip: str | None, added: list[str]
    ) -> None:
        where = "is gone" if tip is None else f"is at {tip[:10]}"
        what = (
            f"; it holds {len(added)} commit(s) on top that the run did not make: "
            + ", ".join(added[:3])
            + (", ..." if len(added) > 3 else "")
            if added
            else ""
        )
        super().__init__(
            f"integration branch {branch} did not move to {new[:10]}: it no longer points at "
            f"{expected[:10]} (it {where}){what}"
        )
        self.branch = branch
        self.expected = expected
        self.tip = tip
        self.added = added


def _how_to_commit(path: Path) -> str:
    """For a folder of files that is no repository (an unpacked sdist): the commands that
    make it one a run can build from. ``git init`` alone is not enough: a run builds from a
    commit, and on a repository without one it starts from an empty tree."""
    try:
        holds_files = path.is_dir() and any(path.iterdir())
    except OSError:
        holds_files = False
    if not holds_files:
        return ""
    git_c = f"git -C {shlex.quote(str(path))}"
    return (
        f" (a run builds from a commit: {git_c} init && {git_c} add -A && {git_c} commit -m import)"
    )


def not_a_repository(path: Path) -> str:
    """Why ``path`` is no repository: a folder inside one names the repository to give."""
    try:
        with git.Repo(path, search_parent_directories=True) as outer:
            top = outer.working_tree_dir
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        top = None
    if top is None or Path(top).resolve() == Path(path).resolve():
        return f"not a git repository: {path}{_how_to_commit(Path(path))}"
    return (
        f"{path} is a folder inside the git repository {top}, not its top level: "
        f"give the repository itself ({top})"
    )
