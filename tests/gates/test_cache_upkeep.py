"""The gate cache's folders stay bounded: entries unused for long and the least recently used
past the size cap are removed once a run, a hit keeps an entry, and a reader racing another
process's prune or write has a miss, never an error (gates.cache_upkeep)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.protocols import GateResult
from gates.cache import GateCache
from gates.cache_upkeep import DAY_S, MB, REFRESH_S, CacheLimits, cache_folders, prune
from gates.config import GatesConfig
from gates.profiles import SECRETS_MEMO
from gates.secrets_memo import FileFindings

FINDING = [{"type": "Secret Keyword", "line_number": 3}]


def verdict(name: str) -> GateResult:
    return GateResult(gate=name, passed=True, summary=f"{name} ok")


def age(path: Path, days: float) -> None:
    """Mark ``path`` last used ``days`` ago."""
    then = time.time() - days * DAY_S
    os.utime(path, (then, then))


def entry(folder: Path, key: str) -> Path:
    return folder / f"{key}.json"


def test_entries_unused_for_longer_than_the_age_limit_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "gate-cache"
    cache = GateCache(folder, limits=CacheLimits(max_age_days=30))
    memo = FileFindings(folder / SECRETS_MEMO)
    for key in ("old", "recent"):
        cache.put(key, verdict(key))
        memo.put(key, FINDING)
    age(entry(folder, "old"), 31)
    age(entry(folder / SECRETS_MEMO, "old"), 45)
    age(entry(folder, "recent"), 29)
    (folder / "notes.txt").write_text("not the cache's")

    pruned = cache.prune()

    assert pruned is not None and pruned.removed.files == 2 and pruned.kept.files == 2
    later_run, later_memo = GateCache(folder), FileFindings(folder / SECRETS_MEMO)
    assert later_run.get("old") is None and later_memo.get("old") is None
    assert later_run.get("recent") == verdict("recent")
    assert later_memo.get("recent") == FINDING
    assert (folder / "notes.txt").exists()


def test_a_hit_marks_the_entry_used_so_it_outlives_the_age_limit(tmp_path: Path) -> None:
    folder = tmp_path / "gate-cache"
    GateCache(folder).put("kept", verdict("kept"))
    FileFindings(folder / SECRETS_MEMO).put("kept", FINDING)
    age(entry(folder, "kept"), 40)
    age(entry(folder / SECRETS_MEMO, "kept"), 40)

    assert GateCache(folder).get("kept") == verdict("kept")  # a later run's hits
    assert FileFindings(folder / SECRETS_MEMO).get("kept") == FINDING
    pruned = GateCache(folder, limits=CacheLimits(max_age_days=30)).prune()

    assert pruned is not None and pruned.removed.files == 0
    assert GateCache(folder).get("kept") == verdict("kept")


def test_a_hit_on_an_entry_marked_lately_writes_nothing(tmp_path: Path) -> None:
    """The hot path: an entry hit again within REFRESH_S keeps its time (no metadata write)."""
    folder = tmp_path / "gate-cache"
    GateCache(folder).put("warm", verdict("warm"))
    lately = time.time() - REFRESH_S / 2
    os.utime(entry(folder, "warm"), (lately, lately))

    assert GateCache(folder).get("warm") == verdict("warm")
    assert entry(folder, "warm").stat().st_mtime == lately


def test_past_the_size_cap_the_least_recently_used_go_first(tmp_path: Path) -> None:
    folder = tmp_path / "gate-cache"
    cache = GateCache(folder)
    memo = FileFindings(folder / SECRETS_MEMO)
    keys = [f"k{i}" for i in range(6)]
    for days, key in enumerate(keys):  # k0 used last, k5 longest ago
        cache.put(key, verdict(key))
        age(entry(folder, key), days)
    memo.put("answer", FINDING)
    age(entry(folder / SECRETS_MEMO, "answer"), 2.5)  # between k2 and k3
    newest = [entry(folder, k) for k in keys[:3]] + [entry(folder / SECRETS_MEMO, "answer")]
    on_disk = sum(p.stat().st_blocks * 512 for p in newest)

    pruned = prune(cache_folders(folder), CacheLimits(max_mb=on_disk / MB))

    assert pruned.kept.files == 4 and pruned.kept.bytes == on_disk
    later_run = GateCache(folder)
    assert [k for k in keys if later_run.get(k) is not None] == keys[:3]
    assert FileFindings(folder / SECRETS_MEMO).get("answer") == FINDING


def test_a_cache_is_pruned_once_however_often_it_is_asked(tmp_path: Path) -> None:
    folder = tmp_path / "gate-cache"
    cache = GateCache(folder, limits=CacheLimits(max_age_days=1))
    cache.put("a", verdict("a"))
    age(entry(folder, "a"), 2)
    first = cache.prune()
    cache.put("b", verdict("b"))
    age(entry(folder, "b"), 2)

    assert first is not None and first.removed.files == 1
    assert cache.prune() is None
    assert entry(folder, "b").exists()
    assert GateCache().prune() is None  # no folder, nothing to prune


CHURN = """
import sys, time
from pathlib import Path
from engine.protocols import GateResult
from gates.cache import GateCache
from gates.cache_upkeep import DAY_S, CacheLimits, cache_folders, prune
from gates.secrets_memo import FileFindings
folder, keys, until = Path(sys.argv[1]), sys.argv[2].split(), time.time() + float(sys.argv[3])
writer, memo = GateCache(folder), FileFindings(folder / sys.argv[4])
while time.time() < until:
    for key in keys:
        writer.put(key, GateResult(gate=key, passed=True, summary=f"{key} ok"))
        memo.put(key, [{"type": "Secret Keyword", "line_number": 3}])
    # every entry too old for this pruner: it removes them all, again and again
    prune(cache_folders(folder), CacheLimits(), now=time.time() + 365 * DAY_S)
"""


def test_a_reader_racing_another_process_prune_and_writes_has_a_miss_not_an_error(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gate-cache"
    keys = [f"k{i}" for i in range(20)]
    reader = GateCache(folder)  # keeps nothing it reads: each get reads the file
    churns = [
        subprocess.Popen(
            [sys.executable, "-c", CHURN, str(folder), " ".join(keys), "2", SECRETS_MEMO],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    hits = misses = 0
    while any(churn.poll() is None for churn in churns):
        for key in keys:
            found = reader.get(key)
            answer = FileFindings(folder / SECRETS_MEMO).get(key)  # a new run's read
            assert found in (None, verdict(key))
            assert answer in (None, FINDING)
            hits += found is not None
            misses += found is None
    said = [churn.communicate()[1] for churn in churns]
    assert [churn.returncode for churn in churns] == [0, 0], said
    assert hits and misses  # the race went both ways


def test_a_garbled_entry_is_a_miss(tmp_path: Path) -> None:
    folder = tmp_path / "gate-cache"
    GateCache(folder).put("torn", verdict("torn"))
    FileFindings(folder / SECRETS_MEMO).put("torn", FINDING)
    for path in (entry(folder, "torn"), entry(folder / SECRETS_MEMO, "torn")):
        path.write_bytes(b'{"gate": "to\xff\xfe')  # cut short, not UTF-8
    assert GateCache(folder).get("torn") is None
    assert FileFindings(folder / SECRETS_MEMO).get("torn") is None


def test_a_crashed_writers_scratch_file_is_removed_a_live_ones_kept(tmp_path: Path) -> None:
    folder = tmp_path / "gate-cache"
    folder.mkdir()
    stale, live = folder / ".k.json.1.aa.tmp", folder / ".k.json.2.bb.tmp"
    stale.write_text("{")
    live.write_text("{")
    age(stale, 1)
    prune([folder], CacheLimits())
    assert not stale.exists() and live.exists()


def test_the_limits_are_read_from_the_gates_section_and_checked() -> None:
    limits = GatesConfig.from_mapping({"cache_max_age_days": 7, "cache_max_mb": 250}).cache_limits
    assert limits == CacheLimits(max_age_days=7.0, max_mb=250.0)
    assert GatesConfig.from_mapping({}).cache_limits == CacheLimits(30.0, 1000.0)
    with pytest.raises(ValueError, match="cache_max_mb must be a positive number, got 0"):
        GatesConfig.from_mapping({"cache_max_mb": 0})
