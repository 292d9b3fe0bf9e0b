"""What detect-secrets found in each file, kept by the file's name and bytes.

detect-secrets judges a file alone: what it finds there depends only on the file's path, its
bytes and the scan's settings (plugins, exclusions, the repository's ``.secrets.baseline``
filters, detect-secrets' version). So a whole-tree scan need only read the files it has not
seen with these bytes: a big repository's scan took 7 to 12 minutes (7,373 files, 75 MB, two
cores) at the baseline and as long again at verify and in every later run, though a run
changes a few files. A file's answer is stored under a hash of (settings, path, bytes) in
memory and, given a folder, as a small JSON file there, so a later run reuses it too. The
bytes are named by git's blob id and size (``engine.blob_ids``): a worktree's index gives
the id of every file as checked out without reading it, so a later check reads only the files
changed, untracked or ignored; the size keeps apart a blob that checks out as other bytes
(a line-ending or LFS filter).

The listing mirrors detect-secrets' own walk of ``.`` with ``--all-files`` (``os.walk``, no
symlinked folder entered), leaving out the folders the gate excludes anyway (tool caches,
virtualenvs, ``.git``), and symlinks: a link has no answer of its own to keep. detect-secrets
reads a link as the file it leads to and names what it finds there by that file's path; a
target inside the tree is listed (and kept) under its own name, and one outside is not read
at all (the gate reads only the workspace's files, and fails on a shipped link leading out:
``gates.escaping_links``). Listed, a link was scanned again at every check and added
nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISLNK
from typing import Any

from engine.blob_ids import blob_id, index_blob_ids
from engine.files import replace_file
from gates.cache_upkeep import read_entry

Answer = list[dict[str, Any]]
"""detect-secrets' results for one file (its entries of the ``results`` mapping)."""


@dataclass(frozen=True)
class Listed:
    """A file the whole-tree scan reads; ``digest``, its blob id, None when it cannot be kept
    (an unreadable file): it is scanned every time."""

    path: str
    digest: str | None
    size: int = 0
    """Its size in bytes (0 when unread): how long detect-secrets takes over it goes with them."""


def list_tree(workspace: Path, skipped: re.Pattern[str]) -> list[Listed]:
    """The files of ``workspace`` detect-secrets' ``--all-files`` walk reads, each with its
    blob id (git's index gives it for a file as checked out, unread; any other file is read
    and hashed); paths matching ``skipped`` (folders it excludes whole) and symlinks left out."""
    indexed = index_blob_ids(workspace)
    found: list[Listed] = []
    for root, dirs, files in os.walk(workspace):
        base = os.path.relpath(root, workspace)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        dirs[:] = sorted(d for d in dirs if not skipped.search(f"{prefix}{d}/"))
        for name in sorted(files):
            rel = prefix + name
            if skipped.search(rel):
                continue
            path = Path(root, name)
            digest, size = None, 0
            try:
                stat = path.lstat()
            except OSError:
                stat = None
            if stat is not None and S_ISLNK(stat.st_mode):
                continue
            with contextlib.suppress(OSError):
                if stat is not None:
                    digest = indexed.get(rel) or blob_id(path.read_bytes())
                    size = stat.st_size
            found.append(Listed(rel, digest, size))
    return found


class FileFindings:
    """detect-secrets' answer for each (settings, path, bytes) it has been asked about."""

    def __init__(self, directory: Path | None = None, *, max_entries: int = 200_000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self._memory: OrderedDict[str, Answer] = OrderedDict()
        if directory is not None:
            with contextlib.suppress(OSError):
                directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(settings: str, listed: Listed) -> str | None:
        """The entry's name; None for a file that is never kept."""
        if listed.digest is None:
            return None
        text = json.dumps([settings, listed.path, listed.digest, listed.size])
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> Answer | None:
        """The stored answer, if any."""
        answer = self._memory.get(key)
        if answer is not None or self.directory is None:
            return answer
        raw = read_entry(self.directory / f"{key}.json")  # a hit marks it used (cache_upkeep)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            return None
        self._remember(key, data)
        return data

    def known(self, keys: Mapping[str, str | None]) -> dict[str, Answer]:
        """The stored answer of each name in ``keys`` (name: its entry) that has one."""
        found = {name: self.get(key) for name, key in keys.items() if key is not None}
        return {name: answer for name, answer in found.items() if answer is not None}

    def put(self, key: str, answer: Answer) -> None:
        """Store ``answer`` (an entry that cannot be written is only a miss next time)."""
        self._remember(key, answer)
        if self.directory is not None:
            with contextlib.suppress(OSError):
                replace_file(self.directory / f"{key}.json", json.dumps(answer))

    def _remember(self, key: str, answer: Answer) -> None:
        self._memory[key] = answer
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)
