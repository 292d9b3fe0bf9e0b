"""Lending a worktree the Node packages the user installed in the checkout.

A package's scripts and the commands run in a worktree (vitest, eslint, tsc) need the
package's ``node_modules``, which npm fills in the user's checkout and git ignores: a
worktree, a checkout of a commit, has none. :func:`borrowed_node_modules` gives it a folder of
links to the installed packages for the time of a command. The Node gates
(``gates.command_gate``) and the agents' commands borrow them the same way
(:func:`lent_node_modules`: every package of a worktree at once). A borrowed folder ignores
itself (a ``.gitignore`` of ``*``, as a virtualenv's): in a repository that does not ignore
``node_modules``, an agent's ``git status`` or ``git add -A`` does not see it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.beneath import folder_beneath

NODE_MODULES = "node_modules"
LINKED_DOT_ENTRIES = frozenset({".bin"})
"""The only hidden entries of ``node_modules`` a borrowed one links: the installed tools'
commands. The others are npm's bookkeeping or tools' caches (``.vite``, ``.cache``), which
the worktree's commands write in a folder of their own."""
IGNORE_ALL = "*\n"
"""The ``.gitignore`` of a borrowed folder: git sees none of it."""


@contextlib.contextmanager
def borrowed_node_modules(package: Path, installed: Path | None) -> Iterator[bool]:
    """Give the package folder ``package`` (in a worktree) the dependencies ``installed``
    holds, for the time of the block; yields whether it did.

    Nothing is done where the package has a ``node_modules`` of its own, or there is none
    installed to borrow (``installed`` missing, or the same folder). The borrowed folder
    holds a link to each installed package and to ``.bin``, and is removed afterwards, with
    whatever the commands wrote into it; the installed packages are never written.
    """
    target = package / NODE_MODULES
    if (
        installed is None
        or not installed.is_dir()
        or os.path.lexists(target)
        or target.resolve() == installed.resolve()
    ):
        yield False
        return
    target.mkdir()
    try:
        (target / ".gitignore").write_text(IGNORE_ALL, encoding="utf-8")
        for entry in os.scandir(installed):
            if not entry.name.startswith(".") or entry.name in LINKED_DOT_ENTRIES:
                (target / entry.name).symlink_to(Path(entry.path).absolute())
        yield True
    finally:
        shutil.rmtree(target, ignore_errors=True)  # the links, never what they point at


@contextlib.contextmanager
def lent_node_modules(
    worktree: Path, checkout: Path | None, packages: Sequence[str]
) -> Iterator[list[str]]:
    """Each Node package folder of ``worktree`` in ``packages`` (``"."``, ``"web"``) given the
    dependencies installed for it in ``checkout`` (:func:`borrowed_node_modules`) for the
    time of the block; yields the folders that borrowed. Nothing is lent without a checkout.
    """
    with contextlib.ExitStack() as stack:
        lent = [
            folder
            for folder in packages
            if checkout is not None
            and folder_beneath(worktree, folder)  # not a link to a folder of the host
            and stack.enter_context(
                borrowed_node_modules(worktree / folder, checkout / folder / NODE_MODULES)
            )
        ]
        yield lent
