"""The bubblewrap fence a coding agent runs in: the user's checkout read-only to it.

Where bubblewrap works, the user's checkout and its git config and hooks are read-only to the
agent, and it sees only its own processes (:func:`fence_argv`); :func:`fence_said` is the
agent log's line when the fence is less than that.
This module probes bubblewrap itself: ``agents`` does not reach into ``gates``, whose sandbox
also takes the network away, which an agent needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from engine.repo_guard import PROTECTED, pointer_files

_bwrap_works: bool | None = None
_bwrap_pid = False


PID_FENCE = ("--unshare-pid", "--proc", "/proc")
"""The agent in a PID namespace of its own, with a /proc of its own: with the same user and
the host's /proc it could read the factory's ``/proc/<pid>/environ``, the model keys and the
GitHub token the factory withholds from it."""


async def _bwrap() -> str | None:
    """bubblewrap's path if it can make a mount namespace here (once per process), else None:
    containers without user namespaces refuse it. Whether it can also make a PID namespace
    (:data:`PID_FENCE`) is probed at the same time."""
    global _bwrap_works, _bwrap_pid
    program = shutil.which("bwrap")
    if program is None:
        return None
    if _bwrap_works is None:
        _bwrap_pid = await _probe(program, *PID_FENCE)
        _bwrap_works = _bwrap_pid or await _probe(program)
    return program if _bwrap_works else None


async def _probe(program: str, *options: str) -> bool:
    try:
        probe = await asyncio.create_subprocess_exec(
            program, "--dev-bind", "/", "/", *options, "true",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await probe.wait() == 0
    except OSError:
        return False


async def _git_dirs(worktree: Path) -> tuple[Path, Path] | None:
    """The repository ``worktree`` belongs to (its common git directory) and the worktree's
    own git directory, or None."""
    try:
        git = await asyncio.create_subprocess_exec(
            "git", "-C", str(worktree), "rev-parse", "--path-format=absolute",
            "--git-common-dir", "--git-dir",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None
    out, _ = await git.communicate()
    found = [Path(line) for line in out.decode().splitlines() if line.strip()]
    if git.returncode != 0 or len(found) != 2 or not all(path.is_dir() for path in found):
        return None
    return found[0], found[1]


async def checkout_of(worktree: Path) -> Path | None:
    """The user's checkout the git worktree ``worktree`` belongs to (the folder holding its
    repository's ``.git``), or None (outside git, a bare repository)."""
    dirs = await _git_dirs(worktree)
    return dirs[0].parent if dirs is not None and dirs[0].name == ".git" else None


READ_ONLY_IN_GIT_DIR = (*PROTECTED, "HEAD", "index", "worktrees", "logs/HEAD")
"""What of the writable git directory stays read-only to the agent: the config and hooks
(commands the factory's own git calls would run, :mod:`engine.repo_guard`), ``info/``, the
user's checkout's HEAD, index and HEAD reflog (by which the repo guard tells the user's own
commits and checkouts from an agent's moves: a forged line there would keep an agent's move
of the user's branch), and every other worktree's administrative folder."""


async def fence_argv(
    argv: list[str], worktree: Path, *, masked: Sequence[tuple[Path, Path]] = ()
) -> list[str]:
    """``argv`` run so the agent cannot write into the user's checkout or its git config.

    A coding agent runs with the user's rights and its own shell: by an absolute path it
    could write into the checkout the factory promises to leave alone (an agent finds it with
    ``git rev-parse --git-common-dir``). Under bubblewrap the whole filesystem stays as it is
    (the agent's login under ``~``, its tools, the network) except the checkout, which is
    read-only; its git directory stays writable, since the worktree's objects, HEAD, index
    and branch live there, and so does the worktree itself. Inside the git directory the
    config, hooks and ``info/``, the checkout's HEAD and index, and the other worktrees stay
    read-only (:data:`READ_ONLY_IN_GIT_DIR`; a missing ``hooks/`` or ``info/`` is made first,
    so that the agent cannot create one), as do the files by which git in the worktree finds
    its repository. Refs and objects the agent may still change; the factory puts the refs
    back (:mod:`engine.repo_put_back`) and checks the objects afterwards
    (:mod:`engine.repo_guard`). Where bubblewrap can, the agent also sees only its own
    processes (:data:`PID_FENCE`). Without a working bubblewrap, or outside a git worktree,
    ``argv`` is returned as it is.

    ``masked``: ``(copy, file)`` pairs, each copy bound read-only over its file of the
    worktree or of the checkout (a secret file's masked text,
    :func:`~agents.providers.cli_secret_files.masked_copies`): the agent reads the
    masked values, and its writes to the file fail, so the mask never reaches the attempt's
    commit (outside the jail the file was never changed).
    """
    bwrap = await _bwrap()
    dirs = await _git_dirs(worktree) if bwrap else None
    if bwrap is None or dirs is None or dirs[0].name != ".git":
        return argv
    git_dir, own = dirs
    checkout = git_dir.parent
    binds = ["--ro-bind", str(checkout), str(checkout)]
    for writable in (git_dir, worktree):  # after the checkout's, so they win inside it
        binds += ["--bind", str(writable), str(writable)]
    for folder in (git_dir / "hooks", git_dir / "info"):
        with contextlib.suppress(OSError):  # a git directory we cannot write, nor can the agent
            folder.mkdir(exist_ok=True)
    binds += _read_only(git_dir / name for name in READ_ONLY_IN_GIT_DIR)
    if own != git_dir:  # the worktree's own folder stays writable inside worktrees/
        binds += ["--bind", str(own), str(own)]
        binds += _read_only(pointer_files(worktree, own))
    for copy, target in masked:  # after the worktree's bind, so they win inside it
        binds += ["--ro-bind", str(copy), str(target)]
    pid = PID_FENCE if _bwrap_pid else ()
    return [bwrap, "--dev-bind", "/", "/", *pid, *binds, "--die-with-parent", "--", *argv]


def fence_said(argv: Sequence[str], *, fenced: bool, worktree: Path) -> str:
    """The agent log's line when the fence is less than the README promises (empty when it
    is whole, or when there is no checkout to fence): without bubblewrap the agent could
    write into the user's checkout, without a PID namespace read the factory's environment.
    """
    if not fenced:
        if not (worktree / ".git").exists():
            return ""  # not a git worktree: no checkout of the user's to fence off
        why = (
            "bubblewrap is not installed"
            if shutil.which("bwrap") is None
            else "bubblewrap cannot make a namespace here"
        )
        return f"[fence] none: {why}; the agent runs with your rights"
    if PID_FENCE[0] in argv:
        return ""
    return (
        "[fence] bubblewrap cannot make a PID namespace here: the agent can see the "
        "factory's processes"
    )


def _read_only(paths: Iterable[Path]) -> list[str]:
    return [arg for path in paths if path.exists() for arg in ("--ro-bind", str(path), str(path))]
