"""The user's repository as an agent found it: refs, config, hooks, objects.

An attempt's worktree shares the user's git directory, which stays writable to the agent: the
worktree's objects, its HEAD and index and its branch live there. With a shell an agent
reaches the rest of it too, and agents do: ``git tag``, ``git stash``, ``git update-ref`` or
``git branch -f`` on a branch of the user's, ``git push .``, ``git notes``, ``git remote
add``, a hook written into ``.git/hooks``, ``git gc --prune=now``. :func:`read_state`
records what matters before the agent starts; :func:`put_back_files` and
:func:`put_back_refs` restore what it changed, and say what; :func:`object_names` and
:func:`broken_objects` tell whether it deleted objects the repository still needs.

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
it has checked out are put back to where the checkout last put them (:func:`checkout_moves`),
never behind the user's commit. A branch or stash the user makes or moves meanwhile, anywhere,
is told apart by who logged it: every command an agent runs has the committer identity
:data:`AGENT_IDENT` (the cli provider's environment, the sandbox's), which git writes into
each reflog line, so a ref whose latest move was logged under another identity is the user's
and stays (:func:`users_moves`). What leaves no reflog line — a tag, a deleted branch — is
still put back, and an agent's porcelain git run in the user's checkout, or one that sets
its own identity, passes for the user's.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable
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
    return RepoState(refs, read_files(git_dir), object_names(git_dir), _log_size(git_dir))


def _log_size(git_dir: Path) -> int:
    try:
        return (git_dir / CHECKOUT_LOG).stat().st_size
    except OSError:
        return 0


def checkout_moves(
    git_dir: Path, before: RepoState, now: dict[str, str], names: Iterable[str]
) -> dict[str, str]:
    """Where the user's checkout put HEAD and the branches among ``names`` since ``before``:
    its own reflog says so. A ``checkout``/``switch`` there logs "checkout: moving from X to
    Y" (HEAD on Y, Y at that commit); a commit, reset or merge there writes the same line to
    the checkout's reflog and the branch's, while an agent's ``update-ref`` from its own
    worktree writes only the branch's. The latest of these wins; the rest is not the user's.
    """
    try:
        with (git_dir / CHECKOUT_LOG).open("rb") as log:
            log.seek(before.checkout_log)
            added = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    if _log_size(git_dir) < before.checkout_log:
        return {}  # the reflog expired and was rewritten: nothing to tell
    entries = [line for line in added if len(line.split()) > 2]
    latest: dict[str, tuple[int, str]] = {}
    for index, line in enumerate(entries):
        moved_to = line.split()[1]
        _, _, message = line.partition("\t")
        if message.startswith("checkout: moving from ") and " to " in message:
            target = message.rpartition(" to ")[2].strip()
            branch = f"refs/heads/{target}"
            if now.get("HEAD") == f"ref:{branch}":
                latest["HEAD"] = (index, f"ref:{branch}")
                latest[branch] = (index, moved_to)
            elif now.get("HEAD") == moved_to:
                latest["HEAD"] = (index, moved_to)  # a detached checkout
    shared = {line: index for index, line in enumerate(entries)}
    for name in names:
        if not name.startswith("refs/heads/") or not shared:
            continue
        try:
            lines = (git_dir / "logs" / name).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        for line in reversed(lines.splitlines()):
            if line in shared:
                if shared[line] >= latest.get(name, (-1, ""))[0]:
                    latest[name] = (shared[line], line.split()[1])
                break
    return {name: value for name, (_, value) in latest.items()}


def users_moves(git_dir: Path, now: dict[str, str], names: Iterable[str]) -> dict[str, str]:
    """The refs among ``names`` whose latest move was the user's: its reflog's last line
    brought the ref to where it is now, under an identity that is not :data:`AGENT_IDENT`'s.
    Branches and the stash have reflogs; tags and deleted refs have none, and are not here."""
    kept: dict[str, str] = {}
    for name in names:
        value = now.get(name)
        if value is None or _symbolic(value) or not name.startswith("refs/"):
            continue
        last = _last_line(git_dir / "logs" / name)
        fields = last.partition("\t")[0].split(" ", 2)
        if len(fields) == 3 and fields[1] == value and f"<{AGENT_EMAIL}>" not in fields[2]:
            kept[name] = value
    return kept


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - LOG_TAIL))
            tail = log.read()
    except OSError:
        return ""
    lines = tail.decode("utf-8", "replace").splitlines()
    return lines[-1] if lines else ""


def read_files(git_dir: Path) -> dict[str, FileState]:
    files: dict[str, FileState] = {}
    for rel in (*PROTECTED, STASH_LIST):
        _read_tree(git_dir, rel, files)
    return files


def _read_head(git_dir: Path) -> str | None:
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return "ref:" + text[4:].strip() if text.startswith("ref:") else text


def _read_tree(git_dir: Path, rel: str, into: dict[str, FileState]) -> None:
    if rel in GENERATED:
        return
    path = git_dir / rel
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            into[rel] = (info.st_mode, os.fsencode(os.readlink(path)))
        elif stat.S_ISDIR(info.st_mode):
            for child in sorted(os.listdir(path)):
                _read_tree(git_dir, f"{rel}/{child}", into)
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


def read_pointers(worktree: Path) -> dict[Path, bytes]:
    """The worktree's ``.git`` file and its admin folder's ``commondir`` and ``gitdir``: git in
    the worktree follows them to a repository, which the agent could make one of its own."""
    dot_git = worktree / ".git"
    found = {dot_git: dot_git.read_bytes()}
    text = found[dot_git].decode("utf-8", "replace").strip()
    if text.startswith("gitdir:"):
        admin = Path(text[len("gitdir:") :].strip())
        for name in ("commondir", "gitdir"):
            if (admin / name).is_file():
                found[admin / name] = (admin / name).read_bytes()
    return found


# -- putting back ------------------------------------------------------------------------------


def put_back_pointers(pointers: dict[Path, bytes], done: PutBack) -> None:
    """Point the worktree at its repository again: first of all, since every git call in
    the worktree reads these files before anything else."""
    for file, data in pointers.items():
        if file.parent.is_dir() and (not file.is_file() or file.read_bytes() != data):
            _remove(file)
            file.write_bytes(data)
            done.notes.append(f"put back {file}, which the agent changed")


def put_back_files(git_dir: Path, before: RepoState, done: PutBack) -> None:
    """Restore the protected files the agent changed; run before any git call that follows
    the agent's (its hooks and ``core.fsmonitor`` would run inside it)."""
    now = read_files(git_dir)
    changed = {
        rel: (before.files.get(rel), now.get(rel))
        for rel in sorted(before.files.keys() | now.keys())
        if rel != STASH_LIST and before.files.get(rel) != now.get(rel)
    }
    _write_files(git_dir, changed, done)


def put_back_refs(repo: Path, git_dir: Path, before: RepoState, done: PutBack) -> None:
    """Restore every ref the agent created, moved or deleted, outside :data:`FACTORY_REFS`,
    in one ``git update-ref --stdin`` transaction (one call per ref only when that fails, or
    for a symbolic ref), then the stash list. What the user moved meanwhile stays: a ref
    whose reflog says so (:func:`users_moves`), HEAD and its branch where the user's
    checkout last put them (:func:`checkout_moves`), not behind it."""
    now = read_state(repo, git_dir).refs
    moved = {n for n in before.refs.keys() | now.keys() if before.refs.get(n) != now.get(n)}
    users = users_moves(git_dir, now, moved)
    wanted = {**before.refs, **users, **checkout_moves(git_dir, before, now, moved)}
    changes = [
        (name, wanted.get(name), now.get(name))
        for name in sorted(wanted.keys() | now.keys())
        if wanted.get(name) != now.get(name) and not name.startswith(FACTORY_REFS)
    ]
    plain = [c for c in changes if not _symbolic(c[1]) and not _symbolic(c[2])]
    batch = "".join(_command(name, old, new) + "\n" for name, old, new in plain)
    if plain and git_run(repo, "update-ref", "--no-deref", "--stdin", stdin=batch).returncode:
        plain = [c for c in plain if _put_back_one(repo, *c) or _failed(repo, *c, done)]
    symbolic = [c for c in changes if _symbolic(c[1]) or _symbolic(c[2])]
    for name, old, new in [
        *plain,
        *(c for c in symbolic if _put_back_one(repo, *c) or _failed(repo, *c, done)),
    ]:
        done.refs[name] = (old, new)
        done.notes.append(_ref_note(name, old, new))
    stash: dict[str, FileState] = {}
    _read_tree(git_dir, STASH_LIST, stash)
    if before.files.get(STASH_LIST) != stash.get(STASH_LIST) and "refs/stash" not in users:
        _write_files(
            git_dir, {STASH_LIST: (before.files.get(STASH_LIST), stash.get(STASH_LIST))}, done
        )


def _symbolic(value: str | None) -> bool:
    return value is not None and value.startswith("ref:")


def _command(name: str, old: str | None, new: str | None) -> str:
    """The ``update-ref --stdin`` line that takes ``name`` from ``new`` back to ``old``."""
    if old is None:
        return f"delete {name} {new}"
    if new is None:
        return f"create {name} {old}"
    return f"update {name} {old} {new}"


def _put_back_one(repo: Path, name: str, old: str | None, new: str | None) -> bool:
    """Take ``name`` from ``new`` back to ``old`` on its own (``new`` checked unless symbolic)."""
    if old is not None and old.startswith("ref:"):
        args = ["symbolic-ref", name, old[4:]]
    elif old is None and _symbolic(new):
        args = ["symbolic-ref", "--delete", name]
    elif old is None:
        args = ["update-ref", "--no-deref", "-d", name, str(new)]
    else:
        args = ["update-ref", "--no-deref", name, old, *([] if _symbolic(new) else [new or ""])]
    return git_run(repo, *args).returncode == 0


def _failed(repo: Path, name: str, old: str | None, _new: str | None, done: PutBack) -> bool:
    """Say why ``name`` could not be put back: its object is gone, or it moved again."""
    if old is not None and not old.startswith("ref:"):
        if git_run(repo, "cat-file", "-e", old).returncode != 0:
            done.lost.append(f"{name} at {old[:10]}")
            return False
    done.notes.append(f"left {name} as it is: it changed again while the factory looked")
    return False


def _short(value: str) -> str:
    return value[4:] if value.startswith("ref:") else value[:10]


def _ref_note(name: str, old: str | None, new: str | None) -> str:
    if old is None:
        return f"deleted {name}, which the agent created"
    if new is None:
        return f"put back {name} at {_short(old)}, which the agent deleted"
    return f"put back {name} at {_short(old)} (the agent had moved it to {_short(new)})"


def _write_files(
    git_dir: Path, changed: dict[str, tuple[FileState | None, FileState | None]], done: PutBack
) -> None:
    """Make each path as it was: removals first (deepest first), then the rest."""
    for rel, (old, _new) in sorted(changed.items(), reverse=True):
        if old is None:
            _remove(git_dir / rel)
            done.notes.append(f"removed .git/{rel}, which the agent wrote")
    for rel, (old, new) in sorted(changed.items()):
        if old is None:
            continue
        path = git_dir / rel
        _remove(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        mode, data = old
        if stat.S_ISLNK(mode):
            os.symlink(os.fsdecode(data), path)
        else:
            path.write_bytes(data)
            path.chmod(stat.S_IMODE(mode))
        done.notes.append(
            f"put back .git/{rel}, which the agent {'deleted' if new is None else 'changed'}"
        )
    done.files.update(changed)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def forget(state: RepoState, done: PutBack) -> None:
    """Make another attempt's record forget what this attempt's agent did: where it still
    holds the agent's value (it started after the agent made the change), it gets the one
    put back, so putting its own back does not bring the agent's change back."""
    for name, (old, new) in done.refs.items():
        if state.refs.get(name) == new:
            state.refs.pop(name, None)
            if old is not None:
                state.refs[name] = old
    for rel, (old_file, new_file) in done.files.items():
        if state.files.get(rel) == new_file:
            state.files.pop(rel, None)
            if old_file is not None:
                state.files[rel] = old_file


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
