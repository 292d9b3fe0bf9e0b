"""Each repository's mypy seeds sit in a folder of their own under the data home's
``mypy-seeds``: a factory that works on many repositories (or a demo a night) made one more
each time, a few MB each, forever. Once a run, the other repositories' folders no seed of which
was used for ``[gates] cache_max_age_days`` are removed whole, then the least recently used
while they take more than ``cache_max_mb`` (gates.mypy_seed, gates.cache_upkeep)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gates.cache_upkeep import DAY_S, MB, CacheLimits, tree_size
from gates.mypy_seed import CURRENT, MypySeeds


def seeded(root: Path, repo: Path, size: int = 10, days_ago: float = 0.0) -> MypySeeds:
    """The seeds of ``repo`` under ``root``, with one published seed of ``size`` bytes, last
    used ``days_ago``."""
    repo.mkdir(parents=True, exist_ok=True)
    seeds = MypySeeds.for_repo(root, repo)
    cache = repo / ".cache"
    cache.mkdir(exist_ok=True)
    (cache / "3.11.data.json").write_bytes(b"x" * size)
    assert seeds.publish("key", cache, repo, time.time())
    then = time.time() - days_ago * DAY_S
    os.utime(seeds.root, (then, then))
    return seeds


def test_a_repository_whose_seeds_no_run_used_for_long_loses_them(tmp_path: Path) -> None:
    root = tmp_path / "mypy-seeds"
    gone = seeded(root, tmp_path / "gone", days_ago=31)
    recent = seeded(root, tmp_path / "recent", days_ago=29)
    this = seeded(root, tmp_path / "this", days_ago=90)  # the starting run's repository

    pruned = this.prune(CacheLimits(max_age_days=30))

    assert not gone.root.exists()
    assert recent.current("key") is not None and this.current("key") is not None
    assert (pruned.removed.files, pruned.kept.files) == (1, 1)
    assert time.time() - this.root.stat().st_mtime < 60  # marked used by its run


def test_past_the_size_cap_the_least_recently_used_repository_goes_first(
    tmp_path: Path,
) -> None:
    root = tmp_path / "mypy-seeds"
    older = seeded(root, tmp_path / "older", size=600_000, days_ago=2)
    newer = seeded(root, tmp_path / "newer", size=600_000, days_ago=1)
    this = seeded(root, tmp_path / "this", size=600_000, days_ago=3)

    pruned = this.prune(CacheLimits(max_mb=1.0))

    assert not older.root.exists() and newer.root.is_dir() and this.root.is_dir()
    assert pruned.removed.bytes >= 600_000 and pruned.kept.bytes <= MB


def test_copying_a_seed_marks_its_repository_used(tmp_path: Path) -> None:
    root = tmp_path / "mypy-seeds"
    other = seeded(root, tmp_path / "other", days_ago=40)
    assert other.prime("key", tmp_path / "run-cache", tmp_path / "other")

    MypySeeds.for_repo(root, tmp_path / "this").prune(CacheLimits(max_age_days=30))

    assert (other.root / "key" / CURRENT).is_file()


def test_the_size_counts_everything_a_folder_holds(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "big").write_bytes(b"x" * 100_000)
    assert 100_000 <= tree_size(tmp_path / "a") < 100_000 + 5 * 8192
    assert tree_size(tmp_path / "missing") == 0
