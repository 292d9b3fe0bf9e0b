"""Putting the user's repository back as the agent found it, and telling the user's moves from
the agent's.

After an attempt, :mod:`engine.repo_guard`'s record of the repository (taken before the agent
started) is compared with what is there now: the worktree's pointers, the protected files and
every ref the agent created, moved or deleted are put back, and each is said in a note. What
the user did meanwhile in their own checkout, or under their own identity, is told apart by
the reflogs (:func:`checkout_moves`, :func:`users_moves`) and stays.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from engine.repo_guard import (
    AGENT_EMAIL,
    CHECKOUT_LOG,
    FACTORY_REFS,
    LOG_TAIL,
    STASH_LIST,
    FileState,
    PutBack,
    RepoState,
    git_run,
    log_size,
    read_files,
    read_state,
    read_tree,
)

# -- whose move ----------------------------------------------------------------------------------


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
    if log_size(git_dir) < before.checkout_log:
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


# -- putting back --------------------------------------------------------------------------------


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
    read_tree(git_dir, STASH_LIST, stash)
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
