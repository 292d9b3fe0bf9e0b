"""Symlinks an attempt's commit would hold that lead out of the repository: not committed.

git keeps a link as the path it points at. One pointing at ``/home/me/.aws/credentials``, or
climbing above the root (``../../.env``), names a file of whatever machine the branch is
checked out on, and whoever runs or serves the code reads that file through it. The secrets
gate fails such a link among the files a branch ships (``gates.escaping_links``); this is
the same rule at the one place every attempt's files enter a commit, judged on what git
staged (the link's text in the index), so it holds however the link got there: a task's
named file the ``.gitignore`` matches staged with ``--force``, a folder gates skip
(``node_modules/``, ``.venv/``), or a link swapped in after the paths were checked.

Only the links the attempt adds or retargets are judged; one the repository already had is
the user's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from engine.factory_git import FactoryRepo

LINK_MODE = "120000"
SHOWN = 10


class LinkLeadsOut(ValueError):
    """The attempt would commit links leading out; its message is one line for the retry."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        shown = ", ".join(self.paths[:SHOWN]) + (", ..." if len(self.paths) > SHOWN else "")
        super().__init__(
            f"not committed: the attempt's symlinks lead outside the repository: {shown}. "
            "Whoever checks the branch out would read that file of their own machine "
            "through them; commit the file itself or delete the link"
        )


def climbs_out(path: str, target: str) -> bool:
    """Whether the link at ``path`` (relative to the root, POSIX) pointing at ``target``
    leads out: an absolute target, or one whose ``..`` climb above the root (read as the
    text says, which is how it reads on any machine the branch goes to)."""
    if target.startswith("/") or not target:
        return True
    depth = len(PurePosixPath(path).parts) - 1  # the folder the link lies in
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part != ".":
            depth += 1
    return False


def staged_links_out(wt: FactoryRepo) -> list[str]:
    """The links staged in ``wt``'s index, added or changed against ``HEAD``, that lead out
    of the repository (:func:`climbs_out`)."""
    raw = wt.git.diff("--cached", "--raw", "-z", "--no-abbrev", "--no-renames", "--diff-filter=AMT")
    fields = raw.split("\0")
    found: list[str] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.split()  # ":100644 120000 <old> <new> T"
        if len(parts) != 5 or parts[1] != LINK_MODE:
            continue
        target = wt.git.cat_file("blob", parts[3], strip_newline_in_stdout=False)
        if climbs_out(path, target):
            found.append(path)
            if len(found) > SHOWN:
                break
    return found
