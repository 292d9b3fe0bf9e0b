"""The user's repository as an agent found it: refs, config, hooks, objects.

An attempt's worktree shares the user's git directory, which stays writable to the agent: the
worktree's objects, its HEAD and index and its branch live there. With a shell an agent
reaches the rest of it too, and agents do: ``git tag``, ``git stash``, ``git update-ref`` or
``git branch -f`` on a branch of the user's, ``git push .``, ``git notes``, ``git remote
add``, a hook written into ``.git/hooks``, ``git gc --prune=now``. This module records
what matters before the agent starts (:func:`read_state`) and runs the factory's own git
calls without the repository's hooks (:func:`git_run`); :mod:`engine.repo_put_back` restores
what the agent changed, and says what; :func:`object_names` and :func:`broken_objects` tell
whether it deleted objects the repository still needs.

Config and hooks are a way into the factory, not only into the user's repository:
``core.fsmonitor``, ``core.hooksPath`` and the hooks run commands inside the factory's own
later git calls (a merge's ``worktree add`` runs ``post-checkout``, each ``update-ref`` runs
``reference-transaction``), outside any fence and with the factory's environment. So the
factory's git calls switch both off (:data:`HOOKLESS`), the files are put back before the
factory runs git again, and where bubblewrap works the agent cannot write them at all
(``fence_argv`` in agents/providers/cli_fence.py). Refs and objects have no fence: this module is
their only guard.

The user keeps working in their own checkout meanwhile, and what they do there is not the
agent's: a commit, pull, reset or checkout there appends to the checkout's HEAD reflog
(``logs/HEAD``), which an agent's git in its own worktree never writes. So HEAD and the branch
it has checked out are put back to where the checkout last put them
(:func:`~engine.repo_put_back.checkout_moves`), never behind the user's commit. A branch or
stash the user makes or moves meanwhile, anywhere, is told apart by who logged it: every
command an agent runs has the committer identity :data:`AGENT_IDENT` (the cli provider's
environment, the sandbox's), which git writes into each reflog line, so a ref whose latest
move was logged under another identity is the user's and stays
(:func:`~engine.repo_put_back.users_moves`). What leaves no reflog line — a tag, a deleted
branch — is still put back, and an agent's porcelain git run in the user's checkout, or one
that sets its own identity, passes for the user's.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from engine.secrets import secret_env_values

HOOKLESS = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "core.sparseCheckout=false",
)
"""Config of the factory's own git calls (``-c``): no hook and no fsmonitor command of the
repository's runs inside them, and its commits are not signed with the user's key (a signing
user's every attempt failed, or waited on a passphrase prompt no one sees). Nor do they pack
or prune on their own (``gc --auto``): loose objects vanishing into a pack looked like an
agent deleting objects, and cost a ``git fsck`` of the whole history. Nor does the user's
sparse checkout reach the run's worktrees: an attempt and its gates see the whole tree (a
worktree of the user's sparse ``pkg/`` had no ``tests/``, and refused to commit a new test)."""

PROTECTED = ("config", "config.worktree", "hooks", "info")
"""What under the common git directory the agent may not change: the repository's config,
its hooks, and ``info/`` (``exclude``, ``attributes``, ``grafts``)."""

GENERATED = frozenset({"info/refs"})
"""Files there that git writes as output, not read as input (``git update-server-info``, which
``git gc`` runs): an agent's ``gc`` rewriting them is nothing to put back."""

CHECKOUT_LOG = "logs/HEAD"
"""The main worktree's HEAD reflog: the user's commits, checkouts and resets there."""

STASH_LIST = "logs/refs/stash"
"""The stash list: put back after the refs, since putting ``refs/stash`` back adds to it."""

FACTORY_REFS = "refs/heads/shopfloor/"
"""The factory's own branches (this run's integration branch, and those of another run on
the same repository): they move while an agent works, and are not the guard's to put back."""

AGENT_EMAIL = "agent@shopfloor.invalid"
AGENT_IDENT = {"GIT_COMMITTER_NAME": "shopfloor agent", "GIT_COMMITTER_EMAIL": AGENT_EMAIL}
"""The committer identity of every command an agent runs: git logs each ref it moves under
it, which tells the agent's moves from the user's (:func:`users_moves`). The agent's own
commits carry it too; the factory commits an attempt's work under its own."""

LOG_TAIL = 65536
"""How much of a reflog's end is read for its latest line."""

MAX_NOTES = 20
"""Lines said about one attempt's put-back refs and files; the rest are counted."""

FileState = tuple[int, bytes]
"""A file's mode and bytes (a symbolic link's target)."""


class GitFailed(RuntimeError):
    """A git call the guard cannot do without failed (never guessed around: a ref list read
    as empty would have every ref look created, and deleted). The message is one line."""


@dataclass
class RepoState:
    """What an agent must leave as it is, recorded before it starts."""

    refs: dict[str, str]
    """Every ref, and the main worktree's ``HEAD``: an object id, or ``ref:TARGET``."""
    files: dict[str, FileState]
    """The files of :data:`PROTECTED` and the stash list, by path under the git directory."""
    objects: frozenset[str] = frozenset()
    """The names of the packs and loose objects."""
    checkout_log: int = 0
    """The size of the main worktree's HEAD reflog: what the user's checkout does later is
    appended to it."""


@dataclass
class PutBack:
    """What was put back: for the log, and for the other attempts' records."""

    notes: list[str] = field(default_factory=list)
    refs: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """Each ref put back: (its value before the agent, the agent's)."""
    files: dict[str, tuple[FileState | None, FileState | None]] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    """Refs that could not be put back: the objects they pointed at are gone."""


def without_secrets() -> dict[str, str]:
    """Every secret-looking variable of this process's environment (:mod:`engine.secrets`)
    set empty, for the factory's own git calls. They need none, and what they may run that
    the agent chose — a ``filter``, ``diff`` or ``merge`` driver named by its worktree's
    ``.gitattributes`` and defined in a global config it could write — must not see the
    model keys and the token the agent was not given."""
    secrets = set(secret_env_values(os.environ))
    return {name: "" for name, value in os.environ.items() if value in secrets}


def git_run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``git ARGS`` in ``cwd`` without the repository's hooks, in a session of its own, with
    no secret in its environment (:func:`without_secrets`)."""
    return subprocess.run(
        ["git", *(part for option in HOOKLESS for part in ("-c", option)), *args],
        cwd=cwd,
        env={**os.environ, **without_secrets()},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )


def read_state(repo: Path, git_dir: Path) -> RepoState:
    """The refs (one ``git for-each-ref``), the protected files and the objects' names."""
    listed = git_run(repo, "for-each-ref", "--format=%(refname) %(objectname) %(symref)")
    if listed.returncode != 0:
        reason = " ".join(listed.stderr.split()) or f"exit code {listed.returncode}"
        raise GitFailed(f"cannot list the refs of {repo}: {reason}")
    refs: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        name, _, rest = line.partition(" ")
        oid, _, target = rest.partition(" ")
        refs[name] = f"ref:{target}" if target else oid
    head = _read_head(git_dir)
    if head is not None:
        refs["HEAD"] = head
    return RepoState(refs, read_files(git_dir), object_names(git_dir), log_size(git_dir))


def log_size(git_dir: Path) -> int:
    try:
        return (git_dir / CHECKOUT_LOG).stat().st_size
    except OSError:
        return 0


def read_files(git_dir: Path) -> dict[str, FileState]:
    files: dict[str, FileState] = {}
    for rel in (*PROTECTED, STASH_LIST):
        read_tree(git_dir, rel, files)
    return files


def _read_head(git_dir: Path) -> str | None:
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return "ref:" + text[4:].strip() if text.startswith("ref:") else text


def read_tree(git_dir: Path, rel: str, into: dict[str, FileState]) -> None:
    if rel in GENERATED:
        return
    path = git_dir / rel
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            into[rel] = (info.st_mode, os.fsencode(os.readlink(path)))
        elif stat.S_ISDIR(info.st_mode):
            for child in sorted(os.listdir(path)):
                read_tree(git_dir, f"{rel}/{child}", into)
        elif stat.S_ISREG(info.st_mode):
            into[rel] = (info.st_mode, path.read_bytes())
    except FileNotFoundError:
        return


def object_names(git_dir: Path) -> frozenset[str]:
    """The names of the packs and loose objects: a listing of the object store, no git."""
    store = git_dir / "objects"
    found: set[str] = set()
    try:
        with os.scandir(store) as entries:
            for entry in entries:
                if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                    found.update(entry.name + name for name in os.listdir(entry.path))
        found.update(pack.name for pack in (store / "pack").glob("*.pack"))
    except FileNotFoundError:
        pass
    return frozenset(found)


def pointer_files(worktree: Path, admin: Path) -> tuple[Path, Path, Path]:
    """The files by which git in the linked worktree ``worktree`` finds its repository: its
    ``.git`` file and its admin folder's (``<git dir>/worktrees/<name>``) ``commondir`` and
    ``gitdir``. An agent that rewrote them could make git there follow a repository of its
    own, and have a jail bind a folder of the host: they are kept read-only to the agent's
    commands (the coding agent's fence, the sandbox's jail) and put back after it."""
    return worktree / ".git", admin / "commondir", admin / "gitdir"


def read_pointers(worktree: Path) -> dict[Path, bytes]:
    """The worktree's pointer files (:func:`pointer_files`) and what they hold."""
    dot_git = worktree / ".git"
    found = {dot_git: dot_git.read_bytes()}
    text = found[dot_git].decode("utf-8", "replace").strip()
    if text.startswith("gitdir:"):
        for path in pointer_files(worktree, Path(text[len("gitdir:") :].strip()))[1:]:
            if path.is_file():
                found[path] = path.read_bytes()
    return found


# -- objects -------------------------------------------------------------------------------------


def broken_objects(repo: Path) -> str | None:
    """None if every object the refs, the worktrees' HEADs and indexes need is there, else
    the first lines of ``git fsck``'s complaint. It walks the whole history: call it only
    when objects vanished (:func:`object_names` lost some)."""
    done = git_run(
        repo, "fsck", "--connectivity-only", "--no-dangling", "--no-reflogs", "--no-progress"
    )
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return "; ".join(lines[:3]) or f"git fsck exited with {done.returncode}"
