"""The types gate starts from a warm mypy cache (``gates.mypy_seed``) and its verdicts stay
those of a cold run.

Each attempt's worktree is new, so mypy ran cold in every one (13.5 s on shopfloor's own
repository, 1.4 s warm). Now the merge step's runs publish their cache as a seed and every
run copies the newest seed into a cache folder of its own. These tests hold the verdicts to
a cold run's where a seed could mislead mypy (an edit of the same size and mtime, a changed
interface under an unchanged module), check that the seed is copied and never written, and
that the worktree's own ``.mypy_cache`` (an engineer's) is not read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_repo_shapes import GIT_ENV

from engine.protocols import GateResult
from gates.cache import GateCache
from gates.config import GatesConfig
from gates.mypy_gate import MypyGate
from gates.mypy_seed import MypySeeds
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox

CONFIG = "[tool.mypy]\nstrict = true\n"
CLEAN = {"pyproject.toml": CONFIG, "app.py": "def f() -> int:\n    return 1\n"}
SAME_SIZE_ERROR = "def f() -> str:\n    return 1\n"  # "int" -> "str": same size


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def same_size_edit(path: Path, text: str) -> None:
    """``path`` rewritten to ``text`` (of its size), its modification time put back."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def located(result: GateResult) -> list[tuple[str | None, int | None, str]]:
    return [(f.file, f.line, f.message) for f in result.findings]


async def cold(sandbox: ProcessSandbox, folder: Path) -> GateResult:
    copy = folder.parent / f"{folder.name}-cold"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".mypy_cache", ".shopfloor"))
    return await MypyGate(sandbox, timeout_s=120).check(copy)


def engineers_mypy(worktree: Path) -> None:
    """mypy as an engineer runs it in the worktree (its cache in ``.mypy_cache``)."""
    subprocess.run(
        [sys.executable, "-m", "mypy", "."], cwd=worktree, check=True, capture_output=True
    )


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def test_an_edit_of_the_same_size_and_mtime_is_checked_in_a_seeded_run(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    seeds = MypySeeds(tmp_path / "seeds")
    merge = write(tmp_path / "merge-t1", CLEAN)
    publisher = MypyGate(process_sandbox, timeout_s=120, seeds=seeds).publisher()
    assert (await publisher.check(merge)).passed
    assert seeds.published == 1

    attempt = tmp_path / "t2-a1"
    shutil.copytree(merge, attempt)  # copy2: the same mtimes
    same_size_edit(attempt / "app.py", SAME_SIZE_ERROR)
    gate = MypyGate(process_sandbox, timeout_s=120, seeds=seeds)
    seeded = await gate.check(attempt)
    assert seeds.primed == 1 and seeds.published == 1  # an attempt's run never publishes
    assert not seeded.passed
    assert located(seeded) == located(await cold(process_sandbox, attempt))


async def test_a_changed_interface_is_rechecked_where_it_is_used(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    seeds = MypySeeds(tmp_path / "seeds")
    files = {
        "pyproject.toml": CONFIG,
        "lib.py": "def size() -> int:\n    return 1\n",
        "app.py": "from lib import size\n\nTOTAL: int = size() + 1\n",
    }
    merge = write(tmp_path / "merge-t1", files)
    assert (await MypyGate(process_sandbox, seeds=seeds).publisher().check(merge)).passed
    attempt = tmp_path / "t2-a1"
    shutil.copytree(merge, attempt)
    (attempt / "lib.py").write_text("def size() -> str:\n    return 'one'\n", encoding="utf-8")
    seeded = await MypyGate(process_sandbox, timeout_s=120, seeds=seeds).check(attempt)
    assert seeds.primed == 1
    assert [(f.file, f.line) for f in seeded.findings] == [("app.py", 3)], seeded.summary
    assert located(seeded) == located(await cold(process_sandbox, attempt))


async def test_the_seed_is_copied_and_never_written(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    seeds = MypySeeds(tmp_path / "seeds")
    merge = write(tmp_path / "merge-t1", CLEAN)
    await MypyGate(process_sandbox, seeds=seeds).publisher().check(merge)
    seed = seeds.current(MypyGate(process_sandbox)._seed_key("."))
    assert seed is not None
    before = tree_digest(seed)
    assert any(name.endswith(".db") or name.endswith(".json") for name in before)

    attempt = write(tmp_path / "t2-a1", {**CLEAN, "app.py": "def f() -> int:\n    return 2 + 3\n"})
    result = await MypyGate(process_sandbox, seeds=seeds).check(attempt)
    assert result.passed and seeds.primed == 1
    assert tree_digest(seed) == before  # mypy brought its own copy up to date, not the seed
    assert all(p.stat().st_nlink == 1 for p in seed.rglob("*") if p.is_file())
    assert not (attempt / ".shopfloor").exists()  # the run's cache folder is gone


async def test_an_engineers_mypy_cache_in_the_worktree_is_not_read(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """mypy run by the engineer leaves ``.mypy_cache`` in the worktree; a same-size edit with
    its mtime put back then passed the types gate, which read that cache."""
    worktree = write(tmp_path / "t1-a1", CLEAN)
    engineers_mypy(worktree)
    assert (worktree / ".mypy_cache").is_dir()
    same_size_edit(worktree / "app.py", SAME_SIZE_ERROR)
    result = await MypyGate(process_sandbox, timeout_s=120).check(worktree)
    assert not result.passed, "the engineer's cache hid the error"
    assert located(result) == located(await cold(process_sandbox, worktree))


def test_files_no_newer_than_the_seed_are_touched_before_a_seeded_run(tmp_path: Path) -> None:
    """A file whose mtime is not newer than the seed's newest could match an entry by size
    and mtime alone: it gets the current time, so mypy hashes it; newer ones are left."""
    seeds = MypySeeds(tmp_path / "seeds")
    source = write(tmp_path / "merge-t1", {"app.py": "x = 1\n"})
    os.utime(source / "app.py", (1_700_000_000, 1_700_000_000))
    cache = write(tmp_path / "made", {"3.11/cache.db": "entries"})
    assert seeds.publish("k", cache, source, started=1_700_000_000.5)
    attempt = write(tmp_path / "t2-a1", {"app.py": "x = 2\n", "new.py": "y = 1\n"})
    os.utime(attempt / "app.py", (1_700_000_000, 1_700_000_000))  # the same second
    os.utime(attempt / "new.py", (1_700_000_001, 1_700_000_001))
    assert seeds.prime("k", tmp_path / "into", attempt)
    assert (tmp_path / "into" / "3.11" / "cache.db").read_text() == "entries"
    assert int((attempt / "app.py").stat().st_mtime) > 1_700_000_000
    assert (attempt / "new.py").stat().st_mtime == 1_700_000_001


def test_older_seeds_are_removed_and_the_one_before_is_kept(tmp_path: Path) -> None:
    seeds = MypySeeds(tmp_path / "seeds")
    for text in ("one", "two", "three"):
        made = write(tmp_path / f"made-{text}", {"cache.db": text})
        assert seeds.publish("k", made, tmp_path / "merge", started=1.0)
    kept = [p for p in (tmp_path / "seeds" / "k").iterdir() if p.is_dir()]
    assert sorted((p / "cache" / "cache.db").read_text() for p in kept) == ["three", "two"]
    assert seeds.prime("k", tmp_path / "into", tmp_path / "attempt")
    assert (tmp_path / "into" / "cache.db").read_text() == "three"


async def test_only_the_merge_steps_types_gate_publishes(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    repo = write(tmp_path / "repo", CLEAN)
    seeds = MypySeeds(tmp_path / "seeds")
    gate_set = build_gates(repo, GatesConfig(), process_sandbox, mypy_seeds=seeds)
    (task,) = [g for g in gate_set.task if g.name == "types"]
    (merge,) = [g for g in gate_set.merge if g.name == "types"]
    attempt = write(tmp_path / "t1-a1", CLEAN)
    assert (await task.check(attempt)).passed
    assert seeds.published == 0
    candidate = write(tmp_path / "merge-t1", CLEAN)
    assert (await merge.check(candidate)).passed
    assert seeds.published == 1
    again = write(tmp_path / "t2-a1", CLEAN)
    assert (await task.check(again)).passed
    assert seeds.primed == 1


def committed(root: Path, files: dict[str, str]) -> Path:
    """``files`` in a new git repository, committed (the gate cache keys a git tree)."""
    write(root, files)
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "task"]):
        subprocess.run(["git", *argv], cwd=root, env=GIT_ENV, check=True)
    return root


@pytest.mark.parametrize("start", ["greenfield", "with code"])
async def test_the_first_merge_seeds_even_when_its_verdict_is_cached(
    tmp_path: Path, process_sandbox: ProcessSandbox, start: str
) -> None:
    """A task merged onto a branch that did not move since its worktree was cut holds the
    attempt's tree: the merge's types verdict comes from the cache, and no seed was ever
    published — every attempt of a run whose tasks merge one after another ran mypy cold. A
    new repository had no seeds at all: its types gate, chosen on each tree, took none."""
    files = {"README.md": "# shop\n"} if start == "greenfield" else CLEAN
    repo = committed(tmp_path / "repo", files)
    seeds = MypySeeds(tmp_path / "seeds")
    cache = GateCache()
    gate_set = build_gates(repo, GatesConfig(), process_sandbox, mypy_seeds=seeds, cache=cache)
    (task,) = [g for g in gate_set.task if g.name == "types"]
    (merge,) = [g for g in gate_set.merge if g.name == "types"]
    assert (await task.check(committed(tmp_path / "t1-a1", CLEAN))).passed
    assert seeds.published == 0  # an attempt's worktree never publishes
    candidate = await merge.check(committed(tmp_path / "merge-t1", CLEAN))
    assert candidate.passed
    assert seeds.published == 1, "the first merge candidate left no seed"
    # With a seed there, a cached verdict is enough again.
    assert (await merge.check(committed(tmp_path / "merge-t1-again", CLEAN))).cached
    assert seeds.published == 1
    next_task = {**CLEAN, "more.py": "from app import f\n\nX: int = f()\n"}
    assert (await task.check(committed(tmp_path / "t2-a1", next_task))).passed
    assert seeds.primed == 1
