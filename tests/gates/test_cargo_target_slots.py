"""Cargo's target folder per worker slot, through the real sandbox: a slot's next worktree
finds the dependencies its last one compiled, two slots build at once without waiting on each
other's lock, and an agent's ``cargo clean`` empties its own slot only."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import commit, make_repo

from engine.workspace import GitWorkspaces
from gates.bwrap import probe_bwrap
from gates.cache import GateCache, tree_key
from gates.command_gate import CommandGate
from gates.sandbox import ProcessSandbox

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")

BUILD_DIR_LOCK = re.compile(r"Blocking waiting for file lock on (?:artifact|build) directory")
"""What cargo says while another build holds its target folder (1.95 says "artifact"). The
package cache's lock (``on package cache``), cargo's home's, is not the slots': without the
jail every command's private home is the run's, and two builds take it by turns, briefly."""
SLOW_BUILD = "fn main() { std::thread::sleep(std::time::Duration::from_millis(1500)); }\n"
"""The dependency's build script: its 1.5 s say whether it ran again."""


def workspace_repo(tmp_path: Path) -> Path:
    """A cargo workspace of two path crates (``app`` uses ``util``) in a git repository, and
    a dependency with a slow build script beside the repository, where a dependency's sources
    stay put from one worktree to the next (as the registry's cache does)."""
    dep = tmp_path / "shared" / "slowdep"
    (dep / "src").mkdir(parents=True)
    (dep / "Cargo.toml").write_text(
        '[package]\nname = "slowdep"\nversion = "0.1.0"\nedition = "2021"\n', encoding="utf-8"
    )
    (dep / "build.rs").write_text(SLOW_BUILD, encoding="utf-8")
    (dep / "src" / "lib.rs").write_text("pub fn two() -> u32 { 2 }\n", encoding="utf-8")
    app = (
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
        f'util = {{ path = "../util" }}\nslowdep = {{ path = "{dep}" }}\n'
    )
    repo = make_repo(
        tmp_path / "repo",
        {
            ".gitignore": "/target\n",
            "Cargo.toml": '[workspace]\nmembers = ["app", "util"]\nresolver = "2"\n',
            "app/Cargo.toml": app,
            "app/src/lib.rs": "pub fn four() -> u32 { util::twice(slowdep::two()) }\n",
            "util/Cargo.toml": '[package]\nname = "util"\nversion = "0.1.0"\nedition = "2021"\n',
            "util/src/lib.rs": "pub fn twice(x: u32) -> u32 { x * 2 }\n",
        },
    )
    # The lock file, as a crate keeps it: no resolution, no lock on cargo's package cache.
    subprocess.run(["cargo", "generate-lockfile", "--offline"], cwd=repo, check=True)
    commit(repo, {"Cargo.lock": (repo / "Cargo.lock").read_text(encoding="utf-8")}, "lock")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return workspace_repo(tmp_path)


@pytest.fixture
async def ws(repo: Path, tmp_path: Path) -> GitWorkspaces:
    workspaces = GitWorkspaces(repo, "run1", tmp_path / "worktrees")
    await workspaces.start()
    return workspaces


@pytest.fixture(params=["bwrap", "process"])
def sandbox(
    request: pytest.FixtureRequest, ws: GitWorkspaces, tmp_path: Path
) -> Iterator[ProcessSandbox]:
    """The run's sandbox, given the run's slots; the dependency beside the repository is
    lent read-only to the jail (it lies under the hidden /tmp)."""
    jailed = request.param == "bwrap"
    if jailed and not probe_bwrap().usable:
        pytest.skip(f"bubblewrap unusable: {probe_bwrap().reason}")
    made = ProcessSandbox(
        use_bwrap=jailed, build_dirs=ws.build_dirs, extra_readable=[tmp_path / "shared"]
    )
    assert made.kind == request.param
    yield made
    made.close()


async def test_a_slots_second_worktree_finds_the_dependency_fresh(
    ws: GitWorkspaces, sandbox: ProcessSandbox
) -> None:
    """The same gate in the slot's next attempt: the dependency is not built again (its
    build script's 1.5 s were spent once), where each worktree's own ``target/`` built it
    from scratch."""
    gate = CommandGate(sandbox, name="cargo-build", argv=["cargo", "build", "-v"])
    first = await ws.add_worktree("t1-a1", ws.integration_tip())
    built = await gate.check(first)
    assert built.passed, built.output_tail
    assert built.duration_s > 1.5  # the build script ran
    assert not (first / "target").exists()  # the build went to the slot's folder
    await ws.remove_worktree(first)

    second = await ws.add_worktree("t1-a2", ws.integration_tip())
    assert ws.build_dirs.slot_of(second) == ws.build_dirs.root / "0"
    again = await gate.check(second)
    assert again.passed, again.output_tail
    assert "Fresh slowdep" in again.output_tail
    assert "Compiling slowdep" not in again.output_tail
    assert again.duration_s < built.duration_s


async def test_two_slots_build_at_once_without_waiting_on_a_lock(
    ws: GitWorkspaces, sandbox: ProcessSandbox
) -> None:
    tip = ws.integration_tip()
    one, two = await ws.add_worktree("t1-a1", tip), await ws.add_worktree("t2-a1", tip)
    assert ws.build_dirs.slot_of(one) != ws.build_dirs.slot_of(two)
    results = await asyncio.gather(
        *(sandbox.run(["cargo", "build", "-v"], wt, timeout_s=300) for wt in (one, two))
    )
    for result in results:
        assert result.returncode == 0, result.output
        assert "Compiling slowdep" in result.output
        assert not BUILD_DIR_LOCK.search(result.output), result.output
    # Both ran their 1.5 s build script beside each other, not one after the other.
    assert max(r.duration_s for r in results) < sum(r.duration_s for r in results) - 1.0


async def test_cargo_clean_in_a_worktree_empties_its_own_slot_only(
    ws: GitWorkspaces, sandbox: ProcessSandbox
) -> None:
    tip = ws.integration_tip()
    one, two = await ws.add_worktree("t1-a1", tip), await ws.add_worktree("t2-a1", tip)
    for wt in (one, two):
        assert (await sandbox.run(["cargo", "build"], wt, timeout_s=300)).returncode == 0
    cleaned = await sandbox.run(["cargo", "clean"], one, timeout_s=60)
    assert cleaned.returncode == 0, cleaned.output
    own, other = ws.build_dirs.slot_of(one), ws.build_dirs.slot_of(two)
    assert own is not None and other is not None
    assert own.is_dir() and not (own / "target").exists()
    assert (other / "target" / "debug").is_dir()


async def test_the_gate_cache_key_ignores_the_slot_and_the_build(
    ws: GitWorkspaces, sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """The engineer's ``cargo test`` ran before the gates: its build was in the worktree's
    ``target/``, which the tree's key read (an ignored folder), and no two attempts of the
    same tree had the same key. Now a second attempt, in another slot, reuses the verdict."""
    cache = GateCache(tmp_path / "gate-cache")
    gate = cache.wrap(CommandGate(sandbox, name="cargo-build", argv=["cargo", "build"]))
    tip = ws.integration_tip()
    one, two = await ws.add_worktree("t1-a1", tip), await ws.add_worktree("t1-a2", tip)
    for wt in (one, two):  # the engineer's own run first
        assert (await sandbox.run(["cargo", "build"], wt, timeout_s=300)).returncode == 0
    assert tree_key(one) == tree_key(two)
    assert (await gate.check(one)).passed
    reused = await gate.check(two)
    assert reused.passed and reused.cached
