"""The tree of a workspace's base revision, read once for the gates that ask together.

The gate cache keys a gate that judges a revision (the shrinkage gate, the secrets and
security scans of a task's changes) on the tree of the revision it compares with
(``cache_context``, see gates.cache). Those gates run side by side (``engine.gate_runner``),
so each batch of a task's gates asked ``git rev-parse HEAD~1^{tree}`` three times at the same
moment. Readings of one revision in one workspace that overlap share the first: the same
rule as the cache's own reading of the workspace's tree (``GateCache.tree``). A finished
reading is not kept, so a later question reads the revision again.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from engine.repo_guard import git_run

_Key = tuple[asyncio.AbstractEventLoop, Path, str]
_reading: dict[_Key, asyncio.Future[str | None]] = {}

NO_BASE = "<no base>"
"""What stands for the tree of a revision that does not exist (HEAD is a root commit)."""


def read_revision_tree(workspace: Path, revision: str) -> str | None:
    """The tree id of ``revision`` in ``workspace``, :data:`NO_BASE` when there is no such
    revision, None when git cannot say."""
    done = git_run(workspace, "rev-parse", "--verify", "--quiet", f"{revision}^{{tree}}")
    if done.returncode not in (0, 1):
        return None
    return done.stdout.strip() if done.returncode == 0 else NO_BASE


async def revision_tree(workspace: Path, revision: str) -> str | None:
    """:func:`read_revision_tree`, shared with the readings of the same revision in the same
    workspace still under way."""
    key = (asyncio.get_running_loop(), workspace, revision)
    pending = _reading.get(key)
    if pending is None:
        pending = asyncio.ensure_future(asyncio.to_thread(read_revision_tree, workspace, revision))
        _reading[key] = pending
        pending.add_done_callback(functools.partial(_read, key))
    return await asyncio.shield(pending)


def _read(key: _Key, done: asyncio.Future[str | None]) -> None:
    if _reading.get(key) is done:
        del _reading[key]
