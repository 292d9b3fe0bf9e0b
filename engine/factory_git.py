"""The factory's git: commands in a session of their own, hookless, with plain patches.

Every git call of the run's goes through these ``git.Repo`` and ``git.Git`` subclasses: out of
the terminal's process group (a Ctrl-C stops the run, not its git command), with none of the
repository's hooks or fsmonitor commands and none of the factory's secrets, and with diffs
that are git's own patches whatever the user's diff settings. Beside them, the identity the
factory's commits carry and the few reads (HEAD's ref, a commit, ``-z`` names) that go
through git rather than GitPython's own parsing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git

from engine import repo_guard

IDENTITY = {
    "GIT_AUTHOR_NAME": "shopfloor",
    "GIT_AUTHOR_EMAIL": "factory@shopfloor.invalid",
    "GIT_COMMITTER_NAME": "shopfloor",
    "GIT_COMMITTER_EMAIL": "factory@shopfloor.invalid",
}


class SessionGit(git.Git):
    """``git`` commands in a session of their own.

    A terminal sends Ctrl-C's SIGINT and a hang-up's SIGHUP to its whole foreground process
    group. A git command the run started would die of the same signal that starts the run's
    graceful stop, and the run could see the dead command first: a WorkspaceError, and a
    run finished as failed instead of stopped and resumable. Out of the terminal's group the
    command finishes, and the run stops on its own terms (the agents' and the gates'
    processes start the same way).
    """

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("start_new_session", True)
        return super().execute(*args, **kwargs)


class SessionRepo(git.Repo):
    """A ``git.Repo`` whose commands run in a session of their own (:class:`SessionGit`)."""

    GitCommandWrapperType = SessionGit


class FactoryGit(SessionGit):
    """``git`` for the factory's own calls, whose diffs are git's own patches.

    The user's ``diff.external`` (difftastic's set-up sets one) replaced the patch that QC
    and the task reviewer read with another program's output, and failed the run when that
    program was gone; ``color.ui=always`` put escape codes in it. The user's own ``git
    diff`` keeps both.
    """

    def diff(self, *args: Any, **kwargs: Any) -> Any:
        return self._call_process("diff", "--no-ext-diff", "--no-color", *args, **kwargs)

    def show(self, *args: Any, **kwargs: Any) -> Any:
        return self._call_process("show", "--no-ext-diff", "--no-color", *args, **kwargs)


class FactoryRepo(SessionRepo):
    """The factory's own view of the repository: an agent may have left a hook or a
    ``core.fsmonitor`` command in it, and neither runs inside the factory's git calls (nor
    would the user's own: these calls are the factory's plumbing). What they run still,
    a filter driver say, sees no secret of the factory's environment. Its diffs are plain
    patches (:class:`FactoryGit`)."""

    GitCommandWrapperType = FactoryGit

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        self.git.set_persistent_git_options(c=list(repo_guard.HOOKLESS))
        self.git.update_environment(**repo_guard.without_secrets())


def head_ref(repo: git.Repo) -> str | None:
    """The ref the checkout's HEAD names (``refs/heads/main``, maybe unborn); None when it
    is detached.

    HEAD and the commits are read through git, never through GitPython's own parsing, which
    takes an object name of 40 hex digits only: in a repository of SHA-256 names (64) it
    failed on every detached HEAD, and each worktree of the run's is one.
    """
    try:
        return str(repo.git.symbolic_ref("--quiet", "HEAD")) or None
    except git.GitCommandError:
        return None


def resolve(repo: git.Repo, name: str) -> str | None:
    """The commit ``name`` (``HEAD``, a ref) points at; None when it does not resolve (an
    unborn branch)."""
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{name}^{{commit}}")) or None
    except git.GitCommandError:
        return None


def names(output: str) -> list[str]:
    """Paths from git's ``-z`` output: as they are, where without ``-z`` git quotes a name
    with a tab, a newline or a non-ASCII byte (``"\\303\\274ber.py"``)."""
    return [name for name in output.split("\0") if name]
