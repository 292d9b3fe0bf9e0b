"""The shrinkage gate on real git histories, the gate cache on real trees, and the profiles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import commit

from engine.gate_runner import run_gates
from engine.protocols import CommandResult, GateResult
from gates.cache import GateCache, gate_code, source_digest, tree_key
from gates.command_gate import CommandGate
from gates.config import GatesConfig
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate
from gates.tool_gate import Parsed, ToolGate, extract_json

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def lines(n: int, word: str = "line") -> str:
    return "".join(f"{word} {i}\n" for i in range(n))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"app.py": lines(100), "util.py": lines(40), "README.md": "# r\n"}, "base")
    return path


async def test_a_large_deletion_is_refused_with_the_numbers(
    process_sandbox: ProcessSandbox, repo: Path
) -> None:
    commit(repo, {"app.py": lines(20), "util.py": None})
    result = await ShrinkageGate(process_sandbox).check(repo)
    assert not result.passed
    assert result.counts == {"deleted": 120, "touched_lines": 140, "files": 2}
    assert result.summary == (
        "refused: deletes 120 of the 140 lines (86%) in the 2 file(s) it touches (limit 50%)"
    )
    per_file = {(f.file, f.message) for f in result.findings[1:]}
    assert per_file == {
        ("app.py", "80 of 100 lines deleted"),
        ("util.py", "40 of 40 lines deleted (file removed)"),
    }


async def test_edits_renames_and_small_deletions_pass(
    process_sandbox: ProcessSandbox, repo: Path
) -> None:
    gate = ShrinkageGate(process_sandbox)
    commit(repo, {"app.py": lines(100).replace("line 5\n", "LINE five\n") + lines(10, "more")})
    assert (await gate.check(repo)).passed
    git(repo, "mv", "util.py", "helpers.py")
    git(repo, "commit", "-q", "-m", "rename")
    renamed = await gate.check(repo)
    assert renamed.passed, renamed.summary
    assert renamed.counts["deleted"] == 0
    commit(repo, {"README.md": None})  # 1 line of 1: 100%, but tiny
    tiny = await gate.check(repo)
    assert tiny.passed and tiny.counts["deleted"] == 1


async def test_an_explicit_base_and_a_root_commit(
    process_sandbox: ProcessSandbox, repo: Path
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"app.py": lines(70)})
    commit(repo, {"app.py": lines(40)})
    assert (await ShrinkageGate(process_sandbox).check(repo)).passed  # 30 of 70: 43%
    whole = await ShrinkageGate(process_sandbox, base=base).check(repo)
    assert not whole.passed and whole.counts["deleted"] == 60
    fresh = repo.parent / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    commit(fresh, {"a.py": "x = 1\n"})
    first = await ShrinkageGate(process_sandbox).check(fresh)
    assert first.passed and first.summary == "no base commit 'HEAD~1' to compare with"
    with pytest.raises(ValueError, match="max_share must be in"):
        ShrinkageGate(process_sandbox, max_share=1.5)


class CountingGate:
    """A gate that counts its runs and passes when the marker file is absent."""

    def __init__(self, name: str = "count", flavour: str = "a") -> None:
        self.name = name
        self.flavour = flavour
        self.runs = 0

    async def check(self, workspace: Path) -> GateResult:
        self.runs += 1
        bad = (workspace / "bad.txt").exists()
        return GateResult(gate=self.name, passed=not bad, summary="ran", duration_s=1.5)


async def test_an_unchanged_tree_is_a_hit(repo: Path, tmp_path: Path) -> None:
    cache = GateCache(tmp_path / "cache")
    inner = CountingGate()
    gate = cache.wrap(inner)
    first = await gate.check(repo)
    again = await gate.check(repo)
    assert inner.runs == 1
    assert (first.cached, again.cached) == (False, True)
    assert again.duration_s == 0.0 and again.summary == "ran"
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.hit_rate == 0.5

    (repo / "bad.txt").write_text("x")  # an untracked file changes the key
    dirty = await gate.check(repo)
    assert not dirty.passed and not dirty.cached and inner.runs == 2
    (repo / "bad.txt").write_text("y")  # so does its content
    await gate.check(repo)
    assert inner.runs == 3
    (repo / "bad.txt").unlink()
    back = await gate.check(repo)
    assert back.cached and back.passed and inner.runs == 3

    other_config = cache.wrap(CountingGate(flavour="b"))
    await other_config.check(repo)
    assert cache.misses == 4, "a different configuration is a different key"

    later = GateCache(tmp_path / "cache")  # a later process, same directory
    reused = CountingGate()
    assert (await later.wrap(reused).check(repo)).cached and reused.runs == 0


async def test_tool_caches_do_not_change_the_key_and_non_git_bypasses(
    repo: Path, tmp_path: Path
) -> None:
    key = tree_key(repo)
    (repo / ".mypy_cache").mkdir()
    (repo / ".mypy_cache" / "x.json").write_text("{}")
    (repo / "__pycache__").mkdir()
    (repo / "__pycache__" / "m.pyc").write_bytes(b"\0")
    assert tree_key(repo) == key
    (repo / "app.py").write_text("changed\n")
    assert tree_key(repo) != key
    cache = GateCache()
    plain = tmp_path / "plain"
    plain.mkdir()
    inner = CountingGate()
    await cache.wrap(inner).check(plain)
    await cache.wrap(inner).check(plain)
    assert inner.runs == 2 and cache.bypassed == 2 and cache.hits == 0


async def test_time_outs_are_not_cached_and_shrinkage_stays_a_revision_gate(
    process_sandbox: ProcessSandbox, repo: Path
) -> None:
    cache = GateCache()
    process_sandbox.kill_grace_s = 0.2
    slow = cache.wrap(CommandGate(process_sandbox, name="s", argv=["sleep", "5"], timeout_s=0.3))
    await slow.check(repo)
    assert not (await slow.check(repo)).cached
    # Cached by its revision (tests/gates/test_revision_cache.py), still a gate about a
    # commit: baselines and audits leave it out.
    assert getattr(cache.wrap(ShrinkageGate(process_sandbox)), "judges_revision", False)


class GarbledTool(ToolGate):
    """A tool that prints something other than the JSON it promises."""

    tool = "garbled"

    def argv(self, workspace: Path) -> list[str]:
        return ["echo", "[ cut short"]

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        extract_json(result.output)
        return Parsed()


async def test_an_unreadable_tool_output_is_not_cached(
    process_sandbox: ProcessSandbox, repo: Path
) -> None:
    # rich's ruff report, cut at the output cap, was stored as "cannot read ruff's output":
    # every later audit of the same tree repeated that failure without running ruff again.
    cache = GateCache()
    garbled = cache.wrap(GarbledTool(process_sandbox, name="g"))
    first = await garbled.check(repo)
    assert first.summary.startswith("cannot read garbled's output")
    assert not (await garbled.check(repo)).cached


def test_python_profile_and_config(process_sandbox: ProcessSandbox, repo: Path) -> None:
    (repo / "pyproject.toml").write_text("[project]\nname = 'r'\n")
    config = GatesConfig.from_mapping(
        {
            "disable": ["dead-code"],
            "custom": [{"name": "docs", "argv": ["make", "docs"], "scopes": ["verify"]}],
        }
    )
    gates = build_gates(repo, config, process_sandbox, cache=GateCache())
    assert gates.profiles == ["python", "custom"]
    assert gates.names() == {
        "task": ["lint", "tests", "security", "secrets", "shrinkage"],
        "merge": ["lint", "tests", "shrinkage"],
        "verify": ["tests", "security", "secrets", "docs"],
    }
    (repo / "mypy.ini").write_text("[mypy]\nfiles = app.py\n")
    (repo / "package.json").write_text('{"scripts": {"test": "node t.js"}}')
    more = build_gates(repo, GatesConfig(), process_sandbox)
    assert more.profiles == ["python", "node"]
    assert "types" in more.names()["task"] and "node-test" in more.names()["merge"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"colour": 1}, "unknown key(s) ['colour']"),
        ({"enable": ["nope"]}, "enable: unknown gate 'nope'"),
        ({"disable": ["vulture"]}, "disable: unknown gate 'vulture'; built-in: ["),
        (
            {"disable": ["doc"], "custom": [{"name": "docs", "argv": ["make"]}]},
            "disable: unknown gate 'doc'; built-in: ['dead-code', ",
        ),
        ({"custom": [{"name": "x"}]}, "custom[0] (x): argv must be a non-empty list"),
        ({"custom": [{"name": "lint", "argv": ["x"]}]}, "gate name 'lint' is already taken"),
        ({"custom": [{"name": "x", "argv": ["x"], "scopes": ["ship"]}]}, "scopes must list"),
        ({"shrinkage_max_share": "half"}, "shrinkage_max_share must be a positive number"),
    ],
)
def test_bad_gates_config_is_one_line(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        GatesConfig.from_mapping(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_disable_takes_a_custom_gates_name() -> None:
    raw = {"disable": ["docs"], "custom": [{"name": "docs", "argv": ["make", "docs"]}]}
    assert GatesConfig.from_mapping(raw).disable == ("docs",)


def test_shopfloor_toml_gates_section(tmp_path: Path) -> None:
    from tui.config import ConfigError, load_settings

    path = tmp_path / "shopfloor.toml"
    path.write_text(
        '[gates]\ndisable = ["dead-code"]\nshrinkage_max_share = 0.3\n'
        '[[gates.custom]]\nname = "docs"\nargv = ["make", "docs"]\ntimeout_s = 60\n'
    )
    gates = load_settings(path).gates
    assert gates.disable == ("dead-code",) and gates.shrinkage_max_share == 0.3
    assert gates.custom[0].argv == ("make", "docs") and gates.custom[0].timeout_s == 60.0
    path.write_text('[gates]\nenable = ["typos"]\n')
    with pytest.raises(ConfigError, match=r"shopfloor.toml: \[gates\] enable: unknown gate"):
        load_settings(path)


def test_the_cache_key_runs_git_without_the_agents_fsmonitor_or_the_secrets(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache's ``git status`` in an agent's worktree ran a ``core.fsmonitor`` command an
    agent can set in a global config it may write, with the model keys in its environment."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-" + "k3y" * 10)
    ran = tmp_path / "fsmonitor-ran"
    home = tmp_path / "home"
    home.mkdir()
    hook = home / "monitor.sh"
    hook.write_text(f"#!/bin/sh\nenv >> {ran}\n")
    hook.chmod(0o755)
    (home / ".gitconfig").write_text(f"[core]\n\tfsmonitor = {hook}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (repo / "new.py").write_text("X = 1\n")

    assert tree_key(repo) is not None
    assert not ran.exists()


class NamedGate:
    """A read-only gate that passes; only its name tells it from the others."""

    reads_only = True

    def __init__(self, name: str) -> None:
        self.name = name

    async def check(self, workspace: Path) -> GateResult:
        return GateResult(gate=self.name, passed=True, summary="ok")


def tree_readings(trace: Path) -> int:
    """How many ``git rev-parse HEAD^{tree}`` a GIT_TRACE2_EVENT file records."""
    if not trace.exists():
        return 0
    return sum(
        1
        for line in trace.read_text().splitlines()
        if '"event":"start"' in line and '"HEAD^{tree}"' in line
    )


async def test_gates_started_together_read_the_tree_once(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-only gates of a list start together; each read the tree's key with two git
    processes of its own (ten for a task's five cached gates) where one reading serves all."""
    trace = tmp_path / "trace2"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    cache = GateCache()
    gates = cache.wrap_all([NamedGate(n) for n in ("lint", "security", "secrets", "dead-code")])
    results = await run_gates(gates, repo, scope="task", emit=lambda event: None)
    assert [r.cached for r in results] == [False] * 4
    assert tree_readings(trace) == 1
    again = await run_gates(gates, repo, scope="merge", emit=lambda event: None)
    assert [r.cached for r in again] == [True] * 4
    assert tree_readings(trace) == 2, "a later run reads the tree afresh"
    (repo / "app.py").write_text("changed\n")
    changed = await run_gates(gates, repo, scope="merge", emit=lambda event: None)
    assert [r.cached for r in changed] == [False] * 4, "a finished reading is never reused"


CHECK_ONCE = """
import asyncio, sys
from pathlib import Path
from engine.protocols import GateResult
from gates.cache import GateCache

class Gate:
    name = "g"
    async def check(self, workspace):
        return GateResult(gate="g", passed=True, summary="ran")

result = asyncio.run(GateCache(Path(sys.argv[1])).wrap(Gate()).check(Path(sys.argv[2])))
print("cached" if result.cached else "ran")
"""


def test_a_change_to_the_gates_code_is_a_miss_though_the_version_is_the_same(
    repo: Path, tmp_path: Path
) -> None:
    """The key held shopfloor's version, which an editable install keeps while its gates
    change: a verdict the old code reached was reused by the new one."""
    source = tmp_path / "source"
    for package in ("engine", "gates"):
        shutil.copytree(
            Path(__file__).parents[2] / package,
            source / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )

    def check() -> str:
        done = subprocess.run(
            [sys.executable, "-c", CHECK_ONCE, str(tmp_path / "cache"), str(repo)],
            env={**os.environ, "PYTHONPATH": str(source)},
            cwd=tmp_path,  # not the checkout's own packages, which python -c finds first
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert (check(), check()) == ("ran", "cached")
    with (source / "engine" / "dag.py").open("a") as module:  # no gate imports it
        module.write("# a change elsewhere\n")
    assert check() == "cached"
    with (source / "engine" / "build.py").open("a") as module:  # the shrinkage gate's trailers
        module.write("# a helper the gates call\n")
    assert check() == "ran"
    with (source / "gates" / "shrinkage.py").open("a") as module:
        module.write("# a gate's own code\n")
    assert (check(), check()) == ("ran", "cached")


def test_the_gates_code_digest_names_its_files(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    assert source_digest(root / "gates", root / "engine") == gate_code()
    assert gate_code() == source_digest(root / "gates", root / "engine")  # read once
