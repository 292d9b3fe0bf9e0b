"""A demo bounds the data home's ``demos/`` before it makes its own repository: a demo a night
left a repository a night (~330 KB each), forever. The repositories of demos whose runs ended
go once unused for 30 days, then the least recently used past 200 MB; a repository whose run
has not ended (resumable), one no run in the database names, and the demos' DNA copies stay
(tui.demo_upkeep)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from demo_process import cli

from engine.bus import EventBus
from engine.events import Outcome, RunFinished, RunStarted
from gates.cache_upkeep import DAY_S, CacheLimits
from storage.paths import sqlite_url
from storage.store import SqlEventStore
from tui.demo_upkeep import prune_demos, removed_line


def demo(demos: Path, name: str, days_ago: float, size: int = 1000) -> Path:
    """A demo's repository ``name`` last used ``days_ago``."""
    folder = demos / name
    (folder / ".git").mkdir(parents=True)
    (folder / "README.md").write_bytes(b"x" * size)
    then = time.time() - days_ago * DAY_S
    for path in (folder / ".git", folder):
        os.utime(path, (then, then))
    return folder


async def record(db: str, run_id: str, repo: Path, outcome: Outcome | None) -> None:
    """A run of ``repo`` in ``db``, ended with ``outcome`` (None: not ended)."""
    bus = EventBus(run_id)
    started = RunStarted(
        request="Build a small inventory library",
        repo=str(repo),
        base_branch="main",
        base_commit="0" * 40,
        integration_branch=f"shopfloor/wip/{run_id}",
        simulated=True,
    )
    ended = [RunFinished(outcome=outcome)] if outcome is not None else []
    async with await SqlEventStore.open(db) as store:
        await store.append([bus.emit(event) for event in [started, *ended]])


async def test_only_ended_demos_unused_for_long_are_removed(tmp_path: Path) -> None:
    demos, db = tmp_path / "demos", sqlite_url(tmp_path / "shopfloor.db")
    shipped = demo(demos, "inventory-20260101-010101-aaaa", days_ago=40)
    failed = demo(demos, "units-20260101-010101-bbbb", days_ago=31)
    stopped = demo(demos, "inventory-20260102-010101-cccc", days_ago=90)  # resumable
    unknown = demo(demos, "inventory-20260103-010101-dddd", days_ago=90)  # another database's
    recent = demo(demos, "audit-20261120-010101-eeee", days_ago=5)
    (demos / "dna").mkdir()
    (demos / "dna" / "inventory.toml").write_text("[decisions]\n", encoding="utf-8")
    os.utime(demos / "dna", (0, 0))
    await record(db, "r-shipped", shipped, Outcome.SHIPPED)
    await record(db, "r-failed", failed, Outcome.FAILED)
    await record(db, "r-stopped", stopped, None)
    await record(db, "r-recent", recent, Outcome.REPORTED)

    pruned = await prune_demos(demos, db)

    assert not shipped.exists() and not failed.exists()
    assert stopped.is_dir() and unknown.is_dir() and recent.is_dir()
    assert (demos / "dna" / "inventory.toml").is_file()
    assert pruned is not None and (pruned.removed.files, pruned.kept.files) == (2, 1)
    assert "removed 2 earlier demo repositories" in (removed_line(pruned) or "")


async def test_a_commit_in_an_old_demo_keeps_it(tmp_path: Path) -> None:
    demos, db = tmp_path / "demos", sqlite_url(tmp_path / "shopfloor.db")
    worked_on = demo(demos, "inventory-20260101-010101-aaaa", days_ago=40)
    os.utime(worked_on / ".git")  # a user's commit on the shipped branch, today
    await record(db, "r-shipped", worked_on, Outcome.SHIPPED)

    await prune_demos(demos, db)

    assert worked_on.is_dir()


async def test_past_the_size_cap_the_least_recently_used_ended_demo_goes(tmp_path: Path) -> None:
    demos, db = tmp_path / "demos", sqlite_url(tmp_path / "shopfloor.db")
    older = demo(demos, "inventory-20260101-010101-aaaa", days_ago=2, size=600_000)
    newer = demo(demos, "inventory-20260102-010101-bbbb", days_ago=1, size=600_000)
    for run_id, folder in (("r-older", older), ("r-newer", newer)):
        await record(db, run_id, folder, Outcome.SHIPPED)

    await prune_demos(demos, db, CacheLimits(max_mb=1.0))

    assert not older.exists() and newer.is_dir()


async def test_a_demo_removes_an_ended_demo_no_one_used_for_long(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    home = tmp_path / "home"
    share_gate_cache(home)
    old = demo(home / "demos", "inventory-20260101-010101-aaaa", days_ago=40)
    await record(sqlite_url(home / "shopfloor.db"), "r-old", old, Outcome.SHIPPED)

    done = cli(home, "demo", "--headless", "--speed", "1000")

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "removed 1 earlier demo repository" in done.stdout
    assert not old.exists()
    assert [p.name for p in (home / "demos").iterdir() if p.name.startswith("inventory-")]
