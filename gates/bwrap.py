"""Bubblewrap: whether it really works on this machine, and the argv that jails one command.

A gate or an agent tool runs code an LLM wrote. Under bubblewrap that code sees the system
read-only, can write only its worktree, has no network and no view of the real home (where
API keys and tokens live). bwrap being on PATH is not enough — it needs user namespaces,
which containers and hardened kernels often deny — so :func:`probe_bwrap` runs it once and
the sandbox falls back to plain processes with the reason remembered.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.repo_guard import pointer_files

PROBE_TIMEOUT_S = 10.0
"""How long the self-test may take before bwrap is judged unusable."""

ISOLATION_FLAGS = (
    "--unshare-net",
    "--unshare-pid",
    "--die-with-parent",
    "--new-session",
)
"""No network; its own PID namespace, so killing bwrap takes down every process inside."""


@dataclass(frozen=True)
class BwrapProbe:
    """The outcome of the bwrap self-test: its path, or why it cannot be used."""

    path: str | None
    reason: str | None = None

    @property
    def usable(self) -> bool:
        """True when bwrap ran ``true`` inside a full jail."""
        return self.path is not None and self.reason is None


@functools.cache
def probe_bwrap(executable: str = "bwrap") -> BwrapProbe:
    """Find bwrap and check it can run ``true`` in the jail we use; cached per process."""
    path = shutil.which(executable)
    if path is None:
        return BwrapProbe(None, f"{executable} not found on PATH")
    argv = [
        path,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        *ISOLATION_FLAGS,
        "--",
        "true",
    ]
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
            start_new_session=True,  # a terminal's Ctrl-C or hang-up is the run's to handle
        )
    except subprocess.TimeoutExpired:
        return BwrapProbe(path, f"bwrap self-test did not finish in {PROBE_TIMEOUT_S:g}s")
    except OSError as exc:
        return BwrapProbe(path, f"bwrap self-test could not start: {exc}")
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        first = stderr.splitlines()[0] if stderr else "no output"
        return BwrapProbe(path, f"bwrap self-test failed (exit {proc.returncode}): {first}")
    return BwrapProbe(path)


@functools.cache
def interpreter_paths() -> tuple[Path, ...]:
    """Directories the running Python needs to start: its venv and its base install; found
    once a process (they were resolved again for every command)."""
    paths = {Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix)}
    paths.add(Path(sys.executable).parent)
    paths.add(Path(sys.executable).resolve().parent)
    return tuple(sorted(paths))


def git_read_only(worktree: Path) -> list[Path]:
    """What of git a jailed command in ``worktree`` is shown read-only: a linked worktree's
    git directory (:func:`worktree_admin`), which git there reads, and the worktree's pointer
    files (:func:`~engine.repo_guard.pointer_files`), bound over the writable worktree as the
    coding agent's fence binds them: a command could rewrite its ``.git`` file (``gitdir:
    ~/.ssh``) for the next command's jail to follow, and it was put back only when the
    attempt ended. A ``.git`` file that is not followed is read-only too; a ``.git`` folder
    (a repository of its own) is not."""
    marker = worktree / ".git"
    admin = worktree_admin(worktree)
    if admin is not None:
        return [admin.parent.parent, *pointer_files(worktree, admin)]
    return [marker] if marker.is_file() and not marker.is_symlink() else []


def git_common_dir(worktree: Path) -> Path | None:
    """The shared ``.git`` directory a linked worktree points at, if any.

    A linked worktree holds a ``.git`` *file* (``gitdir: <main>/.git/worktrees/<name>``);
    git inside the jail needs that directory readable even when it lies in a hidden area.
    It is the git directory holding :func:`worktree_admin`'s folder, or None.
    """
    admin = worktree_admin(worktree)
    return None if admin is None else admin.parent.parent


def worktree_admin(worktree: Path) -> Path | None:
    """The admin folder ``<git dir>/worktrees/<name>`` a linked worktree's ``.git`` file
    names, by its real path, if it is a real one; else None.

    The file is the worktree's: the jail binds it read-only (:func:`git_read_only`), but
    before it did, a jailed command could rewrite it (its pointers are put back only when the
    attempt ends), and ``gitdir: ~/.ssh`` had the next command's jail show the user's keys;
    an unjailed command still can. So it is followed only to what ``git worktree add``
    makes: an admin folder whose ``commondir`` names its git directory and whose ``gitdir``
    points back at this worktree's ``.git`` file, in a git directory (``HEAD``, ``objects``).
    """
    marker = worktree / ".git"
    try:
        if marker.is_symlink() or not marker.is_file():
            return None
        text = marker.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return None
        admin = (worktree / text.removeprefix("gitdir:").strip()).resolve()
        common = admin.parent.parent
        if admin.parent.name != "worktrees" or not _points_back(admin, marker.resolve()):
            return None
        named = admin / "commondir"
        if named.is_file():
            rel = named.read_text(encoding="utf-8", errors="replace").strip()
            if (admin / rel).resolve() != common:
                return None
    except (OSError, ValueError):  # ValueError: a null byte in a path
        return None
    return admin if (common / "HEAD").is_file() and (common / "objects").is_dir() else None


def _points_back(admin: Path, marker: Path) -> bool:
    """Whether the admin folder's ``gitdir`` file names ``marker`` (a real path)."""
    back = admin / "gitdir"
    if not back.is_file():
        return False
    named = back.read_text(encoding="utf-8", errors="replace").strip()
    return bool(named) and (admin / named).resolve() == marker


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def bwrap_argv(
    bwrap: str,
    command: Sequence[str],
    *,
    cwd: Path,
    home: Path,
    hidden: Iterable[Path],
    readable: Iterable[Path],
    writable: Iterable[Path] = (),
) -> list[str]:
    """The full argv running ``command`` in ``cwd`` under bwrap.

    The order of mounts matters: the system read-only, then a tmpfs over each ``hidden``
    directory (``/tmp``, the real home), then the ``readable`` paths that live inside a hidden
    one bound back read-only (a folder of one bound so is shown by it: not bound again), then
    the worktree writable, then the ``readable`` paths inside the worktree bound read-only
    over it (a project's ``.venv`` the tests run on is never the jailed command's to change),
    then the ``writable`` folders outside the worktree (its cargo target folder,
    :mod:`engine.build_dirs`), then the private ``home`` as a tmpfs.
    """
    cwd = cwd.resolve()
    hidden_dirs = sorted({h.resolve() for h in hidden if h.resolve() != Path("/")})
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for directory in hidden_dirs:
        if directory.is_dir():
            args += ["--tmpfs", str(directory)]
    real_readable = sorted({path.resolve() for path in readable})  # each walked once
    rebinds: set[Path] = set()
    for real in real_readable:
        if real.exists() and any(_inside(real, h) for h in hidden_dirs):
            rebinds.add(real)
    shown: list[str] = []
    for bound in sorted(map(str, rebinds)):  # a folder sorts after the folders holding it
        if not any(bound.startswith(outer.rstrip("/") + "/") for outer in shown):
            shown.append(bound)
            args += ["--ro-bind", bound, bound]
    args += ["--bind", str(cwd), str(cwd)]
    for path in real_readable:
        if path != cwd and cwd in path.parents and path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        real = path.resolve()
        if real.is_dir() and not _inside(real, cwd):
            args += ["--bind", str(real), str(real)]
    args += ["--tmpfs", str(home)]
    args += [*ISOLATION_FLAGS, "--chdir", str(cwd), "--", *command]
    return args
