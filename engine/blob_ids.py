"""Git's blob id of each file of a worktree, from its index where it can say without reading.

A file's content is named by its blob id wherever a digest of it is kept: context selection's
per-file digests (``agents.file_digests``), the whole-tree secrets scan's per-file answers
(``gates.secrets_memo``). A worktree's index gives the id of every file it checked out as it
has it (``git ls-files -s`` less ``-m``), without reading one; a file changed since,
untracked, or outside git is read and hashed as git hashes a blob.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from engine.repo_guard import git_run

_FILE_MODES = frozenset({"100644", "100755"})


def blob_id(data: bytes) -> str:
    """The id git gives a file holding ``data``."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def index_blob_ids(root: Path) -> dict[str, str]:
    """``{path: blob id}`` of the files of the worktree ``root`` that are as git's index has
    them (none outside git): what a fresh worktree checked out, less what changed since."""
    if not (root / ".git").exists():
        return {}
    top = git_run(root, "rev-parse", "--show-toplevel")  # not a repository around it
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root.resolve():
        return {}
    staged = git_run(root, "ls-files", "-s", "-z")
    changed = git_run(root, "ls-files", "-m", "-d", "-z")
    if staged.returncode != 0 or changed.returncode != 0:
        return {}
    ids: dict[str, str] = {}
    for entry in staged.stdout.split("\0"):
        info, _, path = entry.partition("\t")
        fields = info.split(" ")
        # A plain file at stage 0 (not a conflict); a link's blob is its target's name, the
        # same in two folders where it names two files.
        if path and len(fields) == 3 and fields[0] in _FILE_MODES and fields[2] == "0":
            ids[path] = fields[1]
    for path in changed.stdout.split("\0"):
        ids.pop(path, None)
    return ids
