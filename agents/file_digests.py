"""What context selection learns from one file, worked out once per content, not per attempt.

Every engineer attempt selects its context in a fresh worktree (:mod:`agents.context`): a
repo map that parses every Python file with ``ast``, and a BM25 ranking that reads and
tokenizes every file. On a repository of 7,800 files (sqlalchemy with django's sdist beside
it) that took 30-35 s at each attempt, and 10 s more for recon's map, while nearly every file
was the one the previous attempt had read. A file's digest (its symbols, its words) depends
on its content alone, so it is kept by git's blob id (:mod:`engine.blob_ids`): a worktree's
index gives the id of every file it checked out without reading one; a file changed since,
untracked, or outside git is read and hashed as git hashes a blob. A symlink is never read
through (git's index holds no id for one): its target inside is a file of its own, and one
outside (``~/.aws/credentials``) is the machine's, whose symbols went into recon's map.

Beside the digests, by the same blob id: how long a file's block in a prompt is, measured when
a selection read the file (:meth:`FileDigests.shown_size`); a later selection then knows
whether the file fits what is left of its budget without reading and masking it again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.blob_ids import blob_id, index_blob_ids

DIGEST_LIMIT = 200_000
"""Digests kept at most (the oldest go first): a few times the files of a big repository."""


@dataclass(frozen=True)
class FileDigest:
    """One file's content as context selection uses it."""

    symbols: tuple[str, ...]
    """Its top-level classes and functions (Python files only)."""
    terms: Counter[str]
    """Its words, counted (:func:`agents.context.tokenize`)."""


def _read_plain(path: Path) -> bytes:
    """The bytes of ``path``; OSError for a symlink (its target is not read)."""
    if path.is_symlink():
        raise OSError(f"{path} is a symlink")
    return path.read_bytes()


class FileDigests:
    """Digests by blob id, shared by every attempt (and recon) of the process.

    ``compute`` makes a digest of a file's text (None: unreadable) and whether it is Python;
    :attr:`computed` counts the digests made, not found."""

    def __init__(
        self,
        compute: Callable[[str | None, bool], FileDigest],
        limit: int = DIGEST_LIMIT,
    ) -> None:
        self._compute = compute
        self._limit = limit
        self._by_key: dict[tuple[str, bool], FileDigest] = {}
        self._shown: dict[str, int] = {}
        self._lock = threading.Lock()
        self.computed = 0

    def of(
        self, root: Path, files: Sequence[str], blob_ids: Mapping[str, str] | None = None
    ) -> list[FileDigest]:
        """The digest of each of ``files`` in the worktree ``root``, in order. ``blob_ids``:
        :func:`index_blob_ids` of ``root`` read by the caller for several lookups on one state
        of the worktree (three git commands each time), else read here."""
        known = index_blob_ids(root) if blob_ids is None else blob_ids
        return [self._digest(root, rel, known.get(rel)) for rel in files]

    def _digest(self, root: Path, rel: str, blob: str | None) -> FileDigest:
        python = rel.endswith(".py")
        data: bytes | None = None
        if blob is None:
            try:
                data = _read_plain(root / rel)
            except OSError:
                return self._compute(None, python)
            blob = blob_id(data)
        key = (blob, python)
        found = self._by_key.get(key)
        if found is not None:
            return found
        if data is None:
            try:
                data = _read_plain(root / rel)
            except OSError:
                return self._compute(None, python)
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        digest = self._compute(text, python)
        with self._lock:
            self.computed += 1
            self._by_key[key] = digest
            while len(self._by_key) > self._limit:
                del self._by_key[next(iter(self._by_key))]
        return digest

    def shown_size(self, blob: str) -> int | None:
        """The size that :meth:`remember_shown_size` was told for the content ``blob``."""
        return self._shown.get(blob)

    def remember_shown_size(self, blob: str, size: int) -> None:
        """Keep ``size`` (what the caller measures of the content ``blob``: context selection,
        its block in a prompt less the file's path) for :meth:`shown_size`."""
        with self._lock:
            self._shown[blob] = size
            while len(self._shown) > self._limit:
                del self._shown[next(iter(self._shown))]
