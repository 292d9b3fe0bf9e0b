"""Files of a worktree read and written so that no symlink leads the I/O out of it.

Checking a path (resolve it, see that it stays in the worktree) and then opening it by name
leaves a gap: an agent's command, running in the sandbox beside the check or between two tool
calls, can swap the file or a folder on the way for a symlink to ``~/.aws/credentials`` or
the ``../.env`` beside the checkout, and the open follows it. Here nothing is opened by its
path: the worktree is opened as a folder, and each part of the path is opened from the
folder before it (``dir_fd``) with ``O_NOFOLLOW``, so the kernel itself refuses to follow a
link. A link met on the way is read (``readlink``) and its target walked the same way, part
by part from the folder it lies in, as ``openat2``'s ``RESOLVE_BENEATH`` walks it (the
stdlib has no ``openat2``; libpathrs' binding needs a system library): an absolute target,
or a ``..`` above the worktree, is refused (an absolute one naming a file inside the
worktree is walked from its top). A link inside the worktree still works, and a
link swapped in at any moment either is walked this way or makes the open fail; the I/O
lands on a file inside the worktree or nowhere.

The ``.git`` at the worktree's top is refused by its real name, whatever link leads there
(a write into ``.git/hooks`` would run on the next commit). A file is read or written only
when it is a regular file (``O_NONBLOCK``: a FIFO swapped in cannot hang the open).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

MAX_LINKS = 40
"""Links followed in one walk, as the kernel's own limit (``ELOOP``)."""
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_LEAF = os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_IS_LINK = (errno.ELOOP, errno.EMLINK)  # EMLINK: FreeBSD's answer to O_NOFOLLOW on a link


class LeavesRoot(ValueError):
    """A path whose walk leads out of the folder (or into its ``.git``); one line."""


def _not_a_link(name: str, parent: int) -> str | None:
    """The target of the link ``name`` in the folder ``parent``, None when it is no link."""
    try:
        return os.readlink(name, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):  # no link (any more), or gone
            return None
        raise


def _below(top: PurePosixPath, target: str) -> tuple[str, ...] | None:
    """The parts of the absolute link ``target`` below the folder ``top`` (its real path),
    None when it lies elsewhere (one with ``..`` in it too: refused, not worked out)."""
    path = PurePosixPath(target)
    if ".." in path.parts or not path.is_relative_to(top):
        return None
    return path.relative_to(top).parts


def open_beneath(
    root: Path, parts: Sequence[str], flags: int, *, shown: str, make_dirs: bool = False
) -> tuple[int, str]:
    """Open the file at ``parts`` (a relative path's parts) inside the folder ``root``,
    with ``flags`` (``O_NOFOLLOW``, ``O_NONBLOCK`` and ``O_CLOEXEC`` added), following no
    link out of it; returns the descriptor and the file's real path inside ``root`` (POSIX).
    ``make_dirs``: missing folders on the way are made. :class:`LeavesRoot`, naming
    ``shown``, for a walk leading out; ``OSError`` as ``os.open`` raises it otherwise."""
    pending = [part for part in reversed(parts) if part not in ("", ".")]
    if not pending:
        raise IsADirectoryError(errno.EISDIR, "the repository's top folder is no file", shown)
    top = PurePosixPath(os.path.realpath(root))
    folders = [os.open(top, _DIRECTORY)]
    names: list[str] = []
    links = 0
    try:
        while pending:
            name = pending.pop()  # never "" or ".": filtered above; no PurePosixPath part is
            if name == "..":
                if not names:
                    raise LeavesRoot(f"{shown} resolves outside the repository (symlink)")
                os.close(folders.pop())
                names.pop()
                continue
            if not names and name == ".git":
                raise LeavesRoot(f"the .git directory is off limits: {shown}")
            last = not pending
            try:
                if last:
                    fd = os.open(name, flags | _LEAF, 0o666, dir_fd=folders[-1])
                else:
                    fd = os.open(name, _DIRECTORY, dir_fd=folders[-1])
            except FileNotFoundError:
                if last or not make_dirs:
                    raise
                try:
                    os.mkdir(name, dir_fd=folders[-1])
                except FileExistsError:  # made meanwhile (or a link put there): walk again
                    pass
                pending.append(name)
                links += 1  # each retry counts, so a folder swapped back and forth ends
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many changes on the way", shown) from None
                continue
            except OSError as exc:
                if exc.errno not in (*_IS_LINK, errno.ENOTDIR):
                    raise
                target = _not_a_link(name, folders[-1])
                if target is None:
                    raise
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", shown) from None
                if target.startswith("/"):  # walked again from the top, if it lies below
                    below = _below(top, target)
                    if below is None:
                        raise LeavesRoot(
                            f"{shown} resolves outside the repository (symlink)"
                        ) from None
                    while len(folders) > 1:
                        os.close(folders.pop())
                    names.clear()
                    pending.extend(reversed(below))
                    continue
                pending.extend(reversed(PurePosixPath(target).parts))
                continue
            if last:
                return fd, "/".join([*names, name])
            folders.append(fd)
            names.append(name)
        raise IsADirectoryError(errno.EISDIR, "the repository's top folder is no file", shown)
    finally:
        for folder in folders:
            os.close(folder)


def _regular(fd: int, shown: str) -> None:
    """``FileNotFoundError`` unless ``fd`` is a regular file (a folder, a FIFO, a socket)."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileNotFoundError(errno.ENOENT, "not a regular file", shown)


def read_beneath(root: Path, parts: Sequence[str], *, shown: str) -> tuple[bytes, str]:
    """The bytes of the regular file at ``parts`` inside ``root`` and its real path there
    (:func:`open_beneath`); ``FileNotFoundError`` when there is none."""
    fd, real = open_beneath(root, parts, os.O_RDONLY, shown=shown)
    _regular(fd, shown)
    with os.fdopen(fd, "rb") as file:
        return file.read(), real


def write_beneath(root: Path, parts: Sequence[str], data: bytes, *, shown: str) -> str:
    """Write ``data`` as the whole of the file at ``parts`` inside ``root`` (made, with its
    folders, when missing; a file only, never through a link leading out); its real path."""
    fd, real = open_beneath(root, parts, os.O_WRONLY | os.O_CREAT, shown=shown, make_dirs=True)
    _regular(fd, shown)
    with os.fdopen(fd, "wb") as file:
        file.truncate(0)
        file.write(data)
    return real


def relative_parts(raw: str) -> tuple[str, ...]:
    """The parts of the relative path ``raw`` (``\\`` read as ``/``)."""
    return PurePosixPath(raw.replace("\\", "/")).parts


def parts_below(root: Path, path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The parts of ``path`` relative to ``root``: a relative path's own, an absolute one's
    below ``root`` (as given or its real path, by the text); :class:`LeavesRoot` when an
    absolute one lies elsewhere. ``..`` parts are kept: the walk refuses them above the top."""
    given = Path(path)
    if not given.is_absolute():
        return given.parts
    for top in (Path(os.path.abspath(root)), Path(os.path.realpath(root))):
        if given.is_relative_to(top):
            return given.relative_to(top).parts
    raise LeavesRoot(f"{path} lies outside the repository")


def read_text_beneath(root: Path, path: str | os.PathLike[str], *, errors: str = "strict") -> str:
    """The UTF-8 text of the regular file ``path`` (relative to ``root``, or absolute below
    it) inside the worktree ``root``, no link followed out of it: how the factory reads a
    worktree's file (a config, a manifest) where an agent may have put a link to the host's
    files. :class:`LeavesRoot` (a ``ValueError``, one line) for a walk leading out;
    ``FileNotFoundError`` when there is no such regular file; ``UnicodeDecodeError`` when
    ``errors`` is strict and the bytes are no UTF-8."""
    parts = parts_below(root, path)
    shown = "/".join(parts) or "."
    data, _ = read_beneath(root, parts, shown=shown)
    return data.decode("utf-8", errors)


def linked_out(folder: str) -> str:
    """The one line a gate says of a project folder :func:`folder_beneath` refused."""
    return f"{folder}: not run, it leads outside the repository (a symlink)"


def folder_beneath(root: Path, rel: str) -> bool:
    """Whether the folder ``rel`` of ``root`` is a folder inside it, walked part by part: a
    project or package folder an agent swapped for a link to a folder of the host is not
    (a command run there would have the jail bind that folder, writable, as its own)."""
    parts = [part for part in relative_parts(rel) if part not in ("", ".")]
    if not parts:
        return root.is_dir()
    try:
        fd, _ = open_beneath(root, parts, os.O_RDONLY | os.O_DIRECTORY, shown=rel)
    except (OSError, LeavesRoot):
        return False
    os.close(fd)
    return True
